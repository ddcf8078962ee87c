// A flat Parquet row group straight to JSON text, column by column: no object per row, no value
// per row for a dictionary-encoded column (each dictionary entry becomes its JSON text once, a row
// is an index into those). Page headers, levels and PLAIN values are read by parquet-pages.ts;
// values become text by the same rules as columnConverter + jsonLines (the tests hold the two
// paths to the same bytes). Nested columns and types not handled here stay on hyparquet's
// parquetRead (ParquetSource decides with flatColumn()), and so does a row group with an
// encoding not handled here (Unhandled).
import type { AsyncBuffer, ColumnChunk, SchemaElement } from 'hyparquet';
import { snappyUncompress } from 'hyparquet';
import { readHybrid, readPageHeader, type Cursor, type PageHeader } from './parquet-pages.js';
import { dateFromDays, type ReadConverter } from './parquet-types.js';

/** A column's value → its JSON text, as jsonLines writes it. */
export const jsonText = (v: unknown): string =>
  v === null || v === undefined ? 'null' : typeof v === 'number' ? String(v) : JSON.stringify(v);

/** Annotations this path converts exactly as hyparquet + columnConverter do. */
const HANDLED = new Set([
  'UTF8',
  'ENUM',
  'JSON',
  'DECIMAL',
  'DATE',
  'TIMESTAMP_MILLIS',
  'TIMESTAMP_MICROS',
  'TIME_MILLIS',
  'TIME_MICROS',
  'INT_8',
  'INT_16',
  'INT_32',
  'INT_64',
]);
const HANDLED_LOGICAL = new Set(['STRING', 'ENUM', 'JSON', 'DECIMAL', 'DATE', 'TIMESTAMP', 'TIME']);

/** Whether a top-level column of the file can go through this path: a leaf of a handled type. */
export function flatColumn(e: SchemaElement, childCount: number): boolean {
  if (childCount !== 0 || e.repetition_type === 'REPEATED' || e.type === undefined || e.type === 'INT96') return false;
  if (e.converted_type && !HANDLED.has(e.converted_type)) return false;
  const lt = e.logical_type;
  if (lt && !HANDLED_LOGICAL.has(lt.type) && !(lt.type === 'INTEGER' && lt.isSigned)) return false;
  if (e.type === 'FIXED_LEN_BYTE_ARRAY' && e.converted_type !== 'DECIMAL' && lt?.type !== 'DECIMAL') return false;
  return true;
}

/** An encoding or page this path does not read: the caller reads the row group through hyparquet. */
export class Unhandled extends Error {}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** Plain values of common physical types → JSON text without a BigInt or a converter call per value. */
type FastText = (page: ArrayLike<unknown>, i: number) => string;

function fastPlain(orig: SchemaElement): FastText | undefined {
  const ct = orig.converted_type;
  const lt = orig.logical_type;
  if (orig.type === 'INT32' && !ct && !lt) return (p, i) => String(p[i] as number);
  if (orig.type === 'INT32' && (ct === 'DATE' || lt?.type === 'DATE')) {
    const cache = new Map<number, string>();
    return (p, i) => {
      const d = p[i] as number;
      let s = cache.get(d);
      if (s === undefined) {
        s = `"${dateFromDays(d)}"`;
        if (cache.size > 4096) cache.clear();
        cache.set(d, s);
      }
      return s;
    };
  }
  if (orig.type === 'INT64' && !ct && !lt)
    return (p, i) => {
      const v = p[i] as bigint;
      // intValue(): beyond 2^53 the digits as a string.
      return v >= -9007199254740991n && v <= 9007199254740991n ? String(Number(v)) : `"${v}"`;
    };
  if ((orig.type === 'INT32' || orig.type === 'INT64') && (ct === 'DECIMAL' || lt?.type === 'DECIMAL')) {
    const scale = orig.scale ?? (lt?.type === 'DECIMAL' ? lt.scale : 0) ?? 0;
    if (scale > 15) return undefined;
    const unit = 10 ** scale;
    return (p, i) => {
      const raw = p[i] as number | bigint;
      const c =
        typeof raw === 'bigint' ? (raw >= -999999999999999n && raw <= 999999999999999n ? Number(raw) : NaN) : raw;
      if (c !== c) return '';
      // At most 15 digits: Decimal.toJSONValue() gives Number(the decimal text), whose shortest
      // form is the digits without trailing zeros, in positional notation from 1e-6 up.
      if (scale === 0) return String(c);
      const a = c < 0 ? -c : c;
      const ip = Math.floor(a / unit);
      const fp = a - ip * unit;
      const sign = c < 0 ? '-' : '';
      if (fp === 0) return c === 0 ? '0' : sign + ip;
      if (ip === 0 && a * 1e6 < unit) return String(Number(`${sign}0.${String(fp).padStart(scale, '0')}`));
      let f = String(fp);
      if (f.length < scale) f = '0'.repeat(scale - f.length) + f;
      let z = f.length;
      while (f.charCodeAt(z - 1) === 48) z--;
      return `${sign}${ip}.${z === f.length ? f : f.slice(0, z)}`;
    };
  }
  if (orig.type === 'INT64' && (lt?.type === 'TIMESTAMP' || ct === 'TIMESTAMP_MICROS' || ct === 'TIMESTAMP_MILLIS')) {
    const unit = lt?.type === 'TIMESTAMP' ? lt.unit : ct === 'TIMESTAMP_MILLIS' ? 'MILLIS' : 'MICROS';
    const utc = lt?.type === 'TIMESTAMP' ? lt.isAdjustedToUTC : true;
    if (unit === 'NANOS') return undefined; // beyond 2^53 within a few months of the epoch: the BigInt path
    const per = unit === 'MILLIS' ? 1000 : 1000000;
    const digits = unit === 'MILLIS' ? 3 : 6;
    const z = utc ? 'Z"' : '"';
    const days = new Map<number, string>();
    return (p, i) => {
      const raw = p[i] as bigint;
      if (raw < -9007199254740991n || raw > 9007199254740991n) return '';
      const v = Number(raw);
      const secs = Math.floor(v / per);
      const sub = v - secs * per;
      const day = Math.floor(secs / 86400);
      const r = secs - day * 86400;
      let d = days.get(day);
      if (d === undefined) {
        d = `"${dateFromDays(day)}T`;
        if (days.size > 4096) days.clear();
        days.set(day, d);
      }
      const hms = `${pad2(Math.floor(r / 3600))}:${pad2(Math.floor(r / 60) % 60)}:${pad2(r % 60)}`;
      if (sub === 0) return d + hms + z;
      return `${d}${hms}.${String(sub).padStart(digits, '0').replace(/0+$/, '')}${z}`;
    };
  }
  if (orig.type === 'DOUBLE' && !ct && !lt)
    return (p, i) => {
      const v = p[i] as number;
      return Number.isFinite(v) ? String(v) : `"${v}"`;
    };
  return undefined;
}

export interface FlatColumn {
  /** The element as the file has it (annotations included). */
  orig: SchemaElement;
  conv: ReadConverter;
}

type Decompressors = Record<string, ((input: Uint8Array, outputLength: number) => Uint8Array) | undefined>;

function decompress(body: Uint8Array, size: number, codec: string, compressors: Decompressors): Uint8Array {
  if (codec === 'UNCOMPRESSED') return body;
  const d = compressors[codec];
  let out: Uint8Array;
  if (d) out = d(body, size);
  else if (codec === 'SNAPPY') {
    out = new Uint8Array(size);
    snappyUncompress(body, out);
  } else throw new Unhandled(`codec ${codec}`);
  if (out.length !== size) throw new Error(`a page decompressed to ${out.length} bytes, its header says ${size}`);
  return out;
}

/**
 * A data page's body (v1 or v2): its definition levels into `defs` (an optional column), and
 * its values' bytes, decompressed, as page[vpos..page.length). Both decoders read pages so.
 */
function dataPage(
  h: PageHeader,
  body: Uint8Array,
  codec: string,
  compressors: Decompressors,
  required: boolean,
  defs: Uint8Array,
): { page: Uint8Array; vpos: number; nulls: number } {
  const count = h.numValues;
  let page: Uint8Array;
  let vpos = 0;
  if (h.type === 'DATA_PAGE') {
    page = decompress(body, h.uncompressed, codec, compressors);
    if (!required) {
      const len = new DataView(page.buffer, page.byteOffset).getUint32(0, true);
      readHybrid(page, 4, 4 + len, 1, count, defs);
      vpos = 4 + len;
    }
  } else {
    if (h.repLength) throw new Unhandled('repetition levels');
    if (!required) readHybrid(body, 0, h.defLength, 1, count, defs);
    const values = body.subarray(h.defLength);
    page = h.isCompressed ? decompress(values, h.uncompressed - h.defLength, codec, compressors) : values;
  }
  return { page, vpos, nulls: required ? 0 : zeros(defs, count) };
}

// Hot loops stand in functions of their own, with nothing after the loop but a return: V8
// compiles a long first loop on the stack (OSR) before the code after it has run, and that code
// then deoptimized again on every call (--trace-deopt: dataPage up to 88 times on 100 k rows,
// interleave 16 times, the renderers up to 10).

/** How many of defs[0..count) are 0 (the nulls of a page). */
function zeros(defs: Uint8Array, count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) n += defs[i] === 0 ? 1 : 0;
  return n;
}

const utf8 = new TextDecoder();

/** `count` PLAIN values of the column's physical type from buf[pos..end). */
function readPlainValues(
  e: SchemaElement,
  buf: Uint8Array,
  pos: number,
  end: number,
  count: number,
): ArrayLike<unknown> {
  const need = (k: number) => {
    if (pos + k > end) throw new Error(`PLAIN values end after ${end - pos} bytes, ${count} values need more`);
  };
  const aligned = (w: number) => {
    need(count * w);
    const copy = new Uint8Array(count * w);
    copy.set(buf.subarray(pos, pos + count * w));
    return copy.buffer;
  };
  switch (e.type) {
    case 'INT32':
      return new Int32Array(aligned(4));
    case 'INT64':
      return new BigInt64Array(aligned(8));
    case 'DOUBLE':
      return new Float64Array(aligned(8));
    case 'FLOAT':
      return new Float32Array(aligned(4));
    case 'BOOLEAN': {
      need((count + 7) >> 3);
      const out = new Array<boolean>(count);
      for (let i = 0; i < count; i++) out[i] = ((buf[pos + (i >> 3)] >> (i & 7)) & 1) === 1;
      return out;
    }
    case 'BYTE_ARRAY': {
      const out = new Array<string>(count);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < count; i++) {
        need(4);
        const len = view.getUint32(pos, true);
        pos += 4;
        need(len);
        out[i] = utf8.decode(buf.subarray(pos, pos + len));
        pos += len;
      }
      return out;
    }
    case 'FIXED_LEN_BYTE_ARRAY': {
      const w = e.type_length ?? 0;
      need(count * w);
      const out = new Array<Uint8Array>(count);
      for (let i = 0; i < count; i++) out[i] = buf.subarray(pos + i * w, pos + (i + 1) * w);
      return out;
    }
    default:
      throw new Unhandled(`type ${e.type}`);
  }
}

/**
 * One column chunk of a row group → `n` JSON texts (one per row, 'null' for a null). Throws
 * Unhandled for what only hyparquet reads, Error for a corrupt chunk.
 */
export async function columnTexts(
  buf: AsyncBuffer,
  chunk: ColumnChunk,
  col: FlatColumn,
  n: number,
  compressors: Decompressors,
): Promise<string[]> {
  const md = chunk.meta_data!;
  const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
  const bytes = new Uint8Array(await buf.slice(start, start + Number(md.total_compressed_size)));
  const c: Cursor = { buf: bytes, pos: 0 };
  const codec = md.codec;
  const e = col.orig;
  const required = e.repetition_type === 'REQUIRED';
  const out: string[] = new Array(n);
  let row = 0;
  let dict: string[] | undefined;
  const fast = fastPlain(e);
  const slow = (v: unknown) => jsonText(col.conv(v));
  let defs = new Uint8Array(1024);
  let idx = new Int32Array(1024);
  while (row < n && c.pos < bytes.length) {
    const h = readPageHeader(c);
    const bodyStart = c.pos;
    const bodyEnd = bodyStart + h.compressed;
    if (bodyEnd > bytes.length) throw new Error('a page runs past its column chunk');
    c.pos = bodyEnd;
    if (h.type === 'DICTIONARY_PAGE') {
      if (h.encoding !== 'PLAIN' && h.encoding !== 'PLAIN_DICTIONARY') throw new Unhandled(`dictionary ${h.encoding}`);
      const page = decompress(bytes.subarray(bodyStart, bodyEnd), h.uncompressed, codec, compressors);
      const values = readPlainValues(e, page, 0, page.length, h.numValues);
      dict = new Array(values.length);
      for (let k = 0; k < values.length; k++) dict[k] = slow(values[k]);
      continue;
    }
    if (h.type !== 'DATA_PAGE' && h.type !== 'DATA_PAGE_V2') continue; // an index page
    const count = h.numValues;
    if (defs.length < count) defs = new Uint8Array(count);
    // Levels, then the values' bytes (page[vpos..page.length)).
    const { page, vpos, nulls } = dataPage(h, bytes.subarray(bodyStart, bodyEnd), codec, compressors, required, defs);
    const nv = count - nulls;
    let text: (i: number) => string;
    if (h.encoding === 'RLE_DICTIONARY' || h.encoding === 'PLAIN_DICTIONARY') {
      if (!dict) throw new Error('a dictionary-encoded page without a dictionary page');
      const d = dict;
      if (idx.length < nv) idx = new Int32Array(nv);
      const ix = idx;
      if (nv > 0) readHybrid(page, vpos + 1, page.length, page[vpos], nv, ix);
      text = (i) => {
        const s = d[ix[i]];
        if (s === undefined) throw new Error(`dictionary index ${ix[i]} out of range (${d.length} entries)`);
        return s;
      };
    } else if (h.encoding === 'PLAIN') {
      const data = readPlainValues(e, page, vpos, page.length, nv);
      if (fast) {
        // A value the fast path declines ('') goes through the converter.
        text = (i) => {
          const s = fast(data, i);
          return s !== '' ? s : slow(data[i]);
        };
      } else text = (i) => slow(data[i]);
    } else if (h.encoding === 'RLE' && e.type === 'BOOLEAN') {
      const bits = new Uint8Array(nv);
      const len = new DataView(page.buffer, page.byteOffset).getUint32(vpos, true);
      readHybrid(page, vpos + 4, vpos + 4 + len, 1, nv, bits);
      text = (i) => (bits[i] ? 'true' : 'false');
    } else throw new Unhandled(`encoding ${h.encoding}`);
    let v = 0;
    const first = row;
    const stop = Math.min(n, row + count);
    if (required || nulls === 0) for (; row < stop; row++) out[row] = text(v++);
    else for (; row < stop; row++) out[row] = defs[row - first] === 0 ? 'null' : text(v++);
  }
  if (row !== n) throw new Error(`column "${e.name}": ${row} values decoded, the footer says ${n} rows`);
  return out;
}

// ---------------------------------------------------------------- the byte transcoder
//
// columnBytes() is columnTexts() without a string per value: a column chunk becomes one byte
// buffer of rendered JSON values and, per row, where its value starts and ends in it. A
// dictionary's entries are rendered once (by the reference rules above: jsonText of the
// converter's value, so they are identical by construction) and each row points at its entry;
// a null points at the "null" the buffer starts with. PLAIN values of the common types are
// rendered straight from their bytes (integers, DECIMAL up to 15 digits, DATE, TIMESTAMP
// millis/micros, booleans, ASCII strings); any other value goes through the reference text and
// is copied in as UTF-8. interleave() then writes rows s..e as NDJSON lines into one Buffer.

/** Where a column chunk's values went: value of row i is buf[st[i]..en[i]). Reused per row group. */
export class ColumnBytes {
  buf = new Uint8Array(1 << 16);
  len = 0;
  /** Written before each value: the field's `,"key":` (interleave copies a row's prefix and value as one run). */
  prefix: Uint8Array = new Uint8Array(0);
  st = new Int32Array(0);
  en = new Int32Array(0);
  // Per page scratch: definition levels, dictionary indices; per chunk: the dictionary's entries.
  defs = new Uint8Array(1024);
  idx = new Int32Array(1024);
  dst = new Int32Array(0);
  den = new Int32Array(0);
  // A direct-mapped memo of numbers already rendered in this chunk (value → span): a repeated
  // value of a PLAIN number column points at its first rendering instead of being rendered again.
  memoKey = new Float64Array(MEMO).fill(NaN);
  memoSt = new Int32Array(MEMO);
  memoEn = new Int32Array(MEMO);

  /** Room for k more bytes. */
  need(k: number): Uint8Array {
    // 8 bytes to spare past any value: interleave copies four bytes at a time and may read past its end.
    if (this.len + k + 8 > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + k + 8));
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
    }
    return this.buf;
  }

  /**
   * Room for `count` values of at most `w` bytes each, their prefixes included: a renderer
   * reserves once per page and then writes each value without a call or a check.
   */
  reserve(count: number, w: number): Uint8Array {
    return this.need(count * (this.prefix.length + w));
  }

  /** Writes the prefix; returns where this value (prefix included) starts. */
  begin(): number {
    const at = this.len;
    const pre = this.prefix;
    const b = this.need(pre.length);
    for (let j = 0; j < pre.length; j++) b[at + j] = pre[j];
    this.len = at + pre.length;
    return at;
  }

  /** Appends a string's UTF-8. */
  text(s: string): void {
    this.need(s.length * 3);
    this.len += utf8Out.encodeInto(s, this.buf.subarray(this.len)).written;
  }
}

const utf8Out = new TextEncoder();
const MEMO = 1024;
const NULL = [110, 117, 108, 108]; // null
const TRUE = [116, 114, 117, 101];
const FALSE = [102, 97, 108, 115, 101];

/** How many digits 10 ≤ x < 2^31 has. */
function digitCount(x: number): number {
  if (x < 1e5) return x < 100 ? 2 : x < 1e3 ? 3 : x < 1e4 ? 4 : 5;
  return x < 1e6 ? 6 : x < 1e7 ? 7 : x < 1e8 ? 8 : x < 1e9 ? 9 : 10;
}

/** Writes the digits of a non-negative integer below 2^53 at b[p..]; returns the end. */
function putDigits(b: Uint8Array, p: number, v: number): number {
  if (v < 10) {
    b[p] = 48 + v;
    return p + 1;
  }
  let len: number;
  if (v < 2147483648) {
    let x = v | 0;
    // The length by comparisons, the digits by int32 division by 10 (a multiply): putDigits was
    // 3 % of a lake read (--cpu-prof), mostly floating-point divisions, one per digit.
    len = digitCount(x);
    let q = p + len;
    while (x >= 10) {
      const d = (x / 10) | 0;
      b[--q] = 48 + (x - d * 10);
      x = d;
    }
    b[--q] = 48 + x;
  } else {
    len = 1;
    for (let x = v; x >= 10; len++) x = Math.floor(x / 10);
    let q = p + len;
    let x = v;
    while (x >= 10) {
      const d = Math.floor(x / 10);
      b[--q] = 48 + (x - d * 10);
      x = d;
    }
    b[--q] = 48 + x;
  }
  return p + len;
}

/** An integer below 2^53 in magnitude as its canonical JSON number, at b[p..]. */
function putInt(b: Uint8Array, p: number, v: number): number {
  if (v < 0) {
    b[p++] = 45;
    v = -v;
  }
  return putDigits(b, p, v);
}

/** The INT64 at b[p..p+8) as a number when it is within ±(2^53 − 1), else NaN (the BigInt path). */
function int64At(b: Uint8Array, p: number): number {
  const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  const hi = b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24);
  if ((hi > -2097152 && hi < 2097152) || (hi === -2097152 && lo !== 0)) return hi * 4294967296 + lo;
  return NaN;
}
const int32At = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);

/**
 * Renders `count` PLAIN values from page[pos..end) into `o`, value k's span into st/en at
 * [at + k]. Returns where the bytes now end, for the caller to set as o.len: a store to `o`
 * after the loop would be code with no type feedback when V8 compiles the loop (see zeros()).
 */
type PlainRenderer = (
  o: ColumnBytes,
  page: Uint8Array,
  pos: number,
  end: number,
  count: number,
  st: Int32Array,
  en: Int32Array,
  at: number,
) => number;

function tooShort(end: number, pos: number, count: number): Error {
  return new Error(`PLAIN values end after ${end - pos} bytes, ${count} values need more`);
}

function asciiDate(days: number): Uint8Array {
  return Buffer.from(`"${dateFromDays(days)}`, 'latin1');
}

/** The byte renderer of a column's PLAIN values, or undefined: such values go through the reference text. */
function plainRenderer(e: SchemaElement, slowText: (v: unknown) => string): PlainRenderer | undefined {
  const ct = e.converted_type;
  const lt = e.logical_type;
  const bigText = (v: bigint) => slowText(v);
  if ((e.type === 'INT32' || e.type === 'INT64') && !ct && !lt) {
    const w = e.type === 'INT32' ? 4 : 8;
    return (o, page, pos, end, count, st, en, at) => {
      if (pos + count * w > end) throw tooShort(end, pos, count);
      const mk = o.memoKey;
      const ms = o.memoSt;
      const me = o.memoEn;
      const pre = o.prefix;
      const pl = pre.length;
      let b = o.reserve(count, 21);
      let p = o.len;
      for (let k = 0; k < count; k++, pos += w) {
        const v = w === 4 ? int32At(page, pos) : int64At(page, pos);
        const h = (v | 0) & (MEMO - 1);
        if (mk[h] === v) {
          st[at + k] = ms[h];
          en[at + k] = me[h];
          continue;
        }
        st[at + k] = p;
        for (let j = 0; j < pl; j++) b[p + j] = pre[j];
        if (v === v) {
          const q = putInt(b, p + pl, v);
          mk[h] = v;
          ms[h] = p;
          me[h] = p = q;
        } else {
          o.len = p + pl;
          o.text(bigText(new DataView(page.buffer, page.byteOffset + pos, 8).getBigInt64(0, true)));
          b = o.reserve(count - k, 21);
          p = o.len;
        }
        en[at + k] = p;
      }
      return p;
    };
  }
  if ((e.type === 'INT32' || e.type === 'INT64') && (ct === 'DECIMAL' || lt?.type === 'DECIMAL')) {
    const scale = e.scale ?? (lt?.type === 'DECIMAL' ? lt.scale : 0) ?? 0;
    if (scale > 15) return undefined;
    const unit = 10 ** scale;
    const w = e.type === 'INT32' ? 4 : 8;
    return (o, page, pos, end, count, st, en, at) => {
      if (pos + count * w > end) throw tooShort(end, pos, count);
      const mk = o.memoKey;
      const ms = o.memoSt;
      const me = o.memoEn;
      const pre = o.prefix;
      const pl = pre.length;
      let b = o.reserve(count, 34);
      let p = o.len;
      for (let k = 0; k < count; k++, pos += w) {
        const c = w === 4 ? int32At(page, pos) : int64At(page, pos);
        const h = (c | 0) & (MEMO - 1);
        if (mk[h] === c) {
          st[at + k] = ms[h];
          en[at + k] = me[h];
          continue;
        }
        const from = (st[at + k] = p);
        for (let j = 0; j < pl; j++) b[p + j] = pre[j];
        p += pl;
        const a = c < 0 ? -c : c;
        const ip = Math.floor(a / unit);
        const fp = a - ip * unit;
        if (c !== c || a > 999999999999999 || (ip === 0 && fp !== 0 && a * 1e6 < unit)) {
          // Beyond 15 digits (the raw value), or below 1e-6 (its exponent form): the reference text.
          const big = c !== c || a > 999999999999999;
          const raw = big && w === 8 ? new DataView(page.buffer, page.byteOffset + pos, 8).getBigInt64(0, true) : c;
          o.len = p;
          o.text(slowText(raw));
          b = o.reserve(count - k, 34);
          p = o.len;
        } else if (scale === 0) p = putInt(b, p, c);
        else {
          if (c < 0) b[p++] = 45;
          p = putDigits(b, p, ip);
          if (fp !== 0) {
            b[p] = 46;
            // scale digits of fp, zero-padded, then the trailing zeros dropped (int32 arithmetic up to 9).
            if (scale <= 9) {
              let x = fp | 0;
              for (let q = p + scale; q > p; q--) {
                const d = (x / 10) | 0;
                b[q] = 48 + (x - d * 10);
                x = d;
              }
            } else {
              let x = fp;
              for (let q = p + scale; q > p; q--) {
                const d = Math.floor(x / 10);
                b[q] = 48 + (x - d * 10);
                x = d;
              }
            }
            p += scale + 1;
            while (b[p - 1] === 48) p--;
          }
        }
        en[at + k] = p;
        if (c === c) {
          mk[h] = c;
          ms[h] = from;
          me[h] = p;
        }
      }
      return p;
    };
  }
  if (e.type === 'INT32' && (ct === 'DATE' || lt?.type === 'DATE')) {
    const days = new Map<number, Uint8Array>();
    return (o, page, pos, end, count, st, en, at) => {
      if (pos + count * 4 > end) throw tooShort(end, pos, count);
      const pre = o.prefix;
      const pl = pre.length;
      // `"` and a date of at most 7 year digits (an INT32 of days), `"`.
      const b = o.reserve(count, 24);
      let p = o.len;
      for (let k = 0; k < count; k++, pos += 4) {
        const d = int32At(page, pos);
        let t = days.get(d);
        if (t === undefined) {
          t = asciiDate(d);
          if (days.size > 4096) days.clear();
          days.set(d, t);
        }
        st[at + k] = p;
        for (let j = 0; j < pl; j++) b[p + j] = pre[j];
        p += pl;
        for (let j = 0; j < t.length; j++) b[p++] = t[j];
        b[p++] = 34;
        en[at + k] = p;
      }
      return p;
    };
  }
  if (e.type === 'INT64' && (lt?.type === 'TIMESTAMP' || ct === 'TIMESTAMP_MICROS' || ct === 'TIMESTAMP_MILLIS')) {
    const unit = lt?.type === 'TIMESTAMP' ? lt.unit : ct === 'TIMESTAMP_MILLIS' ? 'MILLIS' : 'MICROS';
    if (unit === 'NANOS') return undefined;
    const utc = lt?.type === 'TIMESTAMP' ? lt.isAdjustedToUTC : true;
    const per = unit === 'MILLIS' ? 1000 : 1000000;
    const digits = unit === 'MILLIS' ? 3 : 6;
    const days = new Map<number, Uint8Array>();
    let lastDay = NaN;
    let lastT: Uint8Array | undefined;
    return (o, page, pos, end, count, st, en, at) => {
      if (pos + count * 8 > end) throw tooShort(end, pos, count);
      const pre = o.prefix;
      const pl = pre.length;
      // `"`, a date of at most 6 year digits (2^53 ms), then 20 for the time, `Z` and `"`.
      let b = o.reserve(count, 44);
      let p = o.len;
      for (let k = 0; k < count; k++, pos += 8) {
        const v = int64At(page, pos);
        st[at + k] = p;
        for (let j = 0; j < pl; j++) b[p + j] = pre[j];
        p += pl;
        if (v !== v) {
          o.len = p;
          o.text(slowText(new DataView(page.buffer, page.byteOffset + pos, 8).getBigInt64(0, true)));
          b = o.reserve(count - k, 44);
          en[at + k] = p = o.len;
          continue;
        }
        const secs = Math.floor(v / per);
        const sub = v - secs * per;
        const day = Math.floor(secs / 86400);
        const r = secs - day * 86400;
        let t = day === lastDay ? lastT : days.get(day);
        if (t === undefined) {
          t = asciiDate(day);
          if (days.size > 4096) days.clear();
          days.set(day, t);
        }
        lastDay = day;
        lastT = t;
        for (let j = 0; j < t.length; j++) b[p++] = t[j];
        // r < 86400: small-integer arithmetic (no floating-point modulo).
        const ri = r | 0;
        const h = (ri / 3600) | 0;
        const m = ((ri / 60) | 0) % 60;
        const s = ri % 60;
        b[p] = 84; // T
        b[p + 1] = 48 + ((h / 10) | 0);
        b[p + 2] = 48 + (h % 10);
        b[p + 3] = 58;
        b[p + 4] = 48 + ((m / 10) | 0);
        b[p + 5] = 48 + (m % 10);
        b[p + 6] = 58;
        b[p + 7] = 48 + ((s / 10) | 0);
        b[p + 8] = 48 + (s % 10);
        p += 9;
        if (sub !== 0) {
          b[p] = 46;
          let x = sub | 0; // below 10^6
          for (let q = p + digits; q > p; q--) {
            const d = (x / 10) | 0;
            b[q] = 48 + (x - d * 10);
            x = d;
          }
          p += digits + 1;
          while (b[p - 1] === 48) p--;
        }
        if (utc) b[p++] = 90; // Z
        b[p++] = 34;
        en[at + k] = p;
      }
      return p;
    };
  }
  if (e.type === 'BOOLEAN')
    return (o, page, pos, end, count, st, en, at) => {
      if (pos + ((count + 7) >> 3) > end) throw tooShort(end, pos, count);
      const pre = o.prefix;
      const pl = pre.length;
      const b = o.reserve(count, 5);
      let p = o.len;
      for (let k = 0; k < count; k++) {
        const w = ((page[pos + (k >> 3)] >> (k & 7)) & 1) === 1 ? TRUE : FALSE;
        st[at + k] = p;
        for (let j = 0; j < pl; j++) b[p + j] = pre[j];
        p += pl;
        for (let j = 0; j < w.length; j++) b[p++] = w[j];
        en[at + k] = p;
      }
      return p;
    };
  const str = ct === 'UTF8' || ct === 'ENUM' || lt?.type === 'STRING' || lt?.type === 'ENUM';
  if (e.type === 'BYTE_ARRAY' && (str || (!ct && !lt)))
    return (o, page, pos, end, count, st, en, at) => {
      let p = o.len;
      for (let k = 0; k < count; k++) {
        if (pos + 4 > end) throw tooShort(end, pos, count);
        const len = (page[pos] | (page[pos + 1] << 8) | (page[pos + 2] << 16) | (page[pos + 3] << 24)) >>> 0;
        pos += 4;
        if (pos + len > end) throw tooShort(end, pos, count);
        st[at + k] = o.begin();
        putString(o, page, pos, pos + len);
        p = en[at + k] = o.len;
        pos += len;
      }
      return p;
    };
  return undefined;
}

/** JSON.stringify of the UTF-8 text page[from..to), as bytes: ASCII escaped here, anything else by the reference. */
function putString(o: ColumnBytes, page: Uint8Array, from: number, to: number): void {
  const b = o.need((to - from) * 6 + 2);
  let p = o.len;
  b[p++] = 34;
  for (let i = from; i < to; i++) {
    const c = page[i];
    if (c >= 0x20 && c !== 34 && c !== 92 && c < 0x80) b[p++] = c;
    else if (c >= 0x80) {
      // Not ASCII: TextDecoder's rules (replacement characters, a leading BOM) decide, as in the reference.
      o.text(JSON.stringify(utf8.decode(page.subarray(from, to))));
      return;
    } else {
      b[p++] = 92;
      if (c === 34 || c === 92) b[p++] = c;
      else if (c === 8) b[p++] = 98;
      else if (c === 9) b[p++] = 116;
      else if (c === 10) b[p++] = 110;
      else if (c === 12) b[p++] = 102;
      else if (c === 13) b[p++] = 114;
      else {
        b[p] = 117;
        b[p + 1] = 48;
        b[p + 2] = 48;
        b[p + 3] = 48 + (c >> 4);
        const lo = c & 15;
        b[p + 4] = lo < 10 ? 48 + lo : 87 + lo;
        p += 5;
      }
    }
  }
  b[p++] = 34;
  o.len = p;
}

/** A column's PLAIN values rendered by the reference text (readPlainValues, the fast texts, the converter). */
function referencePlain(e: SchemaElement, slowText: (v: unknown) => string): PlainRenderer {
  const fast = fastPlain(e);
  return (o, page, pos, end, count, st, en, at) => {
    const data = readPlainValues(e, page, pos, end, count);
    let p = o.len;
    for (let k = 0; k < count; k++) {
      st[at + k] = o.begin();
      const s = fast ? fast(data, k) : '';
      o.text(s !== '' ? s : slowText(data[k]));
      p = en[at + k] = o.len;
    }
    return p;
  };
}

/** Renderers of one column, made once per file. */
export interface ColumnPlan {
  col: FlatColumn;
  plain: PlainRenderer;
  /** Whether PLAIN values have their own byte renderer (else the reference text). */
  bytes: boolean;
  slowText: (v: unknown) => string;
}

export function columnPlan(col: FlatColumn): ColumnPlan {
  const slowText = (v: unknown) => jsonText(col.conv(v));
  const own = plainRenderer(col.orig, slowText);
  return { col, plain: own ?? referencePlain(col.orig, slowText), bytes: own !== undefined, slowText };
}

/**
 * One column chunk (its bytes, from the dictionary page or first data page on) → `n` rendered
 * values in `o`. Throws Unhandled for what only hyparquet reads, Error for a corrupt chunk.
 */
export function columnBytes(
  bytes: Uint8Array,
  codec: string,
  plan: ColumnPlan,
  n: number,
  compressors: Decompressors,
  o: ColumnBytes,
): void {
  const e = plan.col.orig;
  const required = e.repetition_type === 'REQUIRED';
  if (o.st.length < n) {
    o.st = new Int32Array(n);
    o.en = new Int32Array(n);
  }
  const st = o.st;
  const en = o.en;
  o.len = 0;
  o.memoKey.fill(NaN);
  o.begin();
  const b0 = o.need(4);
  for (let j = 0; j < 4; j++) b0[o.len + j] = NULL[j];
  o.len += 4;
  const nullEnd = o.len; // prefix + "null" at 0..nullEnd
  const c: Cursor = { buf: bytes, pos: 0 };
  let row = 0;
  let dictSize = -1;
  while (row < n && c.pos < bytes.length) {
    const h = readPageHeader(c);
    const bodyStart = c.pos;
    const bodyEnd = bodyStart + h.compressed;
    if (bodyEnd > bytes.length) throw new Error('a page runs past its column chunk');
    c.pos = bodyEnd;
    if (h.type === 'DICTIONARY_PAGE') {
      if (h.encoding !== 'PLAIN' && h.encoding !== 'PLAIN_DICTIONARY') throw new Unhandled(`dictionary ${h.encoding}`);
      const page = decompress(bytes.subarray(bodyStart, bodyEnd), h.uncompressed, codec, compressors);
      const count = h.numValues;
      if (o.dst.length < count) {
        o.dst = new Int32Array(count);
        o.den = new Int32Array(count);
      }
      // Each entry rendered once, as a PLAIN value.
      o.len = plan.plain(o, page, 0, page.length, count, o.dst, o.den, 0);
      dictSize = count;
      continue;
    }
    if (h.type !== 'DATA_PAGE' && h.type !== 'DATA_PAGE_V2') continue; // an index page
    const count = h.numValues;
    if (o.defs.length < count) o.defs = new Uint8Array(count);
    const defs = o.defs;
    const paged = dataPage(h, bytes.subarray(bodyStart, bodyEnd), codec, compressors, required, defs);
    let page = paged.page;
    const { vpos, nulls } = paged;
    const nv = count - nulls;
    const take = Math.min(count, n - row);
    const dense = required || nulls === 0;
    if (h.encoding === 'RLE_DICTIONARY' || h.encoding === 'PLAIN_DICTIONARY') {
      if (dictSize < 0) throw new Error('a dictionary-encoded page without a dictionary page');
      if (o.idx.length < nv) o.idx = new Int32Array(nv);
      const ix = o.idx;
      if (nv > 0) readHybrid(page, vpos + 1, page.length, page[vpos], nv, ix);
      if (dense) entrySpans(ix, take, st, en, row, o.dst, o.den, dictSize);
      else nullableEntrySpans(ix, defs, take, st, en, row, o.dst, o.den, dictSize, nullEnd);
    } else {
      let render: PlainRenderer;
      let vp = vpos;
      if (h.encoding === 'PLAIN') render = plan.plain;
      else if (h.encoding === 'RLE' && e.type === 'BOOLEAN') {
        const bits = new Uint8Array(nv);
        const len = new DataView(page.buffer, page.byteOffset).getUint32(vpos, true);
        readHybrid(page, vpos + 4, vpos + 4 + len, 1, nv, bits);
        render = (o2, _p, _pos, _end, cnt, s2, e2, at) => {
          let end = o2.len;
          for (let k = 0; k < cnt; k++) {
            const w = bits[k] ? TRUE : FALSE;
            s2[at + k] = o2.begin();
            const b = o2.need(5);
            let p = o2.len;
            for (let j = 0; j < w.length; j++) b[p++] = w[j];
            end = o2.len = e2[at + k] = p;
          }
          return end;
        };
        page = bits;
        vp = 0;
      } else throw new Unhandled(`encoding ${h.encoding}`);
      if (dense) {
        // Straight into this page's rows (a last page longer than the footer's rows: all rendered, extra ignored).
        if (take === count) o.len = render(o, page, vp, page.length, nv, st, en, row);
        else {
          const ts = new Int32Array(nv);
          const te = new Int32Array(nv);
          o.len = render(o, page, vp, page.length, nv, ts, te, 0);
          st.set(ts.subarray(0, take), row);
          en.set(te.subarray(0, take), row);
        }
      } else {
        // The non-null values rendered in order, then spread over the rows.
        const ts = new Int32Array(nv);
        const te = new Int32Array(nv);
        o.len = render(o, page, vp, page.length, nv, ts, te, 0);
        let v = 0;
        for (let i = 0; i < take; i++) {
          if (defs[i] === 0) {
            st[row + i] = 0;
            en[row + i] = nullEnd;
          } else {
            st[row + i] = ts[v];
            en[row + i] = te[v++];
          }
        }
      }
    }
    row += take;
  }
  if (row !== n) throw new Error(`column "${e.name}": ${row} values decoded, the footer says ${n} rows`);
}

/** Rows row..row+take of a dictionary-encoded page with no nulls: each row's span is its entry's. */
function entrySpans(
  ix: Int32Array,
  take: number,
  st: Int32Array,
  en: Int32Array,
  row: number,
  dst: Int32Array,
  den: Int32Array,
  dictSize: number,
): void {
  for (let i = 0; i < take; i++) {
    const d = ix[i];
    if (d >= dictSize || d < 0) throw new Error(`dictionary index ${d} out of range (${dictSize} entries)`);
    st[row + i] = dst[d];
    en[row + i] = den[d];
  }
}

/** entrySpans() for a page with nulls: a null's span is the "null" at 0..nullEnd. */
function nullableEntrySpans(
  ix: Int32Array,
  defs: Uint8Array,
  take: number,
  st: Int32Array,
  en: Int32Array,
  row: number,
  dst: Int32Array,
  den: Int32Array,
  dictSize: number,
  nullEnd: number,
): void {
  let v = 0;
  for (let i = 0; i < take; i++) {
    if (defs[i] === 0) {
      st[row + i] = 0;
      en[row + i] = nullEnd;
      continue;
    }
    const d = ix[v++];
    if (d >= dictSize || d < 0) throw new Error(`dictionary index ${d} out of range (${dictSize} entries)`);
    st[row + i] = dst[d];
    en[row + i] = den[d];
  }
}

/** One output field of a line: a column (its prefix holds its key) or a key with a fixed value. */
export interface LinePart {
  col?: ColumnBytes;
  fixed?: Uint8Array;
}

/** `{"name":` for the first field of a line, `,"name":` for the others. */
export const keyBytes = (name: string, first: boolean): Uint8Array =>
  Buffer.from(`${first ? '{' : ','}${JSON.stringify(name)}:`, 'utf8');

/** Bytes joined, with 8 to spare (word copies read past the end). */
const padded = (xs: Uint8Array[]) => {
  const out = new Uint8Array(xs.reduce((k, x) => k + x.length, 0) + 8);
  let p = 0;
  for (const x of xs) {
    out.set(x, p);
    p += x.length;
  }
  return { bytes: out, len: p };
};

/**
 * Rows s..e as NDJSON lines in one Buffer. A line is fixed bytes and column values in turn:
 * fixed[0] col[0] fixed[1] … col[m-1] fixed[m] (a column's value comes with its key, a fixed run
 * holds hive fields' keys and values, and `{` when no column comes first), then the lineage line
 * number when asked, and `}` with a newline. Copies go four bytes at a time: the output has room
 * past its end, the column buffers 8 bytes past their last value.
 */
export function interleave(
  parts: LinePart[],
  s: number,
  e: number,
  lineage: { tail: Uint8Array; start: number } | undefined,
): Buffer {
  const fixed: DataView[] = [];
  const flen: number[] = [];
  const cols: ColumnBytes[] = [];
  let run: Uint8Array[] = parts.length === 0 ? [new Uint8Array([123])] : [];
  const close = () => {
    const p = padded(run);
    fixed.push(new DataView(p.bytes.buffer));
    flen.push(p.len);
    run = [];
  };
  for (const p of parts) {
    if (p.col) {
      close();
      cols.push(p.col);
    } else run.push(p.fixed!);
  }
  if (lineage) run.push(lineage.tail);
  close();
  let total = 0;
  for (const f of flen) total += f;
  total = (total + 2 + (lineage ? 16 : 0)) * (e - s);
  for (const c of cols) total += spanBytes(c.st, c.en, s, e);
  const buf = Buffer.allocUnsafe(total + 8);
  const q = writeRows(
    buf,
    fixed,
    flen,
    cols.map((c) => c.st),
    cols.map((c) => c.en),
    cols.map((c) => new DataView(c.buf.buffer, c.buf.byteOffset, c.buf.byteLength)),
    s,
    e,
    lineage ? lineage.start : -1,
  );
  return buf.subarray(0, q);
}

/** The bytes of spans s..e. */
function spanBytes(st: Int32Array, en: Int32Array, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) n += en[i] - st[i];
  return n;
}

/** interleave's rows into buf (the line number after the fixed bytes when `line0` ≥ 0); returns the end. */
function writeRows(
  buf: Buffer,
  fixed: DataView[],
  flen: number[],
  sts: Int32Array[],
  ens: Int32Array[],
  views: DataView[],
  s: number,
  e: number,
  line0: number,
): number {
  const out = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const ov = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const m = sts.length;
  const fl = flen[m];
  const f = fixed[m];
  let q = 0;
  for (let i = s; i < e; i++) {
    for (let k = 0; k < m; k++) {
      const fk = flen[k];
      if (fk !== 0) {
        const x = fixed[k];
        for (let j = 0; j < fk; j += 4) ov.setInt32(q + j, x.getInt32(j, true), true);
        q += fk;
      }
      const src = views[k];
      const a = sts[k][i];
      const len = ens[k][i] - a;
      for (let j = 0; j < len; j += 4) ov.setInt32(q + j, src.getInt32(a + j, true), true);
      q += len;
    }
    for (let j = 0; j < fl; j += 4) ov.setInt32(q + j, f.getInt32(j, true), true);
    q += fl;
    if (line0 >= 0) q = putDigits(out, q, line0 + i + 1);
    out[q++] = 125;
    out[q++] = 10;
  }
  return q;
}
