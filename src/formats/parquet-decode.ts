// A flat Parquet row group straight to JSON text, column by column: no object per row, no value
// per row for a dictionary-encoded column (each dictionary entry becomes its JSON text once, a row
// is an index into those). Page headers, levels and PLAIN values are read by parquet-pages.ts;
// values become text by the same rules as columnConverter + jsonLines (the tests hold the two
// paths to the same bytes). Nested columns and types not handled here stay on hyparquet's
// parquetRead (ParquetSource decides with flatColumn()), and so does a row group with an
// encoding not handled here (Unhandled).
import type { AsyncBuffer, ColumnChunk, SchemaElement } from 'hyparquet';
import { snappyUncompress } from 'hyparquet';
import { readHybrid, readPageHeader, type Cursor } from './parquet-pages.js';
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
    let page: Uint8Array;
    let vpos: number;
    let nulls = 0;
    if (h.type === 'DATA_PAGE') {
      page = decompress(bytes.subarray(bodyStart, bodyEnd), h.uncompressed, codec, compressors);
      vpos = 0;
      if (!required) {
        const len = new DataView(page.buffer, page.byteOffset).getUint32(0, true);
        readHybrid(page, 4, 4 + len, 1, count, defs);
        vpos = 4 + len;
      }
    } else {
      if (h.repLength) throw new Unhandled('repetition levels');
      const body = bytes.subarray(bodyStart, bodyEnd);
      if (!required) readHybrid(body, 0, h.defLength, 1, count, defs);
      const values = body.subarray(h.defLength);
      page = h.isCompressed ? decompress(values, h.uncompressed - h.defLength, codec, compressors) : values;
      vpos = 0;
    }
    if (!required) for (let i = 0; i < count; i++) nulls += defs[i] === 0 ? 1 : 0;
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
