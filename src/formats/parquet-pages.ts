// Parquet page plumbing shared by bx's encoder and decoder: page headers in Thrift's compact
// protocol (read and written), the RLE/bit-packing hybrid, PLAIN values. Written here rather
// than imported from hyparquet's src/ files: those are subpath exports the test runner's loader
// cannot resolve, and these few formats are small and fixed (parquet-format's parquet.thrift).

// ---------------------------------------------------------------- Thrift compact protocol

const CT_TRUE = 1;
const CT_FALSE = 2;
const CT_BYTE = 3;
const CT_I16 = 4;
const CT_I32 = 5;
const CT_I64 = 6;
const CT_DOUBLE = 7;
const CT_BINARY = 8;
const CT_LIST = 9;
const CT_SET = 10;
const CT_MAP = 11;
const CT_STRUCT = 12;

export interface Cursor {
  buf: Uint8Array;
  pos: number;
}

function varint(c: Cursor): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (c.pos >= c.buf.length) throw new Error('page header ends inside a number');
    const b = c.buf[c.pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return v;
    shift += 7;
    if (shift > 63) throw new Error('page header: a varint longer than 10 bytes');
  }
}
const zigzag = (c: Cursor) => {
  const v = varint(c);
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
};

function skip(c: Cursor, type: number): void {
  switch (type) {
    case CT_TRUE:
    case CT_FALSE:
      return;
    case CT_BYTE:
      c.pos++;
      return;
    case CT_I16:
    case CT_I32:
    case CT_I64:
      varint(c);
      return;
    case CT_DOUBLE:
      c.pos += 8;
      return;
    case CT_BINARY:
      c.pos += varint(c);
      return;
    case CT_LIST:
    case CT_SET: {
      const h = c.buf[c.pos++];
      const n = h >> 4 === 15 ? varint(c) : h >> 4;
      for (let i = 0; i < n; i++) skip(c, h & 15);
      return;
    }
    case CT_MAP: {
      const n = varint(c);
      if (n === 0) return;
      const kv = c.buf[c.pos++];
      for (let i = 0; i < n; i++) {
        skip(c, kv >> 4);
        skip(c, kv & 15);
      }
      return;
    }
    case CT_STRUCT:
      struct(c, () => false);
      return;
    default:
      throw new Error(`page header: unknown thrift type ${type}`);
  }
}

/** Reads a struct, handing each field to `on` (which reads it and returns true, or false to skip it). */
function struct(c: Cursor, on: (id: number, type: number) => boolean): void {
  let id = 0;
  for (;;) {
    if (c.pos >= c.buf.length) throw new Error('page header: a struct without its end');
    const b = c.buf[c.pos++];
    const type = b & 15;
    if (type === 0) return;
    id = b >> 4 ? id + (b >> 4) : zigzag(c);
    if (!on(id, type)) skip(c, type);
  }
}

export const PAGE_TYPES = ['DATA_PAGE', 'INDEX_PAGE', 'DICTIONARY_PAGE', 'DATA_PAGE_V2'] as const;
export const ENCODINGS = [
  'PLAIN',
  'GROUP_VAR_INT',
  'PLAIN_DICTIONARY',
  'RLE',
  'BIT_PACKED',
  'DELTA_BINARY_PACKED',
  'DELTA_LENGTH_BYTE_ARRAY',
  'DELTA_BYTE_ARRAY',
  'RLE_DICTIONARY',
  'BYTE_STREAM_SPLIT',
] as const;

/** The fields of a PageHeader bx reads or writes. */
export interface PageHeader {
  type: (typeof PAGE_TYPES)[number];
  uncompressed: number;
  compressed: number;
  /** DATA_PAGE, DATA_PAGE_V2, DICTIONARY_PAGE: values (levels count, nulls included). */
  numValues: number;
  encoding: string;
  /** DATA_PAGE_V2 */
  numNulls: number;
  numRows: number;
  defLength: number;
  repLength: number;
  isCompressed: boolean;
}

export function readPageHeader(c: Cursor): PageHeader {
  const h: PageHeader = {
    type: 'DATA_PAGE',
    uncompressed: 0,
    compressed: 0,
    numValues: 0,
    encoding: 'PLAIN',
    numNulls: 0,
    numRows: 0,
    defLength: 0,
    repLength: 0,
    isCompressed: true,
  };
  const enc = (v: number) => ENCODINGS[v] ?? `encoding ${v}`;
  struct(c, (id, type) => {
    if (id === 1 && type === CT_I32) h.type = PAGE_TYPES[zigzag(c)] ?? ('?' as never);
    else if (id === 2 && type === CT_I32) h.uncompressed = zigzag(c);
    else if (id === 3 && type === CT_I32) h.compressed = zigzag(c);
    else if (id === 5 && type === CT_STRUCT)
      struct(c, (f, t) => {
        if (f === 1 && t === CT_I32) h.numValues = zigzag(c);
        else if (f === 2 && t === CT_I32) h.encoding = enc(zigzag(c));
        else if (f === 3 && t === CT_I32) {
          if (zigzag(c) !== 3) h.encoding = 'definition levels not RLE';
        } else return false;
        return true;
      });
    else if (id === 7 && type === CT_STRUCT)
      struct(c, (f, t) => {
        if (f === 1 && t === CT_I32) h.numValues = zigzag(c);
        else if (f === 2 && t === CT_I32) h.encoding = enc(zigzag(c));
        else return false;
        return true;
      });
    else if (id === 8 && type === CT_STRUCT)
      struct(c, (f, t) => {
        if (t === CT_I32) {
          const v = zigzag(c);
          if (f === 1) h.numValues = v;
          else if (f === 2) h.numNulls = v;
          else if (f === 3) h.numRows = v;
          else if (f === 4) h.encoding = enc(v);
          else if (f === 5) h.defLength = v;
          else if (f === 6) h.repLength = v;
          return true;
        }
        if (f === 7 && (t === CT_TRUE || t === CT_FALSE)) {
          h.isCompressed = t === CT_TRUE;
          return true;
        }
        return false;
      });
    else return false;
    return true;
  });
  return h;
}

/** A growable byte buffer (reused page after page). */
export class Bytes {
  buf: Buffer;
  view: DataView;
  n = 0;
  /** `size`: the first allocation (a buffer per dictionary column per open file starts small). */
  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
  ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v;
  }
  varint(v: number): void {
    this.ensure(10);
    while (v > 0x7f) {
      this.buf[this.n++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }
  append(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

/** Field header, then the field: i32 fields as zigzag varints. */
function fieldI32(out: Bytes, last: { id: number }, id: number, v: number): void {
  fieldHead(out, last, id, CT_I32);
  out.varint(v >= 0 ? v * 2 : -v * 2 - 1);
}
function fieldHead(out: Bytes, last: { id: number }, id: number, type: number): void {
  const d = id - last.id;
  if (d > 0 && d < 16) out.byte((d << 4) | type);
  else {
    out.byte(type);
    out.varint(id * 2);
  }
  last.id = id;
}

/** Writes a PageHeader (DICTIONARY_PAGE or DATA_PAGE_V2) in the compact protocol. */
export function writePageHeader(out: Bytes, h: PageHeader): void {
  const top = { id: 0 };
  fieldI32(out, top, 1, PAGE_TYPES.indexOf(h.type));
  fieldI32(out, top, 2, h.uncompressed);
  fieldI32(out, top, 3, h.compressed);
  const inner = { id: 0 };
  const enc = ENCODINGS.indexOf(h.encoding as never);
  if (h.type === 'DICTIONARY_PAGE') {
    fieldHead(out, top, 7, CT_STRUCT);
    fieldI32(out, inner, 1, h.numValues);
    fieldI32(out, inner, 2, enc);
  } else {
    fieldHead(out, top, 8, CT_STRUCT);
    fieldI32(out, inner, 1, h.numValues);
    fieldI32(out, inner, 2, h.numNulls);
    fieldI32(out, inner, 3, h.numRows);
    fieldI32(out, inner, 4, enc);
    fieldI32(out, inner, 5, h.defLength);
    fieldI32(out, inner, 6, h.repLength);
    if (!h.isCompressed) fieldHead(out, inner, 7, CT_FALSE);
  }
  out.byte(0);
  out.byte(0);
}

// ---------------------------------------------------------------- RLE / bit-packing hybrid

/**
 * Decodes `count` values of `bitWidth` bits from buf[pos..end) into `out` (from index 0).
 * Returns the position after the last run read.
 */
export function readHybrid(
  buf: Uint8Array,
  pos: number,
  end: number,
  bitWidth: number,
  count: number,
  out: Int32Array | Uint8Array,
): number {
  const width = (bitWidth + 7) >> 3;
  const mask = bitWidth >= 32 ? 0xffffffff : (1 << bitWidth) - 1;
  let i = 0;
  while (i < count) {
    if (pos >= end) throw new Error(`RLE/bit-packed data ends after ${i} of ${count} values`);
    let h = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      h += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    if (h % 2 === 0) {
      let v = 0;
      for (let k = 0; k < width; k++) v |= buf[pos++] << (8 * k);
      const n = Math.min(h / 2, count - i);
      out.fill(v, i, i + n);
      i += n;
    } else {
      const n = ((h - 1) / 2) * 8;
      const stop = pos + ((n * bitWidth + 7) >> 3);
      if (stop > end) throw new Error('a bit-packed run past the end of its data');
      const last = Math.min(count, i + n);
      if (bitWidth <= 24) {
        let acc = 0;
        let bits = 0;
        while (i < last) {
          while (bits < bitWidth) {
            acc |= buf[pos++] << bits;
            bits += 8;
          }
          out[i++] = acc & mask;
          acc >>>= bitWidth;
          bits -= bitWidth;
        }
      } else {
        let acc = 0;
        let bits = 0;
        while (i < last) {
          while (bits < bitWidth) {
            acc += buf[pos++] * 2 ** bits;
            bits += 8;
          }
          out[i++] = acc % 2 ** bitWidth;
          acc = Math.floor(acc / 2 ** bitWidth);
          bits -= bitWidth;
        }
      }
      pos = stop;
    }
  }
  return pos;
}

/** `values[from..to)` (each below 2^bitWidth) as RLE runs (8 or more equal) and bit-packed groups. */
export function writeHybrid(out: Bytes, values: ArrayLike<number>, from: number, to: number, bitWidth: number): void {
  const width = (bitWidth + 7) >> 3;
  let i = from;
  let packStart = -1;
  const flushPacked = (end: number) => {
    // Groups of 8 from packStart up to end (the last group padded with zeros).
    const groups = Math.ceil((end - packStart) / 8);
    out.varint(groups * 2 + 1);
    out.ensure(groups * bitWidth);
    let acc = 0;
    let bits = 0;
    for (let k = packStart, stop = packStart + groups * 8; k < stop; k++) {
      acc |= (k < end ? values[k] : 0) << bits;
      bits += bitWidth;
      while (bits >= 8) {
        out.buf[out.n++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
    packStart = -1;
  };
  while (i < to) {
    const v = values[i];
    let run = 1;
    while (i + run < to && values[i + run] === v) run++;
    // A run may start a new RLE block only on a group boundary of the packed values before it.
    if (run >= 8 && (packStart < 0 || (i - packStart) % 8 === 0)) {
      if (packStart >= 0) flushPacked(i);
      out.varint(run * 2);
      out.ensure(width);
      for (let k = 0; k < width; k++) out.buf[out.n++] = (v >>> (8 * k)) & 0xff;
      i += run;
    } else {
      if (packStart < 0) packStart = i;
      i += Math.min(run, 8 - ((i - packStart) % 8) || 8);
    }
  }
  if (packStart >= 0) flushPacked(to);
}
