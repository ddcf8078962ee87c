// bx's own Parquet column encoder for flat (non-nested) OPTIONAL columns: values arrive already
// converted by the column plans (parquet-types.ts) and are held in typed arrays, one per column,
// until the row group is written. Pages are DATA_PAGE_V2, levels RLE/bit-packed, values PLAIN or
// (byte arrays) RLE_DICTIONARY with a PLAIN dictionary page, compressed with the codec given.
// Measured (bench/parquet.sh, docs/design.md): hyparquet-writer spent ~40 % of a write in its
// generic column path (value arrays sliced per page, statistics over boxed values, one
// appendUint8 per level); this path writes the same files from typed arrays, several times faster.
// Page headers and levels are parquet-pages.ts's; hyparquet-writer still writes the footer.
import type { ColumnChunk, CompressionCodec, Encoding, SchemaElement, Statistics as Stats } from 'hyparquet';
import type { ByteWriter } from 'hyparquet-writer';
import { toJson } from 'hyparquet';
import { Bytes as Scratch, writeHybrid, writePageHeader, type PageHeader } from './parquet-pages.js';

/** Chunk statistics as hyparquet-writer serializes them (nan_count included). */
type Statistics = Stats & { nan_count?: bigint };

export type Compressor = (input: Uint8Array) => Uint8Array;

/** Where a column chunk goes: hyparquet-writer's ByteWriter (its `offset` counts every byte written). */
export type ChunkOut = InstanceType<typeof ByteWriter>;

/** The page size aimed at (as parquet-mr and hyparquet-writer: 1 MB of values). */
const PAGE_BYTES = 1 << 20;
/** A byte-array column whose dictionary outgrows this is written PLAIN instead. */
const DICT_MAX_BYTES = 1 << 20;

const scratch = new Scratch();
const levels = new Scratch();
const header = new Scratch();

/** `n` values, each below 2^bitWidth (≤ 24), as one bit-packed run of the RLE/bit-packing hybrid. */
function bitPack(out: Scratch, idx: Int32Array, from: number, to: number, bitWidth: number): void {
  const n = to - from;
  if (bitWidth === 0) {
    out.varint(n << 1); // one RLE run of zeros: no value bytes at width 0
    return;
  }
  const groups = (n + 7) >>> 3;
  out.varint((groups << 1) | 1);
  out.ensure(groups * bitWidth);
  const buf = out.buf;
  let o = out.n;
  let acc = 0;
  let bits = 0;
  const end = from + groups * 8;
  for (let i = from; i < end; i++) {
    acc |= (i < to ? idx[i] : 0) << bits;
    bits += bitWidth;
    while (bits >= 8) {
      buf[o++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  out.n = o;
}

const PAGE: PageHeader = {
  type: 'DATA_PAGE_V2',
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

/** One column's values for the row group being built. */
export abstract class ColumnBuffer {
  /** Rows held (nulls included). */
  n = 0;
  nulls = 0;
  /** 1 = a value, 0 = null, per row. */
  protected defs = new Uint8Array(1024);
  protected count = 0;

  constructor(readonly element: SchemaElement) {}

  /** Bytes held, roughly: what the row-group budget counts. */
  abstract get bytes(): number;

  protected abstract store(v: unknown): void;

  push(v: unknown): void {
    if (v === null || v === undefined) {
      this.pushNull();
      return;
    }
    this.store(v);
    this.pushed();
  }

  pushNull(): void {
    if (this.n === this.defs.length) this.defs = grown(this.defs, this.n * 2);
    this.defs[this.n++] = 0;
    this.nulls++;
  }

  /** Counts the value store() (or a subclass's pushNumber/pushBytes) has just held. */
  protected pushed(): void {
    if (this.n === this.defs.length) this.defs = grown(this.defs, this.n * 2);
    this.defs[this.n++] = 1;
    this.count++;
  }

  /**
   * A value from the byte path (lake-lines.ts): a number for the numeric columns (INT32, INT64
   * below 2^53, DOUBLE, BOOLEAN as 0/1), exactly what store() holds for the record path's value.
   */
  pushNumber(_x: number): void {
    throw new Error(`${this.element.name}: no numeric byte path for ${this.element.type}`);
  }

  /** A BYTE_ARRAY value from the byte path: the UTF-8 bytes buf[s..e), and their fnv1a() when known. */
  pushBytes(_buf: Uint8Array, _s: number, _e: number, _hash?: number): void {
    throw new Error(`${this.element.name}: no byte path for ${this.element.type}`);
  }

  reset(): void {
    this.n = 0;
    this.nulls = 0;
    this.count = 0;
  }

  /** Values from..to (indexes into the non-null values) as PLAIN bytes. */
  protected abstract plain(out: Scratch, from: number, to: number): void;
  /** Values per page. */
  protected abstract pageValues(): number;
  protected abstract stats(): Statistics;

  /** The dictionary page's bytes and each value's index, for byte arrays worth it; else undefined. */
  protected dictionary(): { page: Uint8Array; size: number; idx: Int32Array } | undefined {
    return undefined;
  }

  /** Writes the column chunk (dictionary page, data pages) to `w` and returns its metadata. */
  write(w: ChunkOut, codec: CompressionCodec, compress: Compressor | undefined): ColumnChunk {
    const start = w.offset;
    let uncompressed = 0;
    const dict = this.count ? this.dictionary() : undefined;
    let dictionary_page_offset: bigint | undefined;
    if (dict) {
      dictionary_page_offset = BigInt(w.offset);
      const body = compress ? compress(dict.page) : dict.page;
      header.n = 0;
      writePageHeader(header, {
        ...PAGE,
        type: 'DICTIONARY_PAGE',
        uncompressed: dict.page.length,
        compressed: body.length,
        numValues: dict.size,
        encoding: 'PLAIN',
      });
      uncompressed += header.n + dict.page.length;
      w.appendBytes(header.bytes());
      w.appendBytes(body);
    }
    const data_page_offset = BigInt(w.offset);
    const perPage = dict ? 1 << 20 : Math.max(1024, this.pageValues());
    const bitWidth = dict ? Math.ceil(Math.log2(dict.size)) : 0;
    // Pages cut at row boundaries: rows r0..r1 hold values v0..v1.
    let r0 = 0;
    let v0 = 0;
    do {
      let r1 = r0;
      let v1 = v0;
      const defs = this.defs;
      while (r1 < this.n && v1 - v0 < perPage) v1 += defs[r1++];
      levels.n = 0;
      if (this.nulls === 0) {
        levels.varint((r1 - r0) << 1);
        levels.ensure(1);
        levels.buf[levels.n++] = 1;
      } else writeHybrid(levels, defs, r0, r1, 1);
      scratch.n = 0;
      if (dict) {
        scratch.ensure(1);
        scratch.buf[scratch.n++] = bitWidth;
        bitPack(scratch, dict.idx, v0, v1, bitWidth);
      } else this.plain(scratch, v0, v1);
      const values = scratch.bytes();
      const body = compress ? compress(values) : values;
      header.n = 0;
      writePageHeader(header, {
        ...PAGE,
        type: 'DATA_PAGE_V2',
        uncompressed: levels.n + values.length,
        compressed: levels.n + body.length,
        numValues: r1 - r0,
        numNulls: r1 - r0 - (v1 - v0),
        numRows: r1 - r0,
        encoding: dict ? 'RLE_DICTIONARY' : this.element.type === 'BOOLEAN' ? 'RLE' : 'PLAIN',
        defLength: levels.n,
        isCompressed: codec !== 'UNCOMPRESSED',
      });
      uncompressed += header.n + levels.n + values.length;
      w.appendBytes(header.bytes());
      w.appendBytes(levels.bytes());
      w.appendBytes(body);
      r0 = r1;
      v0 = v1;
    } while (r0 < this.n);
    const encodings: Encoding[] = dict
      ? ['PLAIN', 'RLE', 'RLE_DICTIONARY']
      : this.element.type === 'BOOLEAN'
        ? ['RLE']
        : ['PLAIN', 'RLE'];
    return {
      file_offset: BigInt(start),
      meta_data: {
        type: this.element.type!,
        encodings,
        path_in_schema: [this.element.name],
        codec,
        num_values: BigInt(this.n),
        total_uncompressed_size: BigInt(uncompressed),
        total_compressed_size: BigInt(w.offset - start),
        data_page_offset,
        dictionary_page_offset,
        statistics: { null_count: BigInt(this.nulls), ...(this.count ? this.stats() : {}) },
      },
    };
  }
}

function grown<T extends Uint8Array | Uint16Array | Int32Array | Float64Array | BigInt64Array>(a: T, size: number): T {
  const next = new (a.constructor as new (n: number) => T)(size);
  next.set(a as never);
  return next;
}

const isDecimal = (e: SchemaElement) => e.converted_type === 'DECIMAL';

class Int32Column extends ColumnBuffer {
  private vals = new Int32Array(1024);
  get bytes() {
    return this.n + this.count * 4;
  }
  protected store(v: unknown) {
    if (this.count === this.vals.length) this.vals = grown(this.vals, this.count * 2);
    this.vals[this.count] = typeof v === 'bigint' ? Number(v) : (v as number);
  }
  override pushNumber(x: number) {
    if (this.count === this.vals.length) this.vals = grown(this.vals, this.count * 2);
    this.vals[this.count] = x;
    this.pushed();
  }
  protected pageValues() {
    return PAGE_BYTES / 4;
  }
  protected plain(out: Scratch, from: number, to: number) {
    out.ensure((to - from) * 4);
    const b = out.buf;
    let o = out.n;
    const vals = this.vals;
    for (let i = from; i < to; i++) {
      const v = vals[i];
      b[o] = v;
      b[o + 1] = v >> 8;
      b[o + 2] = v >> 16;
      b[o + 3] = v >> 24;
      o += 4;
    }
    out.n = o;
  }
  protected stats(): Statistics {
    let min = this.vals[0];
    let max = min;
    for (let i = 1; i < this.count; i++) {
      const v = this.vals[i];
      if (v < min) min = v;
      else if (v > max) max = v;
    }
    // hyparquet-writer scales a number given for a DECIMAL: an unscaled bigint is taken as it is.
    return isDecimal(this.element)
      ? { min_value: BigInt(min), max_value: BigInt(max) }
      : { min_value: min, max_value: max };
  }
}

/** INT64: numbers (exact below 2^53, the common case: no BigInt per value) until a bigint comes. */
class Int64Column extends ColumnBuffer {
  private nums = new Float64Array(1024);
  private big: BigInt64Array | undefined;
  get bytes() {
    return this.n + this.count * 8;
  }
  protected store(v: unknown) {
    if (this.big) {
      if (this.count === this.big.length) this.big = grown(this.big, this.count * 2);
      this.big[this.count] = typeof v === 'bigint' ? v : BigInt(v as number);
      return;
    }
    if (this.count === this.nums.length) this.nums = grown(this.nums, this.count * 2);
    if (typeof v === 'number') this.nums[this.count] = v;
    else {
      const big = new BigInt64Array(this.nums.length);
      for (let i = 0; i < this.count; i++) big[i] = BigInt(this.nums[i]);
      big[this.count] = v as bigint;
      this.big = big;
    }
  }
  override pushNumber(x: number) {
    this.store(x);
    this.pushed();
  }
  override reset() {
    super.reset();
    this.big = undefined;
  }
  protected pageValues() {
    return PAGE_BYTES / 8;
  }
  protected plain(out: Scratch, from: number, to: number) {
    out.ensure((to - from) * 8);
    const view = out.view;
    let o = out.n;
    if (this.big) {
      const vals = this.big;
      for (let i = from; i < to; i++, o += 8) view.setBigInt64(o, vals[i], true);
    } else {
      const vals = this.nums;
      for (let i = from; i < to; i++, o += 8) {
        const v = vals[i];
        const hi = Math.floor(v / 4294967296);
        view.setUint32(o, v - hi * 4294967296, true);
        view.setInt32(o + 4, hi, true);
      }
    }
    out.n = o;
  }
  protected stats(): Statistics {
    if (this.big) {
      let min = this.big[0];
      let max = min;
      for (let i = 1; i < this.count; i++) {
        const v = this.big[i];
        if (v < min) min = v;
        else if (v > max) max = v;
      }
      return { min_value: min, max_value: max };
    }
    let min = this.nums[0];
    let max = min;
    for (let i = 1; i < this.count; i++) {
      const v = this.nums[i];
      if (v < min) min = v;
      else if (v > max) max = v;
    }
    return { min_value: BigInt(min), max_value: BigInt(max) };
  }
}

class DoubleColumn extends ColumnBuffer {
  private vals = new Float64Array(1024);
  get bytes() {
    return this.n + this.count * 8;
  }
  protected store(v: unknown) {
    if (this.count === this.vals.length) this.vals = grown(this.vals, this.count * 2);
    this.vals[this.count] = v as number;
  }
  override pushNumber(x: number) {
    if (this.count === this.vals.length) this.vals = grown(this.vals, this.count * 2);
    this.vals[this.count] = x;
    this.pushed();
  }
  protected pageValues() {
    return PAGE_BYTES / 8;
  }
  protected plain(out: Scratch, from: number, to: number) {
    out.ensure((to - from) * 8);
    const b = out.buf;
    b.set(new Uint8Array(this.vals.buffer, from * 8, (to - from) * 8), out.n);
    out.n += (to - from) * 8;
  }
  protected stats(): Statistics {
    // NaN is left out of min and max; -0 is the least zero and +0 the greatest (parquet-format).
    let min = Infinity;
    let max = -Infinity;
    let nan = 0;
    for (let i = 0; i < this.count; i++) {
      const v = this.vals[i];
      if (v !== v) nan++;
      else {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    if (nan === this.count) return { nan_count: BigInt(nan) };
    return { min_value: min === 0 ? -0 : min, max_value: max === 0 ? 0 : max, nan_count: BigInt(nan) };
  }
}

class BooleanColumn extends ColumnBuffer {
  private vals = new Uint8Array(1024);
  get bytes() {
    return this.n + this.count;
  }
  protected store(v: unknown) {
    if (this.count === this.vals.length) this.vals = grown(this.vals, this.count * 2);
    this.vals[this.count] = v ? 1 : 0;
  }
  override pushNumber(x: number) {
    this.store(x);
    this.pushed();
  }
  protected pageValues() {
    return PAGE_BYTES * 8;
  }
  protected plain(out: Scratch, from: number, to: number) {
    // DATA_PAGE_V2 booleans: RLE (the hybrid, 1 bit) with its 4-byte length in front.
    out.ensure(4);
    const at = out.n;
    out.n += 4;
    writeHybrid(out, this.vals, from, to, 1);
    out.view.setUint32(at, out.n - at - 4, true);
  }
  protected stats(): Statistics {
    let t = 0;
    for (let i = 0; i < this.count; i++) t += this.vals[i];
    return { min_value: t === this.count, max_value: t > 0 };
  }
}

/**
 * A column's strings across every file being written (LakeSink's open partitions): each distinct
 * value once, numbered in first-seen order. A file's column then finds a value's entry in its own
 * row group's dictionary by that number, through an array, instead of probing a hash table of its
 * own: with 28 partitions taking the sales lines in turn, the 28 tables and key pages of a column
 * of 4 400 products did not stay in the caches, and ByteArrayColumn.hold was 18-21 % of a write's
 * profile (5.6 % on the same lines sorted by partition, --cpu-prof, 1 M rows). Past MAX_SHARED
 * values it closes for good (a column of unique texts would otherwise grow with the input), and
 * each column goes back to a table of its own.
 */
export class SharedDictionary {
  size = 0;
  closed = false;
  /** Open addressing as ByteArrayColumn's: per slot the value's number + 1 (0 = empty), then its hash. */
  private table = new Int32Array(2 * 1024);
  /** The values' bytes end to end; value g is keys[at[g]..at[g + 1]). */
  private keys = new Scratch(16 * 1024);
  private at = new Int32Array(513);

  /** The number of buf[s..e) (hash h), added when new; -1 once the dictionary has closed. */
  intern(buf: Uint8Array, s: number, e: number, h: number): number {
    if (this.closed) return -1;
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    const keys = this.keys.buf;
    const at = this.at;
    const len = e - s;
    let slot = h & mask;
    for (;;) {
      const t = table[slot << 1];
      if (t === 0) break;
      if (table[(slot << 1) + 1] === h) {
        const g = t - 1;
        const o = at[g];
        if (at[g + 1] - o === len) {
          let i = 0;
          while (i < len && keys[o + i] === buf[s + i]) i++;
          if (i === len) return g;
        }
      }
      slot = (slot + 1) & mask;
    }
    if (this.size === MAX_SHARED || this.keys.n + len > MAX_SHARED_BYTES) {
      this.closed = true;
      this.table = new Int32Array(0);
      this.keys = new Scratch(0);
      this.at = new Int32Array(0);
      return -1;
    }
    const g = this.size++;
    if (this.size >= this.at.length) this.at = grown(this.at, this.at.length * 2);
    const out = this.keys;
    out.ensure(len);
    const kb = out.buf;
    for (let i = 0, o = out.n; i < len; i++) kb[o + i] = buf[s + i];
    out.n += len;
    this.at[g + 1] = out.n;
    table[slot << 1] = g + 1;
    table[(slot << 1) + 1] = h;
    if (this.size * 2 > mask + 1) this.rehash((mask + 1) * 2);
    return g;
  }

  private rehash(slots: number) {
    const old = this.table;
    const table = new Int32Array(slots * 2);
    const mask = slots - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      let slot = old[j + 1] & mask;
      while (table[slot << 1] !== 0) slot = (slot + 1) & mask;
      table[slot << 1] = old[j];
      table[(slot << 1) + 1] = old[j + 1];
    }
    this.table = table;
  }
}

/**
 * Values a SharedDictionary numbers before it closes (a file's index + 1 of each then fits the
 * 16 bits of its `local` entry: half the bytes to keep in the caches), and their bytes.
 */
export const MAX_SHARED = 0xffff;
export const MAX_SHARED_BYTES = 8 << 20;

/**
 * UTF-8 strings (and JSON text): a dictionary per row group, PLAIN when it grows past 1 MB. The
 * dictionary is keyed by the value's bytes (an open-addressing table of FNV-1a hashes, or the
 * value's number in a SharedDictionary) and its keys are held as the dictionary page itself
 * (4-byte length, UTF-8), so the byte path pushes a value straight from its input line and the
 * record path pushes the string's UTF-8: one dictionary.
 */
class ByteArrayColumn extends ColumnBuffer {
  /** The distinct values in first-seen order, PLAIN-encoded: the dictionary page. */
  private readonly keys = new Scratch(4096);
  /** Where key k starts in `keys` (its length prefix); at[size] is the end. */
  private at = new Int32Array(1025);
  private hashes = new Int32Array(1024);
  private size = 0;
  /**
   * Open addressing, a power of two of slots, at most half full; each slot two numbers: key index
   * + 1 (0 = empty), then the key's hash, so that a probe reads one cache line, not the table and
   * then `hashes`: with 28 partitions open the tables miss the caches, and hold() was 23 % of a
   * write's profile (1 M sales rows).
   */
  private table = new Int32Array(4096);
  private idx = new Int32Array(1024);
  private readonly json: boolean;
  /** The record path's string as UTF-8. */
  private readonly utf8 = new Scratch(1024);

  /** While shared is open: a value's number there → its index here + 1 (0: not in this row group yet); `table` is unused. */
  private shared: SharedDictionary | undefined;
  private local = new Uint16Array(0);

  constructor(element: SchemaElement, shared?: SharedDictionary) {
    super(element);
    this.json = element.converted_type === 'JSON';
    if (shared && !shared.closed) {
      this.shared = shared;
      this.local = new Uint16Array(Math.max(1024, shared.size));
      this.table = new Int32Array(0);
    }
  }
  get bytes() {
    return this.n + this.count * 4 + this.keys.n + this.size * 12;
  }
  protected store(v: unknown) {
    const s = this.json ? JSON.stringify(toJson(v)) : (v as string);
    const u = this.utf8;
    u.n = 0;
    u.ensure(s.length * 3);
    const len = u.buf.write(s, 0, 'utf8');
    this.hold(u.buf, 0, len, fnv1a(u.buf, 0, len));
  }
  override pushBytes(buf: Uint8Array, s: number, e: number, hash?: number) {
    this.hold(buf, s, e, hash ?? fnv1a(buf, s, e));
    this.pushed();
  }
  /** The index of buf[s..e) (FNV-1a hash h) in the dictionary (added when new), held for the next value. */
  private hold(buf: Uint8Array, s: number, e: number, h: number) {
    if (this.shared) {
      const g = this.shared.intern(buf, s, e, h);
      if (g >= 0) {
        this.holdShared(buf, s, e, h, g);
        return;
      }
      this.unshare();
    }
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    const keys = this.keys.buf;
    const len = e - s;
    let slot = h & mask;
    let k = -1;
    for (;;) {
      const t = table[slot << 1];
      if (t === 0) break;
      const c = t - 1;
      if (table[(slot << 1) + 1] === h && this.at[c + 1] - this.at[c] - 4 === len) {
        let i = 0;
        const o = this.at[c] + 4;
        while (i < len && keys[o + i] === buf[s + i]) i++;
        if (i === len) {
          k = c;
          break;
        }
      }
      slot = (slot + 1) & mask;
    }
    if (k < 0) {
      k = this.add(buf, s, e, h);
      table[slot << 1] = k + 1;
      table[(slot << 1) + 1] = h;
      if (this.size * 2 > mask + 1) this.rehash((mask + 1) * 2);
    }
    if (this.count === this.idx.length) this.idx = grown(this.idx, this.count * 2);
    this.idx[this.count] = k;
  }
  /** hold() for the value numbered g in the shared dictionary: its index here found in `local`. */
  private holdShared(buf: Uint8Array, s: number, e: number, h: number, g: number) {
    if (g >= this.local.length) this.local = grown(this.local, Math.max(g + 1, this.local.length * 2));
    let k = this.local[g] - 1;
    if (k < 0) {
      k = this.add(buf, s, e, h);
      this.local[g] = k + 1;
    }
    if (this.count === this.idx.length) this.idx = grown(this.idx, this.count * 2);
    this.idx[this.count] = k;
  }

  /** Appends buf[s..e) (hash h) to the dictionary page as entry `size`; returns its index. */
  private add(buf: Uint8Array, s: number, e: number, h: number): number {
    const len = e - s;
    const k = this.size++;
    if (this.size >= this.hashes.length) {
      this.hashes = grown(this.hashes, this.hashes.length * 2);
      this.at = grown(this.at, this.hashes.length + 1);
    }
    this.hashes[k] = h;
    const out = this.keys;
    out.ensure(4 + len);
    out.view.setUint32(out.n, len, true);
    const kb = out.buf;
    for (let i = 0, o = out.n + 4; i < len; i++) kb[o + i] = buf[s + i];
    out.n += 4 + len;
    this.at[k + 1] = out.n;
    return k;
  }

  /** The shared dictionary closed: this row group's entries go into a table of the column's own. */
  private unshare() {
    this.shared = undefined;
    this.local = new Uint16Array(0);
    let slots = 2048;
    while (this.size * 2 > slots) slots *= 2;
    this.rehash(slots);
  }

  private rehash(slots: number) {
    const table = new Int32Array(slots * 2);
    const mask = slots - 1;
    for (let c = 0; c < this.size; c++) {
      const h = this.hashes[c];
      let slot = h & mask;
      while (table[slot << 1] !== 0) slot = (slot + 1) & mask;
      table[slot << 1] = c + 1;
      table[(slot << 1) + 1] = h;
    }
    this.table = table;
  }
  override reset() {
    super.reset();
    this.size = 0;
    this.keys.n = 0;
    if (this.shared) this.local.fill(0);
    else this.table.fill(0);
  }
  protected override dictionary() {
    const page = this.keys.bytes();
    if (page.length > DICT_MAX_BYTES && this.size > this.count / 4) return undefined;
    return { page, size: this.size, idx: this.idx };
  }
  protected pageValues() {
    const avg = this.keys.n / Math.max(1, this.size);
    return Math.floor(PAGE_BYTES / Math.max(1, avg));
  }
  protected plain(out: Scratch, from: number, to: number) {
    const page = this.keys.buf;
    const at = this.at;
    for (let i = from; i < to; i++) {
      const k = this.idx[i];
      const a = at[k];
      const len = at[k + 1] - a;
      out.ensure(len);
      page.copy(out.buf, out.n, a, a + len);
      out.n += len;
    }
  }
  protected stats(): Statistics {
    // Byte order of the UTF-8 (unsigned), as parquet-format orders strings.
    const page = this.keys.buf;
    const at = this.at;
    let min = 0;
    let max = 0;
    // Keys compared in place (no view per key): unsigned bytes, then length.
    const cmp = (a: number, b: number) => {
      const as = at[a] + 4;
      const bs = at[b] + 4;
      const al = at[a + 1] - as;
      const bl = at[b + 1] - bs;
      const n = al < bl ? al : bl;
      for (let i = 0; i < n; i++) {
        const d = page[as + i] - page[bs + i];
        if (d !== 0) return d;
      }
      return al - bl;
    };
    for (let k = 1; k < this.size; k++) {
      if (cmp(k, min) < 0) min = k;
      if (cmp(k, max) > 0) max = k;
    }
    const slice = (k: number) => page.subarray(at[k] + 4, at[k + 1]);
    return { min_value: new Uint8Array(slice(min)), max_value: new Uint8Array(slice(max)) };
  }
}

/** The FNV-1a hash of buf[s..e) (the byte path computes it while it scans, parquet-bytes.ts). */
export function fnv1a(buf: Uint8Array, s: number, e: number): number {
  let h = FNV_OFFSET;
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return h;
}
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/** DECIMAL beyond 18 digits: the unscaled value as `type_length` big-endian two's-complement bytes. */
class FixedDecimalColumn extends ColumnBuffer {
  private vals: bigint[] = [];
  get bytes() {
    return this.n + this.count * 40;
  }
  protected store(v: unknown) {
    this.vals[this.count] = v as bigint;
  }
  override reset() {
    super.reset();
    this.vals = [];
  }
  protected pageValues() {
    return PAGE_BYTES / (this.element.type_length ?? 16);
  }
  protected plain(out: Scratch, from: number, to: number) {
    const len = this.element.type_length!;
    out.ensure((to - from) * len);
    const b = out.buf;
    for (let i = from; i < to; i++) {
      let v = BigInt.asUintN(len * 8, this.vals[i]);
      for (let j = len - 1; j >= 0; j--) {
        b[out.n + j] = Number(v & 0xffn);
        v >>= 8n;
      }
      out.n += len;
    }
  }
  protected stats(): Statistics {
    let min = this.vals[0];
    let max = min;
    for (let i = 1; i < this.count; i++) {
      const v = this.vals[i];
      if (v < min) min = v;
      else if (v > max) max = v;
    }
    return { min_value: min, max_value: max };
  }
}

/**
 * The buffer for a flat column's physical type, or undefined where bx's path does not apply; a
 * byte-array column numbers its values in `shared` when given.
 */
export function columnBuffer(e: SchemaElement, shared?: SharedDictionary): ColumnBuffer | undefined {
  if (e.num_children || e.repetition_type !== 'OPTIONAL') return undefined;
  switch (e.type) {
    case 'INT32':
      return new Int32Column(e);
    case 'INT64':
      return new Int64Column(e);
    case 'DOUBLE':
      return new DoubleColumn(e);
    case 'BOOLEAN':
      return new BooleanColumn(e);
    case 'BYTE_ARRAY':
      return new ByteArrayColumn(e, shared);
    case 'FIXED_LEN_BYTE_ARRAY':
      return isDecimal(e) && e.type_length ? new FixedDecimalColumn(e) : undefined;
    default:
      return undefined;
  }
}

/** The compressor for a codec, from those given (a ParquetWriter's: SNAPPY is bx's, formats/snappy.ts, or hyparquet-writer's when none is given). */
export function compressorFor(
  codec: CompressionCodec,
  given: Partial<Record<CompressionCodec, Compressor>>,
): Compressor | undefined {
  if (codec === 'UNCOMPRESSED') return undefined;
  const c = given[codec];
  if (!c) throw new Error(`parquet no compressor for codec ${codec}`);
  return c;
}
