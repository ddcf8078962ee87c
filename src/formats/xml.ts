// XML: each element at --record-path (e.g. rss.channel.item; default: every child of the root)
// is one record. Our own streaming tokenizer: the text is parsed as it arrives and only the
// record being built is held, so a multi-GB document reads in flat memory (a whole-document
// parser measured 930 MB peak RSS on 49 MB, STACK.md). Safety: a DOCTYPE that declares
// entities is refused, so nothing expands and no external entity is ever fetched or read.
import { DataError } from '../lib/errors.js';
import type { Rec } from '../lib/records.js';
import { readParsed, RecordCollector } from './chunked.js';
import type { ReadContext, ReadOptions, Reader } from './index.js';

export const xmlReader: Reader = (input, opts, ctx) => readParsed(input, opts.encoding, new XmlRecordParser(input.name, opts, ctx));

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
// Rescan an incomplete token only after the buffer has doubled: linear time on a huge CDATA.
const RESCAN_AFTER = 64 * 1024;
const NAME = /[A-Za-z_:\u00C0-\uFFFF][\w.:\u00B7-\uFFFF-]*/y;
const ATTR = /\s+([A-Za-z_:\u00C0-\uFFFF][\w.:\u00B7-\uFFFF-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
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
    if (this.stack.length > 0) throw this.error(this.buf.length, `the document ends inside <${this.stack[this.stack.length - 1]}>`);
    if (!this.rootSeen) throw this.error(this.buf.length, 'no XML element in the input');
    if (!this.anyRecord && this.path) this.ctx.log.warn(`${this.name}: no element at --record-path ${this.path.join('.')}`);
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
    return new DataError({ file: this.name, line: this.lineAt(Math.max(pos, this.countedPos)) }, undefined, detail);
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
    if (left > this.opts.maxRecordSize) throw this.error(pos, `XML token longer than ${this.opts.maxRecordSize} characters (the --max-record-size limit)`);
    if (this.frames.length > 0 && this.base + pos - this.recordStart > this.opts.maxRecordSize) {
      throw new DataError({ file: this.name, line: this.recordLine }, undefined, `record longer than ${this.opts.maxRecordSize} characters (the --max-record-size limit)`);
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
      const name = b.slice(pos + 2, gt).trimEnd();
      this.close(name, pos);
      return gt + 1;
    }
    if (c === 33) {
      if (b.startsWith('<!--', pos)) {
        const e = b.indexOf('-->', pos + 4);
        return e === -1 ? -1 : e + 3;
      }
      if (b.startsWith('<![CDATA[', pos)) {
        const e = b.indexOf(']]>', pos + 9);
        if (e === -1) return -1;
        if (this.frames.length > 0) this.addText(normalizeEol(b.slice(pos + 9, e)));
        else if (this.stack.length === 0) throw this.error(pos, 'CDATA outside the root element');
        return e + 3;
      }
      if (b.startsWith('<!DOCTYPE', pos)) return this.doctype(pos);
      throw this.error(pos, `unexpected markup "${b.slice(pos, pos + 12)}"`);
    }
    if (c === 63) {
      const e = b.indexOf('?>', pos + 2);
      return e === -1 ? -1 : e + 2;
    }
    return this.startTag(pos);
  }

  private doctype(pos: number): number {
    const b = this.buf;
    const i = this.closingGt(pos + 9, true);
    if (i < 0) return -1;
    const decl = b.slice(pos, i + 1);
    if (/<!ENTITY/i.test(decl)) {
      throw this.error(pos, 'the DOCTYPE declares entities; bx reads no DTD entities (no expansion, no external files)');
    }
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
    if (!m || NAME.lastIndex > stop) throw this.error(pos, `not a valid tag "${b.slice(pos, Math.min(gt + 1, pos + 40))}"`);
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
    if (b.slice(at, stop).trim() !== '') throw this.error(pos, `malformed attribute in <${qname}>: "${b.slice(at, stop).trim().slice(0, 40)}"`);
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
    if (stack.length >= this.opts.maxDepth) throw this.error(pos, `XML nested deeper than ${this.opts.maxDepth} levels (the --max-depth limit)`);
    if (attrs) {
      for (const [k, v] of attrs) if (k.startsWith('xmlns:')) this.prefixes.set(k.slice(6), v);
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
      const seen = new Set<string>();
      for (const [k, raw] of attrs) {
        if (seen.has(k)) throw this.error(pos, `attribute "${k}" repeats in <${qname}>`);
        seen.add(k);
        const v = this.decode(raw, pos);
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
      throw this.error(pos, open === undefined ? `closing tag </${qname}> without an open element` : `mismatched closing tag </${qname}>; expected </${open}>`);
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
    if (this.frames.length > 0) {
      this.addText(this.decode(normalizeEol(this.buf.slice(from, to)), from));
      return;
    }
    if (this.stack.length === 0) {
      for (let i = from; i < to; i++) {
        const c = this.buf.charCodeAt(i);
        if (c !== 32 && c !== 10 && c !== 13 && c !== 9 && c !== 0xfeff) throw this.error(i, 'text outside the root element');
      }
    }
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
      if (ref.startsWith('#x') && /^#x[0-9a-fA-F]{1,6}$/.test(ref)) ch = codePoint(parseInt(ref.slice(2), 16));
      else if (ref.startsWith('#') && /^#[0-9]{1,7}$/.test(ref)) ch = codePoint(parseInt(ref.slice(1), 10));
      else ch = PREDEFINED[ref];
      if (ch === undefined) {
        const what = semi === -1 || semi - amp > 40 ? `a bare "&" (write it as &amp;)` : `undefined entity "&${ref};" (bx reads no DTD entities)`;
        throw this.error(pos, what);
      }
      out += s.slice(from, amp) + ch;
      from = semi + 1;
      amp = s.indexOf('&', from);
    }
    return out + s.slice(from);
  }
}

function codePoint(cp: number): string | undefined {
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
  return String.fromCodePoint(cp);
}

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
