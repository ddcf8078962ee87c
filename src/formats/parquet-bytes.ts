// bx-load --to parquet's byte path: a canonical NDJSON line (docs/design.md "The record stream":
// one flat object, no spaces, keys and strings without escapes) is scanned where it lies in the
// input chunk, and each field goes into its column buffer from its bytes: no JSON.parse, no
// object per record, no string per value (a string column's dictionary is keyed by the bytes).
// Every value the byte path takes it converts exactly as the column plan's encode() converts the
// parsed value (parquet-types.ts); a line or a value it does not take (an escape, a nested value,
// a lineage or unknown key, a duplicate key, text a plan would reject or only its slower parse
// accepts) returns false, and the caller sends that line through parseRecord and encode(), which
// alone decide errors. test/e2e/lake-bytes.test.ts writes lakes both ways and compares the bytes.
import type { ColumnPlan } from './parquet-types.js';
import { daysFromCivil, validYmd } from './parquet-types.js';
import { Bytes } from './parquet-pages.js';
import { fnv1a, FNV_OFFSET, FNV_PRIME } from './parquet-encode.js';
import { coveringWords, firstByte, notPlain, sameWords, ViewCache } from '../lib/swar.js';

/** What a field's value is, as scanned. */
export const STR = 0;
export const NUM = 1;
export const TRUE = 2;
export const FALSE = 3;
export const NULL = 4;
/** The field is not on the line. */
export const ABSENT = -1;

/**
 * A value's bytes → the number the column buffer stores (pushNumber), 0 for a byte-array column
 * (its bytes go in as they are), or NaN when the byte path does not take the value.
 */
export type ByteEncoder = (buf: Buffer, s: number, e: number, kind: number) => number;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

/** `-?\d{1,15}` → its value (as shortInteger in parquet-types.ts), else NaN. */
function digitsInteger(buf: Buffer, s: number, e: number): number {
  let i = s;
  const neg = buf[i] === 0x2d;
  if (neg) i++;
  if (i === e || e - i > 15) return NaN;
  let x = 0;
  for (; i < e; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) return NaN;
    x = x * 10 + c;
  }
  return neg ? -x : x;
}

/**
 * `-?\d+(\.\d+)?` with at most 15 digits (after dropping the fraction's trailing zeros down to
 * `maxFrac`) → [the digits as an integer, the fraction digits kept]; undefined otherwise.
 * Writes into `out` to stay allocation-free.
 */
function decimalDigits(buf: Buffer, s: number, e: number, maxFrac: number, out: Float64Array): boolean {
  let i = s;
  const neg = buf[i] === 0x2d;
  if (neg) i++;
  const is = i;
  while (i < e && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
  if (i === is) return false;
  const ie = i;
  let fs = e;
  let fe = e;
  if (i < e) {
    if (buf[i] !== 0x2e) return false;
    fs = ++i;
    while (i < e && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    if (i !== e || fs === e) return false;
    fe = e;
    while (fe - fs > maxFrac && buf[fe - 1] === 0x30) fe--;
  }
  if (ie - is + (fe - fs) > 15) return false;
  let x = 0;
  for (let k = is; k < ie; k++) x = x * 10 + buf[k] - 48;
  for (let k = fs; k < fe; k++) x = x * 10 + buf[k] - 48;
  out[0] = neg ? -x : x;
  out[1] = fe - fs;
  return true;
}

const two = new Float64Array(2);
const d2 = (buf: Buffer, i: number) => (buf[i] - 48) * 10 + buf[i + 1] - 48;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** `YYYY-MM-DD` → days since the epoch, else NaN (parseDateDays for a 4-digit year). */
function dateDays(buf: Buffer, s: number): number {
  for (const k of [0, 1, 2, 3, 5, 6, 8, 9]) if (!isDigit(buf[s + k])) return NaN;
  if (buf[s + 4] !== 0x2d || buf[s + 7] !== 0x2d) return NaN;
  const y = d2(buf, s) * 100 + d2(buf, s + 2);
  const m = d2(buf, s + 5);
  const d = d2(buf, s + 8);
  return validYmd(y, m, d) ? daysFromCivil(y, m, d) : NaN;
}

/** The byte encoder for a column plan, or undefined where the byte path does not apply (the sink then parses every line). */
export function byteEncoder(plan: ColumnPlan): ByteEncoder | undefined {
  const e = plan.element;
  const ct = e.converted_type;
  if (ct === 'DECIMAL') {
    if (e.type !== 'INT32' && e.type !== 'INT64') return undefined;
    const scale = e.scale ?? 0;
    const limit = 10 ** (e.precision ?? 18);
    return (buf, s, end, kind) => {
      if (kind !== STR && kind !== NUM) return NaN;
      if (!decimalDigits(buf, s, end, scale, two)) return NaN;
      const f = two[1];
      if (f > scale) return NaN;
      const x = two[0] * POW10[scale - f];
      if (!Number.isSafeInteger(x) || x >= limit || x <= -limit) return NaN;
      return x === 0 ? 0 : x;
    };
  }
  if (ct === 'DATE') return (buf, s, end, kind) => (kind === STR && end - s === 10 ? dateDays(buf, s) : NaN);
  if (e.type === 'INT32' && ct === undefined)
    return (buf, s, end, kind) => {
      if (kind !== STR && kind !== NUM) return NaN;
      const x = digitsInteger(buf, s, end);
      return x >= -2147483648 && x <= 2147483647 ? x : NaN;
    };
  if (e.type === 'INT64' && ct === undefined && e.logical_type === undefined)
    return (buf, s, end, kind) => (kind === STR || kind === NUM ? digitsInteger(buf, s, end) : NaN);
  if (e.type === 'INT64' && e.logical_type?.type === 'TIMESTAMP' && e.logical_type.unit === 'MICROS') {
    const utc = e.logical_type.isAdjustedToUTC;
    return (buf, s, end, kind) => (kind === STR ? canonicalMicros(buf, s, end, utc) : NaN);
  }
  if (e.type === 'DOUBLE')
    return (buf, s, end, kind) => {
      if (kind === NUM) {
        if (decimalDigits(buf, s, end, 0, two) && two[1] <= 15) return two[0] / POW10[two[1]];
        // Another JSON number (an exponent, 16+ digits): Number() reads it as JSON.parse does.
        return Number(buf.latin1Slice(s, end));
      }
      if (kind !== STR || !decimalDigits(buf, s, end, 0, two)) return NaN;
      // At most 15 digits over a power of ten ≤ 10^15, both exact: one correctly rounded division, as Number(text).
      return two[0] / POW10[two[1]];
    };
  if (e.type === 'BOOLEAN')
    return (buf, s, end, kind) => {
      if (kind === TRUE) return 1;
      if (kind === FALSE) return 0;
      if (kind !== STR) return NaN;
      if (end - s === 4 && buf[s] === 0x74 && buf[s + 1] === 0x72 && buf[s + 2] === 0x75 && buf[s + 3] === 0x65)
        return 1;
      if (
        end - s === 5 &&
        buf[s] === 0x66 &&
        buf[s + 1] === 0x61 &&
        buf[s + 2] === 0x6c &&
        buf[s + 3] === 0x73 &&
        buf[s + 4] === 0x65
      )
        return 0;
      return NaN;
    };
  if (e.type === 'BYTE_ARRAY' && ct === 'UTF8') return (_b, _s, _e, kind) => (kind === STR ? 0 : NaN);
  return undefined;
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z]` → µs since the epoch when a double holds it exactly (as
 * canonicalMicrosNumber), else NaN; a `Z` in a column without a zone is left to the record path.
 */
function canonicalMicros(buf: Buffer, s: number, e: number, utc: boolean): number {
  const n = e - s;
  if (n < 19 || n > 27) return NaN;
  const zone = buf[e - 1] === 0x5a;
  if (zone && !utc) return NaN;
  const end = zone ? e - 1 : e;
  if (buf[s + 10] !== 0x54 || buf[s + 13] !== 0x3a || buf[s + 16] !== 0x3a) return NaN;
  for (const k of [11, 12, 14, 15, 17, 18]) if (!isDigit(buf[s + k])) return NaN;
  const days = dateDays(buf, s);
  if (days !== days) return NaN;
  const H = d2(buf, s + 11);
  const M = d2(buf, s + 14);
  const S = d2(buf, s + 17);
  if (H > 23 || M > 59 || S > 59) return NaN;
  let frac = 0;
  if (end > s + 19) {
    if (buf[s + 19] !== 0x2e || end - (s + 20) < 1 || end - (s + 20) > 6) return NaN;
    for (let i = s + 20; i < end; i++) {
      if (!isDigit(buf[i])) return NaN;
      frac = frac * 10 + buf[i] - 48;
    }
    frac *= POW10[6 - (end - s - 20)];
  }
  const us = (days * 86400 + H * 3600 + M * 60 + S) * 1e6 + frac;
  return Number.isSafeInteger(us) ? us : NaN;
}

/** Finds a canonical line's fields: for each column, what its value is and where its bytes are. */
export class LineScanner {
  /** Per column (the plans' order): STR, NUM, TRUE, FALSE, NULL or ABSENT. */
  readonly kind: Int8Array;
  /** Per column: the value's bytes (a string's without its quotes). */
  readonly vs: Int32Array;
  readonly ve: Int32Array;
  /** Per column, for a string: the fnv1a() of its bytes. */
  readonly hash: Int32Array;
  private readonly names: Buffer[];
  private readonly byName = new Map<string, number>();
  /** Per column: the bytes vs/ve point into: the line's buffer, or `unescaped` for a string that had escapes. */
  readonly src: Buffer[];
  private readonly unescaped = new Bytes();

  /** The column of the i-th key of the last line (keys come in the same order line after line). */
  private readonly order: Int32Array;
  /**
   * Per column: `"name":` as the words sameWords() compares, when the name has no byte a JSON
   * key would escape (a key that matched those bytes could then end at a quote inside them).
   */
  private readonly token: (Int32Array | undefined)[];
  private readonly tokenLength: Int32Array;
  /** Per column: 1 when a string value's hash is wanted (a dictionary column), else its quote is found four bytes at a time. */
  private readonly hashed: Uint8Array;
  private readonly views = new ViewCache();

  /** `hashed`: the columns whose strings the caller wants fnv1a() of (every column when not given). */
  constructor(names: string[], hashed?: boolean[]) {
    this.names = names.map((n) => Buffer.from(n, 'utf8'));
    this.names.forEach((b, c) => this.byName.set(b.toString('latin1'), c));
    this.kind = new Int8Array(names.length);
    this.vs = new Int32Array(names.length);
    this.ve = new Int32Array(names.length);
    this.hash = new Int32Array(names.length);
    this.order = new Int32Array(names.length).fill(-1);
    this.src = names.map(() => Buffer.alloc(0));
    this.token = this.names.map((b) =>
      b.length > 0 && b.every((c) => c >= 0x20 && c !== 0x22 && c !== 0x5c)
        ? coveringWords(Buffer.concat([QUOTE, b, QUOTE_COLON]))
        : undefined,
    );
    this.tokenLength = Int32Array.from(this.names, (b) => b.length + 3);
    this.hashed = Uint8Array.from(names, (_, c) => (hashed ? (hashed[c] ? 1 : 0) : 1));
  }

  /**
   * The JSON string starting at vs (after its quote) decoded into `unescaped` as UTF-8, as
   * JSON.parse decodes it; returns the position of its closing quote, or -1 for a string the
   * record path is left to judge (a control character, a bad escape, a lone surrogate).
   */
  private unescape(buf: Buffer, vs: number, e: number, col: number): number {
    const out = this.unescaped;
    const start = out.n;
    let p = vs;
    let run = vs;
    for (;;) {
      if (p >= e) return -1;
      const d = buf[p];
      if (d === 0x22) break;
      if (d < 0x20) return -1;
      if (d !== 0x5c) {
        p++;
        continue;
      }
      out.ensure(p - run + 4);
      out.buf.set(buf.subarray(run, p), out.n);
      out.n += p - run;
      const x = buf[p + 1];
      p += 2;
      let byte = -1;
      if (x === 0x22 || x === 0x5c || x === 0x2f) byte = x;
      else if (x === 0x62) byte = 8;
      else if (x === 0x66) byte = 12;
      else if (x === 0x6e) byte = 10;
      else if (x === 0x72) byte = 13;
      else if (x === 0x74) byte = 9;
      else if (x === 0x75) {
        let u = hex4(buf, p, e);
        if (u < 0) return -1;
        p += 4;
        if (u >= 0xd800 && u <= 0xdbff) {
          const lo = buf[p] === 0x5c && buf[p + 1] === 0x75 ? hex4(buf, p + 2, e) : -1;
          if (lo < 0xdc00 || lo > 0xdfff) return -1;
          p += 6;
          u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        } else if (u >= 0xdc00 && u <= 0xdfff) return -1;
        out.n += out.buf.write(String.fromCodePoint(u), out.n, 'utf8');
      } else return -1;
      if (byte >= 0) out.buf[out.n++] = byte;
      run = p;
    }
    out.ensure(p - run);
    out.buf.set(buf.subarray(run, p), out.n);
    out.n += p - run;
    this.src[col] = out.buf;
    this.vs[col] = start;
    this.ve[col] = out.n;
    return p;
  }

  /** Scans buf[s..e) (one line, its newline at e); false when the line is not one the byte path takes. */
  scan(buf: Buffer, s: number, e: number): boolean {
    const kind = this.kind;
    // A loop, not kind.fill() and src.fill(buf): the two builtin calls per line were 7 % of the
    // write's profile; a column's src is set when its value is scanned.
    for (let c = 0; c < kind.length; c++) kind[c] = ABSENT;
    this.unescaped.n = 0;
    if (buf[s] !== 0x7b) return false;
    let p = s + 1;
    if (buf[p] === 0x7d) return p + 1 === e;
    const view = this.views.view(buf);
    const order = this.order;
    for (let i = 0; ; i++) {
      let col = i < order.length ? order[i] : -1;
      // The key the previous line had here, compared four bytes at a time with its `"name":`.
      const tw = col >= 0 ? this.token[col] : undefined;
      if (tw !== undefined && p + this.tokenLength[col] < e && sameWords(view, p, this.tokenLength[col], tw)) {
        p += this.tokenLength[col];
        if (kind[col] !== ABSENT) return false;
      } else {
        if (buf[p] !== 0x22) return false;
        const ks = ++p;
        for (;;) {
          if (p >= e) return false;
          const c = buf[p];
          if (c === 0x22) break;
          if (c === 0x5c || c < 0x20) return false;
          p++;
        }
        const ke = p++;
        if (col < 0 || !sameBytes(this.names[col], buf, ks, ke)) {
          col = this.byName.get(buf.latin1Slice(ks, ke)) ?? -1;
          if (col < 0) return false;
          if (i < order.length) order[i] = col;
        }
        if (kind[col] !== ABSENT || buf[p++] !== 0x3a) return false;
      }
      this.src[col] = buf;
      const c = buf[p];
      if (c === 0x22) {
        const vs = ++p;
        if (this.hashed[col] === 0) {
          // No hash wanted: to the first byte a plain string does not hold as it is, four at a time.
          while (p + 4 <= e) {
            const m = notPlain(view.getInt32(p, true));
            if (m !== 0) {
              p += firstByte(m);
              break;
            }
            p += 4;
          }
          for (;;) {
            if (p >= e) return false;
            const d = buf[p];
            if (d === 0x22) break;
            if (d < 0x20) return false;
            if (d === 0x5c) {
              p = this.unescape(buf, vs, e, col);
              if (p < 0) return false;
              break;
            }
            p++;
          }
          if (this.src[col] === buf) {
            this.vs[col] = vs;
            this.ve[col] = p;
          }
          p++;
          kind[col] = STR;
        } else {
          // The string's FNV-1a hash as it is scanned: the dictionary need not read it again.
          let h = FNV_OFFSET;
          for (;;) {
            if (p >= e) return false;
            const d = buf[p];
            if (d === 0x22) break;
            if (d < 0x20) return false;
            if (d === 0x5c) {
              // An escape: the string's value goes into `unescaped` (the caller's bytes for this column).
              p = this.unescape(buf, vs, e, col);
              if (p < 0) return false;
              break;
            }
            h = Math.imul(h ^ d, FNV_PRIME);
            p++;
          }
          if (this.src[col] === buf) {
            this.vs[col] = vs;
            this.ve[col] = p;
            this.hash[col] = h;
          } else this.hash[col] = fnv1a(this.src[col], this.vs[col], this.ve[col]);
          p++;
          kind[col] = STR;
        }
      } else if (c === 0x2d || isDigit(c)) {
        const vs = p;
        p = jsonNumberEnd(buf, p);
        if (p < 0) return false;
        this.vs[col] = vs;
        this.ve[col] = p;
        kind[col] = NUM;
      } else if (c === 0x74 && buf[p + 1] === 0x72 && buf[p + 2] === 0x75 && buf[p + 3] === 0x65) {
        kind[col] = TRUE;
        p += 4;
      } else if (
        c === 0x66 &&
        buf[p + 1] === 0x61 &&
        buf[p + 2] === 0x6c &&
        buf[p + 3] === 0x73 &&
        buf[p + 4] === 0x65
      ) {
        kind[col] = FALSE;
        p += 5;
      } else if (c === 0x6e && buf[p + 1] === 0x75 && buf[p + 2] === 0x6c && buf[p + 3] === 0x6c) {
        kind[col] = NULL;
        p += 4;
      } else return false;
      const d = buf[p++];
      if (d === 0x2c && p < e) continue;
      return d === 0x7d && p === e;
    }
  }
}

/** Four hex digits at p → their value, or -1. */
function hex4(buf: Buffer, p: number, e: number): number {
  if (p + 4 > e) return -1;
  let v = 0;
  for (let i = p; i < p + 4; i++) {
    const c = buf[i];
    const h = c >= 0x30 && c <= 0x39 ? c - 48 : c >= 0x61 && c <= 0x66 ? c - 87 : c >= 0x41 && c <= 0x46 ? c - 55 : -1;
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

const QUOTE = Buffer.from('"');
const QUOTE_COLON = Buffer.from('":');

function sameBytes(name: Buffer, buf: Buffer, s: number, e: number): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== buf[s + i]) return false;
  return true;
}

/** The end of the JSON number starting at p (RFC 8259's grammar), or -1. */
function jsonNumberEnd(buf: Buffer, p: number): number {
  if (buf[p] === 0x2d) p++;
  if (buf[p] === 0x30) p++;
  else if (buf[p] >= 0x31 && buf[p] <= 0x39) while (isDigit(buf[++p]));
  else return -1;
  if (buf[p] === 0x2e) {
    if (!isDigit(buf[++p])) return -1;
    while (isDigit(buf[++p]));
  }
  if (buf[p] === 0x65 || buf[p] === 0x45) {
    p++;
    if (buf[p] === 0x2b || buf[p] === 0x2d) p++;
    if (!isDigit(buf[p])) return -1;
    while (isDigit(buf[++p]));
  }
  return p;
}
