// XML: each element at --record-path (e.g. rss.channel.item; default: every child of the root)
// is one record. Our own streaming tokenizer: the text is parsed as it arrives and only the
// record being built is held, so a multi-GB document reads in flat memory (a whole-document
// parser measured 930 MB peak RSS on 49 MB, STACK.md). Safety: a DOCTYPE that declares
// entities is refused, so nothing expands and no external entity is ever fetched or read.
import { DataError } from '../lib/errors.js';
import type { Rec } from '../lib/records.js';
import type { NamedInput } from '../lib/io.js';
import { decodeText, ENCODINGS, parseEncoding, type Encoding } from '../lib/text.js';
import { RecordCollector } from './chunked.js';
import type { ReadBatch, ReadContext, ReadOptions, Reader } from './index.js';

export const xmlReader: Reader = (input, opts, ctx) => readXml(input, opts, new XmlRecordParser(input.name, opts, ctx));

/** readParsed, with the document's own encoding: its BOM or its declaration (XML 1.0 Appendix F). */
async function* readXml(input: NamedInput, opts: ReadOptions, p: XmlRecordParser): AsyncGenerator<ReadBatch> {
  const it = input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const held: Buffer[] = [];
  let size = 0;
  let done = false;
  // Enough of the start for a BOM and the declaration (which ends at the first "?>", or ">").
  while (size < 512 && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else {
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      held.push(b);
      size += b.length;
      if (Buffer.concat(held).includes('>')) break;
    }
  }
  const head = Buffer.concat(held);
  const encoding = sniffEncoding(head, input.name, opts.encoding);
  async function* bytes(): AsyncGenerator<Buffer | string> {
    if (head.length > 0) yield head;
    if (done) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  const text = encoding === 'utf16be' ? decodeUtf16be(bytes(), input.name) : decodeText(bytes(), input.name, encoding);
  for await (const chunk of text) {
    p.feed(chunk);
    if (p.records.length > 0) yield p.take();
  }
  p.end();
  if (p.records.length > 0) yield p.take();
}

type XmlEncoding = Encoding | 'utf16be';

/**
 * The document's encoding: a UTF-16 BOM, UTF-16 without one ("<?" as two-byte units), a UTF-8
 * BOM, else the encoding="…" of the XML declaration, else `fallback` (--encoding, UTF-8 by
 * default). A declared encoding bx cannot read, or one the bytes contradict, is an error.
 */
function sniffEncoding(b: Buffer, name: string, fallback: Encoding): XmlEncoding {
  const at1 = (msg: string) => new DataError({ file: name, line: 1 }, undefined, msg);
  if (b[0] === 0xfe && b[1] === 0xff) return 'utf16be';
  if (b[0] === 0xff && b[1] === 0xfe) return 'utf16le';
  if (b[0] === 0x00 && b[1] === 0x3c && b[2] === 0x00 && b[3] === 0x3f) return 'utf16be';
  if (b[0] === 0x3c && b[1] === 0x00 && b[2] === 0x3f && b[3] === 0x00) return 'utf16le';
  const bom = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
  const start = bom ? 3 : 0;
  const m = /^<\?xml\s[^>]*?\bencoding\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(
    b.toString('latin1', start, Math.min(b.length, start + 512)),
  );
  if (!m) return bom ? 'utf8' : fallback;
  const declared = (m[1] ?? m[2]).toLowerCase();
  if (!/^[a-z][a-z0-9._-]*$/.test(declared))
    throw at1(`the XML declaration's encoding "${m[1] ?? m[2]}" is not an encoding name`);
  if (declared === 'utf-16' || declared === 'utf-16le' || declared === 'utf-16be')
    throw at1(`the XML declaration says ${m[1] ?? m[2]}, but the document is not in UTF-16`);
  if (declared === 'utf-8' || declared === 'utf8' || declared === 'us-ascii' || declared === 'ascii') return 'utf8';
  if (bom) throw at1(`the XML declaration says ${m[1] ?? m[2]}, but the document starts with a UTF-8 byte order mark`);
  const enc = parseEncoding(declared);
  if (!enc || enc === 'utf16le')
    throw at1(
      `the XML declaration's encoding "${m[1] ?? m[2]}" is not one bx reads (${ENCODINGS.filter((e) => e !== 'utf16le').join(', ')}, utf-16)`,
    );
  return enc;
}

/** UTF-16BE text, strict: a lone surrogate or an odd last byte is a data error. */
async function* decodeUtf16be(input: AsyncIterable<Buffer | string>, name: string): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-16be', { fatal: true });
  let lines = 0;
  for await (const piece of input) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf16le').swap16() : piece;
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new DataError({ file: name, line: lines + 1 }, undefined, 'invalid UTF-16BE (a lone surrogate)');
    }
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    if (text) yield text;
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch {
    throw new DataError(
      { file: name, line: lines + 1 },
      undefined,
      'invalid UTF-16BE: the input ends inside a character',
    );
  }
  if (rest) yield rest;
}

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
// Rescan an incomplete token only after the buffer has doubled: linear time on a huge CDATA.
const RESCAN_AFTER = 64 * 1024;
const NAME = /[A-Za-z_:\u00C0-\uFFFF][\w.:\u00B7-\uFFFF-]*/y;
// XML white space is only space, tab, CR and LF (not \s: a form feed is no white space).
const ATTR = /[ \t\r\n]+([A-Za-z_:\u00C0-\uFFFF][\w.:\u00B7-\uFFFF-]*)[ \t\r\n]*=[ \t\r\n]*(?:"([^"<]*)"|'([^'<]*)')/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

type Obj = Record<string, unknown>;
const newObj = (): Obj => Object.create(null) as Obj;

/** An element of the record being built. */
interface Frame {
  name: string;
  obj: Obj | undefined;
  text: string[] | undefined;
  children: boolean;
  nil: boolean;
}

export class XmlRecordParser extends RecordCollector {
  private buf = '';
  private pos = 0;
  /** Absolute offset of buf[0], for the record size limit. */
  private base = 0;
  private waitFor = 0;
  // Line numbers are counted lazily, only up to where one is needed.
  private countedPos = 0;
  private countedLine = 1;
  private readonly stack: string[] = [];
  private readonly path: string[] | undefined;
  private readonly depth: number;
  /** How many leading segments of the record path the open elements match. */
  private matched = 0;
  private frames: Frame[] = [];
  private recordStart = 0;
  private recordLine = 0;
  private rootSeen = false;
  private anyRecord = false;
  private readonly prefixes = new Map<string, string>();

  constructor(
    name: string,
    private readonly opts: ReadOptions,
    private readonly ctx: ReadContext,
  ) {
    super(name);
    this.path = opts.recordPath;
    this.depth = this.path ? this.path.length : 2;
  }

  feed(chunk: string) {
    // Count the lines of the text about to be dropped, so later line numbers stay right.
    if (this.pos > this.countedPos) this.lineAt(this.pos);
    this.buf = this.pos < this.buf.length ? this.buf.slice(this.pos) + chunk : chunk;
    this.base += this.pos;
    this.countedPos -= this.pos;
    this.pos = 0;
    if (this.buf.length < this.waitFor) return;
    this.parse(false);
  }

  end() {
    this.parse(true);
    if (this.stack.length > 0)
      throw this.error(this.buf.length, `the document ends inside <${this.stack[this.stack.length - 1]}>`);
    if (!this.rootSeen) throw this.error(this.buf.length, 'no XML element in the input');
    if (!this.anyRecord && this.path)
      this.ctx.log.warn(`${this.name}: no element at --record-path ${this.path.join('.')}`);
  }

  private lineAt(pos: number): number {
    const b = this.buf;
    let line = this.countedLine;
    for (let i = b.indexOf('\n', this.countedPos); i !== -1 && i < pos; i = b.indexOf('\n', i + 1)) line++;
    this.countedPos = pos;
    this.countedLine = line;
    return line;
  }

  private error(pos: number, detail: string): DataError {
    // Quoted document text may hold line breaks; the message stays one line.
    const oneLine = detail
      .replace(/\r\n?|\n/g, '\\n')
      .replace(/[\x00-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    return new DataError({ file: this.name, line: this.lineAt(Math.max(pos, this.countedPos)) }, undefined, oneLine);
  }

  private parse(final: boolean) {
    const b = this.buf;
    const n = b.length;
    let pos = this.pos;
    this.waitFor = 0;
    while (pos < n) {
      const lt = b.indexOf('<', pos);
      if (lt === -1) {
        // Text up to the end of the buffer; keep back a possibly cut entity reference.
        let cut = n;
        if (!final) {
          const amp = b.lastIndexOf('&');
          if (amp >= pos && b.indexOf(';', amp) === -1) cut = amp;
          // "]]" at the end may be the start of a "]]>" that is not allowed in text.
          while (cut > pos && cut > n - 2 && b.charCodeAt(cut - 1) === 93) cut--;
        }
        if (cut > pos) this.text(pos, cut);
        pos = cut;
        break;
      }
      if (lt > pos) this.text(pos, lt);
      pos = lt;
      const end = this.markup(pos, final);
      if (end < 0) break;
      pos = end;
    }
    this.pos = pos;
    const left = n - pos;
    if (left > this.opts.maxRecordSize)
      throw this.error(
        pos,
        `XML token longer than ${this.opts.maxRecordSize} characters (the --max-record-size limit)`,
      );
    if (this.frames.length > 0 && this.base + pos - this.recordStart > this.opts.maxRecordSize) {
      throw new DataError(
        { file: this.name, line: this.recordLine },
        undefined,
        `record longer than ${this.opts.maxRecordSize} characters (the --max-record-size limit)`,
      );
    }
    if (!final && left > RESCAN_AFTER) this.waitFor = left * 2;
    if (final && pos < n) throw this.error(pos, 'the document ends inside markup');
  }

  /** Handles the markup at `pos` (a '<'); returns the index after it, or -1 if it is incomplete. */
  private markup(pos: number, final: boolean): number {
    const b = this.buf;
    if (b.length - pos < 12 && !final && b.indexOf('>', pos) === -1) return -1;
    const c = b.charCodeAt(pos + 1);
    if (c === 47) {
      // </name>
      const gt = b.indexOf('>', pos);
      if (gt === -1) return -1;
      const name = b.slice(pos + 2, gt).replace(/[ \t\r\n]+$/, '');
      this.close(name, pos);
      return gt + 1;
    }
    if (c === 33) {
      if (b.startsWith('<!--', pos)) {
        const e = b.indexOf('-->', pos + 4);
        if (e === -1) {
          if (b.indexOf('--', pos + 4) !== -1 && b.indexOf('--', pos + 4) < b.length - 2)
            throw this.error(pos, '"--" inside a comment');
          return -1;
        }
        this.comment(pos, e);
        return e + 3;
      }
      if (b.startsWith('<![CDATA[', pos)) {
        const e = b.indexOf(']]>', pos + 9);
        if (e === -1) return -1;
        this.prologDone = true;
        this.checkChars(b.slice(pos + 9, e), pos, 'CDATA');
        if (this.frames.length > 0) this.addText(normalizeEol(b.slice(pos + 9, e)));
        else if (this.stack.length === 0) throw this.error(pos, 'CDATA outside the root element');
        return e + 3;
      }
      if (b.startsWith('<!DOCTYPE', pos)) {
        if (this.rootSeen || this.doctypeSeen)
          throw this.error(pos, this.rootSeen ? 'a DOCTYPE after the root element' : 'a second DOCTYPE');
        return this.doctype(pos);
      }
      throw this.error(pos, `unexpected markup "${b.slice(pos, pos + 12)}"`);
    }
    if (c === 63) {
      const e = b.indexOf('?>', pos + 2);
      if (e === -1) return -1;
      this.pi(pos, e);
      return e + 2;
    }
    return this.startTag(pos);
  }

  /** Whether anything but the XML declaration came before: a later `<?xml` is an error. */
  private prologDone = false;
  private doctypeSeen = false;

  private comment(pos: number, e: number) {
    const body = this.buf.slice(pos + 4, e);
    if (body.includes('--') || body.endsWith('-')) throw this.error(pos, '"--" inside a comment');
    this.checkChars(body, pos, 'comment');
    this.prologDone = true;
  }

  /** A processing instruction from `pos` to the "?>" at `e`; the XML declaration only first. */
  private pi(pos: number, e: number) {
    const b = this.buf;
    NAME.lastIndex = pos + 2;
    const m = NAME.exec(b);
    if (!m || NAME.lastIndex > e) throw this.error(pos, 'a processing instruction without a target name');
    const target = m[0];
    const after = b.charCodeAt(NAME.lastIndex);
    if (NAME.lastIndex < e && after !== 32 && after !== 9 && after !== 10 && after !== 13)
      throw this.error(pos, `a processing instruction's target "${target}" runs into its data`);
    const body = b.slice(NAME.lastIndex, e);
    this.checkChars(body, pos, 'processing instruction');
    if (target.toLowerCase() === 'xml') {
      if (target !== 'xml' || this.prologDone || this.base + pos !== 0)
        throw this.error(
          pos,
          target === 'xml'
            ? 'the XML declaration must come first, at the very start'
            : `"${target}" is a reserved processing instruction target`,
        );
      if (!XML_DECL.test(b.slice(pos, e + 2)))
        throw this.error(
          pos,
          `malformed XML declaration "${b.slice(pos, Math.min(e + 2, pos + 80))}" (version="1.0" first, then encoding, then standalone="yes|no")`,
        );
    }
    this.prologDone = true;
  }

  private doctype(pos: number): number {
    const b = this.buf;
    const i = this.closingGt(pos + 9, true);
    if (i < 0) return -1;
    const decl = b.slice(pos, i + 1);
    if (/<!ENTITY/i.test(decl)) {
      throw this.error(
        pos,
        'the DOCTYPE declares entities; bx reads no DTD entities (no expansion, no external files)',
      );
    }
    const problem = doctypeProblem(decl);
    if (problem) throw this.error(pos, `malformed DOCTYPE: ${problem}`);
    this.doctypeSeen = true;
    this.prologDone = true;
    // A DOCTYPE naming an external DTD is ignored: nothing is fetched or read.
    return i + 1;
  }

  /**
   * The '>' that ends the markup started before `from`, outside quoted values (and, in a
   * DOCTYPE, outside its [internal subset]); -1 when the buffer ends first.
   */
  private closingGt(from: number, subset: boolean): number {
    const b = this.buf;
    let q = 0;
    let bracket = 0;
    for (let i = from; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (q) {
        if (c === q) q = 0;
      } else if (c === 34 || c === 39) q = c;
      else if (c === 62 && bracket <= 0) return i;
      else if (subset && (c === 91 || c === 93)) bracket += c === 91 ? 1 : -1;
      else if (!subset && c === 60) throw this.error(from, `"<" inside a tag`);
    }
    return -1;
  }

  private startTag(pos: number): number {
    const b = this.buf;
    const i = this.closingGt(pos + 1, false);
    if (i < 0) return -1;
    const gt = i;
    const selfClosing = b.charCodeAt(gt - 1) === 47;
    const stop = selfClosing ? gt - 1 : gt;
    NAME.lastIndex = pos + 1;
    const m = NAME.exec(b);
    if (!m || NAME.lastIndex > stop)
      throw this.error(pos, `not a valid tag "${b.slice(pos, Math.min(gt + 1, pos + 40))}"`);
    const qname = m[0];
    let attrs: [string, string][] | undefined;
    let at = NAME.lastIndex;
    for (;;) {
      ATTR.lastIndex = at;
      const a = ATTR.exec(b);
      if (!a || ATTR.lastIndex > stop) break;
      (attrs ??= []).push([a[1], a[2] ?? a[3]]);
      at = ATTR.lastIndex;
    }
    if (!/^[ \t\r\n]*$/.test(b.slice(at, stop)))
      throw this.error(pos, `malformed attribute in <${qname}>: "${b.slice(at, stop).trim().slice(0, 40)}"`);
    this.open(qname, attrs, pos);
    if (selfClosing) this.close(qname, pos);
    return gt + 1;
  }

  private local(qname: string): string {
    if (!this.opts.stripNs) return qname;
    const c = qname.indexOf(':');
    return c === -1 ? qname : qname.slice(c + 1);
  }

  private open(qname: string, attrs: [string, string][] | undefined, pos: number) {
    const stack = this.stack;
    if (stack.length === 0) {
      if (this.rootSeen) throw this.error(pos, `a second root element <${qname}>`);
      this.rootSeen = true;
    }
    if (stack.length >= this.opts.maxDepth)
      throw this.error(pos, `XML nested deeper than ${this.opts.maxDepth} levels (the --max-depth limit)`);
    if (attrs) {
      for (const [k, v] of attrs) if (k.startsWith('xmlns:')) this.prefixes.set(k.slice(6), v);
    }
    this.prologDone = true;
    // Attributes are checked on every element, inside a record or not: a document that is not
    // well-formed is refused wherever the fault is.
    let values: string[] | undefined;
    if (attrs) {
      values = [];
      const seen = new Set<string>();
      for (const [k, raw] of attrs) {
        if (seen.has(k)) throw this.error(pos, `attribute "${k}" repeats in <${qname}>`);
        seen.add(k);
        this.checkChars(raw, pos, `attribute ${k}`);
        values.push(this.decode(raw, pos));
      }
    }
    stack.push(qname);
    const d = stack.length;
    const name = this.local(qname);
    if (this.matched === d - 1 && d <= this.depth && (!this.path || this.path[d - 1] === name)) this.matched = d;
    if (this.frames.length === 0) {
      if (d !== this.depth || this.matched !== d) return;
      this.recordStart = this.base + pos;
      this.recordLine = this.lineAt(pos);
      this.anyRecord = true;
    }
    const f: Frame = { name, obj: undefined, text: undefined, children: false, nil: false };
    if (attrs) {
      for (let j = 0; j < attrs.length; j++) {
        const k = attrs[j][0];
        const v = values![j];
        if (this.isNil(k, v)) {
          f.nil = true;
          continue;
        }
        if (this.opts.stripNs && (k === 'xmlns' || k.startsWith('xmlns:'))) continue;
        (f.obj ??= newObj())['@' + this.local(k)] = v;
      }
    }
    this.frames.push(f);
  }

  private isNil(k: string, v: string): boolean {
    if (v !== 'true' || !k.endsWith(':nil')) return false;
    const prefix = k.slice(0, -4);
    return prefix === 'xsi' || this.prefixes.get(prefix) === XSI;
  }

  private close(qname: string, pos: number) {
    const stack = this.stack;
    const open = stack[stack.length - 1];
    if (open !== qname) {
      throw this.error(
        pos,
        open === undefined
          ? `closing tag </${qname}> without an open element`
          : `mismatched closing tag </${qname}>; expected </${open}>`,
      );
    }
    if (this.matched === stack.length) this.matched--;
    stack.pop();
    const frames = this.frames;
    if (frames.length === 0) return;
    const f = frames.pop()!;
    if (frames.length === 0) {
      this.records.push(finishRecord(f) as Rec);
      this.lines.push(this.recordLine);
      return;
    }
    const parent = frames[frames.length - 1];
    const obj = (parent.obj ??= newObj());
    parent.children = true;
    const v = finish(f);
    if (!(f.name in obj)) obj[f.name] = v;
    else {
      const prev = obj[f.name];
      if (Array.isArray(prev)) prev.push(v);
      else obj[f.name] = [prev, v];
    }
  }

  private text(from: number, to: number) {
    this.prologDone = true;
    if (this.stack.length > 0) {
      const raw = this.buf.slice(from, to);
      this.checkChars(raw, from, 'text');
      const gt = raw.indexOf(']]>');
      if (gt !== -1) throw this.error(from + gt, '"]]>" in text (write ]]&gt;)');
      // Outside a record the text is dropped, but it must still be well-formed: decoded and let go.
      const t = this.decode(normalizeEol(raw), from);
      if (this.frames.length > 0) this.addText(t);
      return;
    }
    {
      for (let i = from; i < to; i++) {
        const c = this.buf.charCodeAt(i);
        if (c !== 32 && c !== 10 && c !== 13 && c !== 9 && c !== 0xfeff)
          throw this.error(i, 'text outside the root element');
      }
    }
  }

  private checkChars(s: string, pos: number, where: string) {
    const m = NOT_XML_CHAR.exec(s);
    if (m)
      throw this.error(
        pos + m.index,
        `character U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML (${where})`,
      );
  }

  private addText(t: string) {
    const f = this.frames[this.frames.length - 1];
    (f.text ??= []).push(t);
  }

  /** Decodes the five predefined entities and character references; any other is an error. */
  private decode(s: string, pos: number): string {
    let amp = s.indexOf('&');
    if (amp === -1) return s;
    let out = '';
    let from = 0;
    while (amp !== -1) {
      const semi = s.indexOf(';', amp);
      const ref = semi === -1 ? '' : s.slice(amp + 1, semi);
      let ch: string | undefined;
      // Leading zeros are allowed (&#x0000041; is "A"): digits are read past them.
      if (ref.startsWith('#x') && /^#x0*[0-9a-fA-F]{1,6}$/.test(ref)) ch = codePoint(parseInt(ref.slice(2), 16));
      else if (ref.startsWith('#') && /^#0*[0-9]{1,7}$/.test(ref)) ch = codePoint(parseInt(ref.slice(1), 10));
      else ch = PREDEFINED[ref];
      if (ch === undefined) {
        const what =
          semi === -1 || semi - amp > 40 || !/^(#|[A-Za-z_:\u00C0-\uFFFF])/.test(ref)
            ? `a bare "&" (write it as &amp;)`
            : ref.startsWith('#')
              ? `"&${ref};" is not a reference to an XML character`
              : `undefined entity "&${ref};" (bx reads no DTD entities)`;
        throw this.error(pos, what);
      }
      out += s.slice(from, amp) + ch;
      from = semi + 1;
      amp = s.indexOf('&', from);
    }
    return out + s.slice(from);
  }
}

/** A character reference's character, if it is an XML Char (XML 1.0 §2.2): not &#5; nor &#xFFFE;. */
function codePoint(cp: number): string | undefined {
  const ok =
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff);
  return ok ? String.fromCodePoint(cp) : undefined;
}

// Characters XML 1.0 does not allow anywhere in a document (lone surrogates cannot come out of
// the strict decoders).
const NOT_XML_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

// XML parsers see CRLF and a lone CR as LF (XML 1.0 §2.11).
function normalizeEol(s: string): string {
  return s.indexOf('\r') === -1 ? s : s.replace(/\r\n?/g, '\n');
}

/** A child's value: a string for a plain element, null for xsi:nil, else an object. */
function finish(f: Frame): unknown {
  if (f.nil) return null;
  const text = f.text ? (f.text.length === 1 ? f.text[0] : f.text.join('')) : '';
  if (!f.obj) return text;
  addText(f, f.obj, text);
  return f.obj;
}

/** A record is always an object: a record element with text only gets it as "#text". */
function finishRecord(f: Frame): Obj {
  const obj = f.obj ?? newObj();
  if (f.nil) return obj;
  addText(f, obj, f.text ? f.text.join('') : '');
  return obj;
}

function addText(f: Frame, obj: Obj, text: string) {
  // Between child elements, text is mostly indentation: kept only when it says something.
  if (f.children) {
    const t = text.trim();
    if (t !== '') obj['#text'] = t;
  } else if (text !== '') obj['#text'] = text;
}

// XMLDecl (XML 1.0 §2.8): version first, then encoding, then standalone, nothing else.
const XML_DECL =
  /^<\?xml\s+version\s*=\s*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:\s+encoding\s*=\s*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:\s+standalone\s*=\s*(?:"(?:yes|no)"|'(?:yes|no)'))?\s*\?>$/;

/**
 * What is wrong with a DOCTYPE declaration's syntax (XML 1.0 §2.8, §3.2, §3.3, §4.7), or
 * undefined. Only the syntax: bx validates nothing against the DTD and reads no external file.
 */
function doctypeProblem(decl: string): string | undefined {
  let i = 9; // after <!DOCTYPE
  const n = decl.length - 1; // the closing '>'
  const fail = (what: string) => {
    throw new Error(`${what} at "${decl.slice(i, i + 30).replace(/\s+/g, ' ')}"`);
  };
  const ws = (need: boolean) => {
    const from = i;
    while (i < n && /\s/.test(decl[i])) i++;
    if (need && i === from) fail('expected white space');
  };
  const name = (what = 'a name') => {
    NAME.lastIndex = i;
    const m = NAME.exec(decl);
    if (!m || m.index !== i) fail(`expected ${what}`);
    i = NAME.lastIndex;
    return m![0];
  };
  const nmtoken = () => {
    const m = /[\w.:\u00B7-\uFFFF-]+/y;
    m.lastIndex = i;
    if (!m.exec(decl)) fail('expected a name token');
    i = m.lastIndex;
  };
  const literal = (pubid: boolean) => {
    const q = decl[i];
    if (q !== '"' && q !== "'") fail('expected a quoted literal');
    const end = decl.indexOf(q, i + 1);
    if (end < 0 || end > n) fail('an unterminated literal');
    const body = decl.slice(i + 1, end);
    if (pubid && !/^[a-zA-Z0-9 \r\n\-'()+,./:=?;!*#@$_%]*$/.test(body))
      fail('a character not allowed in a public identifier');
    if (!pubid && body.includes('<') && false) fail('');
    i = end + 1;
    return body;
  };
  const word = (w: string) => {
    if (!decl.startsWith(w, i)) return false;
    i += w.length;
    return true;
  };
  const externalId = (publicOnlyOk: boolean) => {
    if (word('SYSTEM')) {
      ws(true);
      literal(false);
      return true;
    }
    if (word('PUBLIC')) {
      ws(true);
      literal(true);
      const save = i;
      ws(false);
      if (decl[i] === '"' || decl[i] === "'") {
        if (i === save) fail('expected white space');
        literal(false);
      } else if (!publicOnlyOk) fail('PUBLIC needs a system literal too');
      else i = save;
      return true;
    }
    return false;
  };
  const suffix = () => {
    if (decl[i] === '?' || decl[i] === '*' || decl[i] === '+') i++;
  };
  const cp = (): void => {
    if (decl[i] === '(') {
      group();
      suffix();
    } else {
      name();
      suffix();
    }
  };
  // choice or seq, at '('
  const group = () => {
    i++;
    ws(false);
    cp();
    ws(false);
    const sep = decl[i];
    if (sep === '|' || sep === ',') {
      while (decl[i] === sep) {
        i++;
        ws(false);
        cp();
        ws(false);
      }
    }
    if (decl[i] !== ')') fail('expected ")" or a separator');
    i++;
  };
  const contentspec = () => {
    if (word('EMPTY') || word('ANY')) return;
    if (decl[i] !== '(') fail('expected EMPTY, ANY or a content model');
    const save = i;
    i++;
    ws(false);
    if (word('#PCDATA')) {
      ws(false);
      if (decl[i] === ')') {
        i++;
        if (decl[i] === '*') i++;
        return;
      }
      while (decl[i] === '|') {
        i++;
        ws(false);
        name();
        ws(false);
      }
      if (!decl.startsWith(')*', i)) fail('mixed content must end with ")*"');
      i += 2;
      return;
    }
    i = save;
    group();
    suffix();
  };
  const attlist = () => {
    ws(true);
    name('an element name');
    for (;;) {
      const save = i;
      ws(false);
      if (decl[i] === '>') return;
      if (i === save) fail('expected white space');
      name('an attribute name');
      ws(true);
      if (['CDATA', 'IDREFS', 'IDREF', 'ID', 'ENTITIES', 'ENTITY', 'NMTOKENS', 'NMTOKEN'].some((t) => word(t))) {
        /* a plain type */
      } else if (word('NOTATION')) {
        ws(true);
        if (decl[i] !== '(') fail('expected "(" after NOTATION');
        i++;
        ws(false);
        name();
        ws(false);
        while (decl[i] === '|') {
          i++;
          ws(false);
          name();
          ws(false);
        }
        if (decl[i++] !== ')') fail('expected ")"');
      } else if (decl[i] === '(') {
        i++;
        ws(false);
        nmtoken();
        ws(false);
        while (decl[i] === '|') {
          i++;
          ws(false);
          nmtoken();
          ws(false);
        }
        if (decl[i++] !== ')') fail('expected ")"');
      } else fail('expected an attribute type');
      ws(true);
      if (word('#REQUIRED') || word('#IMPLIED')) continue;
      if (word('#FIXED')) ws(true);
      const v = literal(false);
      if (v.includes('<')) fail('"<" in a default attribute value');
      if (/&(?!(?:#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot|apos);)/.test(v))
        fail('a bare "&" or an undefined entity in a default attribute value');
    }
  };
  const markupEnd = () => {
    ws(false);
    if (decl[i] !== '>') fail('expected ">"');
    i++;
  };
  try {
    ws(true);
    name('the root element name');
    const save = i;
    ws(false);
    if (i > save && externalId(false)) ws(false);
    if (decl[i] === '[') {
      i++;
      for (;;) {
        ws(false);
        if (decl[i] === ']') {
          i++;
          break;
        }
        if (i >= n) fail('the internal subset never closes');
        if (decl.startsWith('<!--', i)) {
          const e = decl.indexOf('-->', i + 4);
          if (e < 0) fail('an unterminated comment');
          const body = decl.slice(i + 4, e);
          if (body.includes('--') || body.endsWith('-')) fail('"--" inside a comment');
          i = e + 3;
        } else if (decl.startsWith('<?', i)) {
          const e = decl.indexOf('?>', i + 2);
          if (e < 0) fail('an unterminated processing instruction');
          const t = /^[A-Za-z_:][\w.:-]*/.exec(decl.slice(i + 2, e));
          if (!t || t[0].toLowerCase() === 'xml') fail('a processing instruction without a valid target');
          i = e + 2;
        } else if (decl[i] === '%') {
          i++;
          name();
          if (decl[i++] !== ';') fail('expected ";" after a parameter entity name');
        } else if (word('<!ELEMENT')) {
          ws(true);
          name('an element name');
          ws(true);
          contentspec();
          markupEnd();
        } else if (word('<!ATTLIST')) {
          attlist();
          markupEnd();
        } else if (word('<!NOTATION')) {
          ws(true);
          name('a notation name');
          ws(true);
          if (!externalId(true)) fail('expected SYSTEM or PUBLIC');
          markupEnd();
        } else fail('expected a markup declaration');
      }
      ws(false);
    }
    if (i !== n) fail('expected ">"');
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}
