// NDJSON / JSON lines. The source is a file, not a bx stream: it needs no end-of-stream mark,
// but one left in it (a saved sealed stream) is checked and stripped, never passed on as a record.
//
// When the consumer only forwards NDJSON (ctx.json, bx-extract), a line whose output the object
// path would write byte for byte as it came ("canonical": compact, escaped as JSON.stringify
// escapes, numbers in the form String(number) gives, no repeated key, no nested key JavaScript
// would reorder) is passed on as its bytes, with no object and no string built. Any other line
// takes the object path (parseRecord + stringifyRecord), so output and errors are the object
// path's for every line. Measured on the 1 M-row sales NDJSON (bench/ndjson.sh, a busy 2-core
// machine, alternating runs): 97.5 k rows/s through objects, 425 k as bytes (4.4x); with
// --lineage 85 k -> 300 k. bx-extract of the same rows as CSV ran 460 k rows/s beside it.
// A line with the last passed line's keys in its order and flat plain values (most lines of
// most files) is checked in one pass, keys and strings four bytes at a time (sameShape): the
// check fell from ~800 to ~450 ns a line (with its escapes \" \\ \n…: fewer lines to reference()),
// bx-extract's CPU on the 1 M-row file from 1.40 to 0.87 s (interleaved medians).
import type { Readable } from 'node:stream';
import { DataError } from '../lib/errors.js';
import { DEFAULT_MAX_DEPTH, stringifyRecord } from '../lib/json.js';
import { DEFAULT_MAX_LINE, tooLong } from '../lib/lines.js';
import { lineText, parseRecord, readLineBatches, readRecordBatches } from '../lib/records.js';
import type { Rec } from '../lib/stream.js';
import { firstByte, notPlain, ViewCache } from '../lib/swar.js';
import { decodeText } from '../lib/text.js';
import type { ReadBatch, ReadOptions, Reader } from './index.js';

export const ndjsonReader: Reader = (input, opts, ctx) => {
  if (ctx.json && (opts.encoding ?? 'utf8') === 'utf8')
    return byteBatches(input.stream, input.name, opts, ctx.json.lineage, ctx.reject);
  return readRecordBatches(decodeText(input.stream, input.name, opts.encoding), input.name, {
    expectSealed: false,
    maxLine: opts.maxRecordSize,
    maxDepth: opts.maxDepth,
    onTrailer: opts.onTrailer,
    onMalformed: (err, line) => rejectLine(ctx.reject, err, line),
  });
};

type RejectFn = Parameters<Reader>[2]['reject'];

const rejectLine = (reject: RejectFn, err: DataError, line: string) =>
  reject(line.length > 1000 ? line.slice(0, 1000) : line, { rule: 'json', message: err.detail }, err.at!);

// The byte path may not nest deeper than this (or than --max-depth): deeper lines take the object path.
const BYTE_DEPTH = 32;

/**
 * The byte path: lines as bytes (readLineBatches), each canonical line copied on (runs of
 * them as one view of the input, no copy), the others through the object path.
 */
async function* byteBatches(
  stream: Readable,
  name: string,
  opts: ReadOptions,
  lineage: boolean,
  reject: RejectFn,
): AsyncGenerator<ReadBatch> {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxLine = opts.maxRecordSize ?? DEFAULT_MAX_LINE;
  const check = new Canonical(Math.min(maxDepth, BYTE_DEPTH));
  const suffix = lineage ? Buffer.from(`"_file":${JSON.stringify(name)},"_line":`) : undefined;
  // The object path limits a line in characters; a character is at most 3 bytes, so the byte
  // reader gets 3x the bytes and a longer line is measured here, in characters.
  const lines = readLineBatches(stream, name, { expectSealed: false, maxLine: 3 * maxLine, onTrailer: opts.onTrailer });
  try {
    for await (const b of lines) {
      const { buf, starts, ends } = b;
      const outLines: number[] = [];
      const pieces: Buffer[] = [];
      let runStart = -1; // a run of canonical lines still to add as one view of the input
      let runEnd = -1;
      let text = ''; // lines from the object path still to add
      // With lineage every line is copied: into `out`, from `op` on.
      let out: Buffer = suffix ? Buffer.allocUnsafe(buf.length + starts.length * (suffix.length + 16)) : EMPTY;
      let op = 0;
      const flush = () => {
        if (runStart >= 0) pieces.push(buf.subarray(runStart, runEnd));
        runStart = -1;
        if (text) pieces.push(Buffer.from(text));
        text = '';
      };
      for (let i = 0; i < starts.length; i++) {
        const s = starts[i];
        let e = ends[i];
        if (e - s > maxLine && lineText(b, i).length > maxLine) throw tooLong(name, b.lines[i], maxLine);
        const cr = buf[e - 1] === 0x0d;
        if (cr) e--;
        const ok = check.line(buf, s, e);
        if (ok && suffix && !check.lineageKey) {
          // `{…}` + `,"_file":…,"_line":N}`, as addLineage + stringifyRecord write it.
          if (op + (e - s) + suffix.length + 16 > out.length) out = grow(out, op, e - s + suffix.length + 16);
          op += buf.copy(out, op, s, e - 1);
          if (e - s > 2) out[op++] = 0x2c; // ,
          op += suffix.copy(out, op);
          op += out.write(String(b.lines[i]), op, 'latin1');
          out[op++] = 0x7d;
          out[op++] = 0x0a;
        } else if (ok && !suffix) {
          if (text) flush();
          if (cr) {
            flush();
            pieces.push(buf.subarray(s, e), NEWLINE);
          } else if (runStart >= 0 && runEnd === s) runEnd = e + 1;
          else {
            flush();
            runStart = s;
            runEnd = e + 1;
          }
        } else {
          const line = lineText(b, i);
          let rec: Rec;
          try {
            rec = parseRecord(line, { file: name, line: b.lines[i] }, maxDepth);
          } catch (err) {
            if (err instanceof DataError) {
              rejectLine(reject, err, line);
              continue;
            }
            throw err;
          }
          if (suffix) {
            rec._file = name;
            rec._line = b.lines[i];
            const t = stringifyRecord(rec) + '\n';
            const need = Buffer.byteLength(t);
            if (op + need > out.length) out = grow(out, op, need);
            op += out.write(t, op, 'utf8');
          } else {
            if (runStart >= 0) {
              pieces.push(buf.subarray(runStart, runEnd));
              runStart = -1;
            }
            text += stringifyRecord(rec) + '\n';
          }
        }
        outLines.push(b.lines[i]);
      }
      if (suffix) pieces.push(out.subarray(0, op));
      flush();
      if (outLines.length === 0) continue;
      yield { name, lines: outLines, records: [], ndjson: pieces.length === 1 ? pieces[0] : Buffer.concat(pieces) };
    }
  } catch (err) {
    // The byte reader's "line longer than 3N bytes" is the object path's "longer than N characters".
    if (err instanceof DataError && err.at && /^line longer than \d+ bytes/.test(err.detail ?? ''))
      throw tooLong(name, err.at.line, maxLine);
    throw err;
  }
}

const NEWLINE = Buffer.from('\n');
/** 1 for a byte a string holds as it is: not a control byte, a quote or a backslash. */
const PLAIN = new Uint8Array(256).map((_, b) => (b >= 0x20 && b !== 0x22 && b !== 0x5c ? 1 : 0));
const EMPTY = Buffer.alloc(0);
/** 1 for the letter after a backslash of an escape JSON.stringify writes in two characters. */
const SHORT_ESCAPE = new Uint8Array(256).map((_, b) => ('"\\bfnrt'.includes(String.fromCharCode(b)) ? 1 : 0));

/** A larger copy of the `used` bytes of `out`, with room for `need` more. */
function grow(out: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(2 * out.length, used + need));
  out.copy(next, 0, 0, used);
  return next;
}

/**
 * Whether a line (valid UTF-8, no newline) is a JSON object that parseRecord + stringifyRecord
 * would write back as the same bytes. False means "not sure", never "invalid": the caller then
 * asks the object path, which gives the output or the error.
 */
export class Canonical {
  private buf: Buffer = Buffer.alloc(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private readonly views = new ViewCache();
  private i = 0;
  private end = 0;
  /** The top-level keys of the last line checked, as offsets into its buffer. */
  private keyS = new Int32Array(64);
  private keyE = new Int32Array(64);
  private nKeys = 0;
  /** The top-level key bytes of the last line that passed (a file's lines mostly share them). */
  private prev = new Uint8Array(0);
  private prevView = new DataView(this.prev.buffer);
  private readonly prevOff = new Int32Array(65);
  private prevLen = -1;
  private prevN = -1;
  /** prev as words for sameShape: key j's at prevWordOff[j], its last word ending at its last byte. */
  private prevWords = new Int32Array(0);
  private readonly prevWordOff = new Int32Array(65);
  /** Whether the keys in prev include a lineage key. */
  private prevLineage = false;
  /** The line has a top-level `_file` or `_line` key (lineage replaces it in place: object path). */
  lineageKey = false;

  constructor(private readonly maxDepth: number) {}

  line(buf: Buffer, s: number, e: number): boolean {
    if (e - s < 2 || buf[s] !== 0x7b || buf[e - 1] !== 0x7d) return false;
    this.dv = this.views.view(buf);
    if (this.prevN > 0 && this.sameShape(buf, s, e)) {
      this.lineageKey = this.prevLineage;
      return true;
    }
    return this.reference(buf, s, e);
  }

  /**
   * The whole check, key by key and value by value: the reference for sameShape, and the path
   * of every line sameShape does not take (the first line, new keys, escapes, nesting…).
   */
  reference(buf: Buffer, s: number, e: number): boolean {
    if (e - s < 2 || buf[s] !== 0x7b || buf[e - 1] !== 0x7d) return false;
    this.buf = buf;
    this.dv = this.views.view(buf);
    this.i = s + 1;
    this.end = e;
    this.nKeys = 0;
    this.lineageKey = false;
    if (!this.object(1, true) || this.i !== e) return false;
    return this.uniqueTop();
  }

  /**
   * The common line, checked in one pass: the last passed line's top-level keys, in its order
   * (each compared as words with its quotes, so it is that key: valid, no repeat), each value a
   * string of plain bytes (no escape, no control character), a canonical number, true, false or
   * null. True only when reference() would say true; false means "ask reference()".
   */
  private sameShape(buf: Buffer, s: number, e: number): boolean {
    const dv = this.dv;
    const kw = this.prevWords;
    const ko = this.prevWordOff;
    const po = this.prevOff;
    const n = this.prevN;
    const size = buf.length;
    let i = s + 1;
    for (let k = 0; k < n; k++) {
      const len = po[k + 1] - po[k];
      if (i + len >= e) return false;
      // The key's words, the last one overlapping the one before when the length is not a multiple of 4.
      let w = ko[k];
      const we = ko[k + 1];
      if (len >= 4) {
        let x = i;
        for (; w < we - 1; w++, x += 4) if (dv.getInt32(x, true) !== kw[w]) return false;
        if (dv.getInt32(i + len - 4, true) !== kw[w]) return false;
      } else {
        for (let j = 0; j < len; j++) if (buf[i + j] !== this.prev[po[k] + j]) return false;
      }
      i += len;
      if (buf[i++] !== 0x3a) return false;
      let c = buf[i];
      if (c === 0x22) {
        // Four bytes at a time to the next byte that is not plain: the closing quote, or an
        // escape JSON.stringify writes with two characters (\" \\ \b \f \n \r \t; a \u
        // escape is reference()'s), else reference() decides.
        i++;
        for (;;) {
          if (i + 4 > size) while (PLAIN[buf[i]] === 1) i++;
          else {
            const m = notPlain(dv.getInt32(i, true));
            if (m === 0) {
              i += 4;
              continue;
            }
            i += firstByte(m);
          }
          c = buf[i];
          if (c !== 0x5c) break;
          if (SHORT_ESCAPE[buf[i + 1]] !== 1) return false;
          i += 2;
        }
        if (c !== 0x22) return false;
        i++;
      } else if (c === 0x74) {
        if (buf[i + 1] !== 0x72 || buf[i + 2] !== 0x75 || buf[i + 3] !== 0x65) return false;
        i += 4;
      } else if (c === 0x66) {
        if (buf[i + 1] !== 0x61 || buf[i + 2] !== 0x6c || buf[i + 3] !== 0x73 || buf[i + 4] !== 0x65) return false;
        i += 5;
      } else if (c === 0x6e) {
        if (buf[i + 1] !== 0x75 || buf[i + 2] !== 0x6c || buf[i + 3] !== 0x6c) return false;
        i += 4;
      } else {
        i = canonicalNumber(buf, i);
        if (i < 0) return false;
      }
      c = buf[i++];
      if (c !== (k === n - 1 ? 0x7d : 0x2c)) return false;
    }
    return i === e;
  }

  private object(depth: number, top: boolean): boolean {
    const buf = this.buf;
    // at i: just after `{`
    if (buf[this.i] === 0x7d) return (this.i++, true);
    const ks: number[] | undefined = top ? undefined : [];
    for (;;) {
      if (buf[this.i] !== 0x22) return false;
      const k = this.i;
      if (!this.string()) return false;
      if (top) {
        if (this.nKeys === this.keyS.length) return false;
        this.keyS[this.nKeys] = k;
        this.keyE[this.nKeys++] = this.i;
        const len = this.i - k;
        if (len === 7 && buf[k + 1] === 0x5f && (isKey(buf, k, '"_file"') || isKey(buf, k, '"_line"')))
          this.lineageKey = true;
      } else {
        // JSON.stringify would put an integer-like key first in a nested object: object path.
        const c = buf[k + 1];
        if (c >= 0x30 && c <= 0x39) return false;
        if (ks!.length >= 32) return false;
        for (let j = 0; j < ks!.length; j += 2) if (sameBytes(buf, ks![j], ks![j + 1], k, this.i)) return false;
        ks!.push(k, this.i);
      }
      if (buf[this.i++] !== 0x3a) return false;
      if (!this.value(depth)) return false;
      const c = buf[this.i++];
      if (c === 0x7d) return true;
      if (c !== 0x2c) return false;
    }
  }

  private value(depth: number): boolean {
    const buf = this.buf;
    const c = buf[this.i];
    if (c === 0x22) return this.string();
    if (c === 0x7b || c === 0x5b) {
      if (depth + 1 > this.maxDepth) return false;
      this.i++;
      return c === 0x7b ? this.object(depth + 1, false) : this.array(depth + 1);
    }
    if (c === 0x74) return this.word(0x72, 0x75, 0x65, 4); // true
    if (c === 0x66) return this.word(0x61, 0x6c, 0x73, 5) && buf[this.i - 1] === 0x65; // false
    if (c === 0x6e) return this.word(0x75, 0x6c, 0x6c, 4); // null
    return this.number();
  }

  private word(a: number, b: number, c: number, n: number): boolean {
    const buf = this.buf;
    const i = this.i;
    if (i + n > this.end || buf[i + 1] !== a || buf[i + 2] !== b || buf[i + 3] !== c) return false;
    this.i = i + n;
    return true;
  }

  private array(depth: number): boolean {
    const buf = this.buf;
    if (buf[this.i] === 0x5d) return (this.i++, true);
    for (;;) {
      if (!this.value(depth)) return false;
      const c = buf[this.i++];
      if (c === 0x5d) return true;
      if (c !== 0x2c) return false;
    }
  }

  /**
   * A string at i (its opening quote), written as JSON.stringify writes it: no raw control
   * character, and only the escapes it uses (\" \\ \b \f \n \r \t, \u00xx for the other
   * control characters, lowercase hex). Bytes of 0x80 and up are valid UTF-8 (checked by the
   * reader) and written as they are; a lone surrogate cannot be UTF-8, so none comes here.
   */
  private string(): boolean {
    const buf = this.buf;
    const end = this.end;
    let i = this.i + 1;
    for (;;) {
      // Plain bytes one table look each (measured faster than four at a time: most strings are short).
      while (i < end && PLAIN[buf[i]] === 1) i++;
      if (i >= end) return false;
      const c = buf[i++];
      if (c === 0x22) break;
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const d = buf[i++];
        if (d === 0x22 || d === 0x5c || d === 0x62 || d === 0x66 || d === 0x6e || d === 0x72 || d === 0x74) continue;
        if (d !== 0x75 || buf[i] !== 0x30 || buf[i + 1] !== 0x30) return false;
        const h = hex(buf[i + 2]);
        const l = hex(buf[i + 3]);
        if (h < 0 || h > 1 || l < 0) return false;
        const code = h * 16 + l;
        if (code === 8 || code === 9 || code === 10 || code === 12 || code === 13) return false;
        i += 4;
      }
    }
    this.i = i;
    return true;
  }

  /** A number as canonicalNumber takes it; anything else: the object path. */
  private number(): boolean {
    const i = canonicalNumber(this.buf, this.i);
    if (i < 0) return false;
    this.i = i;
    return true;
  }

  /** Whether the keys are the last passed line's, compared four bytes at a time. */
  private sameAsPrev(n: number): boolean {
    const dv = this.dv;
    const pv = this.prevView;
    const ks = this.keyS;
    const ke = this.keyE;
    const po = this.prevOff;
    for (let j = 0; j < n; j++) {
      let x = ks[j];
      const e = ke[j];
      let p = po[j];
      if (po[j + 1] - p !== e - x) return false;
      for (; x + 4 <= e; x += 4, p += 4) if (dv.getInt32(x, true) !== pv.getInt32(p, true)) return false;
      for (; x < e; x++, p++) if (dv.getUint8(x) !== pv.getUint8(p)) return false;
    }
    return true;
  }

  /** No top-level key twice: JSON.parse keeps one, at the first place, with the last value. */
  private uniqueTop(): boolean {
    const n = this.nKeys;
    const buf = this.buf;
    const ks = this.keyS;
    const ke = this.keyE;
    if (n <= 1) return true;
    // The same keys as the last line that passed: no repeat there, none here.
    let len = 0;
    for (let j = 0; j < n; j++) len += ke[j] - ks[j];
    if (n === this.prevN && len === this.prevLen && this.sameAsPrev(n)) return true;
    if (n > 32) {
      const set = new Set<string>();
      for (let j = 0; j < n; j++) set.add(buf.toString('latin1', ks[j], ke[j]));
      if (set.size !== n) return false;
    } else {
      for (let a = 1; a < n; a++)
        for (let b = 0; b < a; b++) if (sameBytes(buf, ks[a], ke[a], ks[b], ke[b])) return false;
    }
    // Remember this line's keys, one after another; key j at prevOff[j].
    if (this.prev.length < len) {
      this.prev = new Uint8Array(2 * len);
      this.prevView = new DataView(this.prev.buffer);
    }
    let p = 0;
    for (let j = 0; j < n; j++) {
      this.prevOff[j] = p;
      p += buf.copy(this.prev, p, ks[j], ke[j]);
    }
    this.prevOff[n] = p;
    this.prevN = n;
    this.prevLen = len;
    this.prevLineage = this.lineageKey;
    // The words sameShape compares: floor(len / 4) from the key's start, and one ending at its
    // end when the length is not a multiple of 4 (keys of 2 or 3 bytes are compared by bytes).
    let words = 0;
    for (let j = 0; j < n; j++) words += (this.prevOff[j + 1] - this.prevOff[j] + 3) >> 2;
    if (this.prevWords.length < words) this.prevWords = new Int32Array(2 * words);
    const pv = this.prevView;
    let w = 0;
    for (let j = 0; j < n; j++) {
      this.prevWordOff[j] = w;
      const o = this.prevOff[j];
      const l = this.prevOff[j + 1] - o;
      if (l >= 4) {
        for (let x = 0; x + 4 <= l; x += 4) this.prevWords[w++] = pv.getInt32(o + x, true);
        if (l & 3) this.prevWords[w++] = pv.getInt32(o + l - 4, true);
      }
    }
    this.prevWordOff[n] = w;
    return true;
  }
}

function isKey(buf: Buffer, k: number, key: string): boolean {
  for (let j = 0; j < key.length; j++) if (buf[k + j] !== key.charCodeAt(j)) return false;
  return true;
}

function sameBytes(buf: Buffer, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let j = 0; j < e1 - s1; j++) if (buf[s1 + j] !== buf[s2 + j]) return false;
  return true;
}

/**
 * A number token that String(Number(token)) writes back as it is and that parseJson keeps as a
 * number: -?(0|[1-9]d*)(.d*[1-9])?, at most 15 digits (a double holds those exactly, and no
 * shorter text reads back as the same double), no exponent, not -0, and not below 1e-6 (String
 * writes those with an exponent). Returns the index after it, or -1. Shared by every byte path
 * that copies numbers through (bx-extract's NDJSON, bx-clean).
 */
export function canonicalNumber(buf: Buffer, i: number): number {
  const neg = buf[i] === 0x2d;
  if (neg) i++;
  const first = i;
  let c = buf[i];
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    i++;
    while ((c = buf[i]) >= 0x30 && c <= 0x39) i++;
  } else return -1;
  let digits = i - first;
  const zeroInt = buf[first] === 0x30;
  if (buf[i] === 0x2e) {
    i++;
    const f = i;
    while ((c = buf[i]) >= 0x30 && c <= 0x39) i++;
    if (i === f || buf[i - 1] === 0x30) return -1;
    digits += i - f;
    if (zeroInt) {
      let z = f;
      while (buf[z] === 0x30) z++;
      if (z - f >= 6) return -1;
    }
  } else if (neg && zeroInt) return -1;
  if (digits > 15) return -1;
  c = buf[i];
  if (c === 0x65 || c === 0x45) return -1;
  return i;
}

/** The value of a lowercase hex digit, or -1. */
export const hex = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
