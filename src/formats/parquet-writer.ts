// One Parquet file being written to a hidden temp file, renamed to its name only when its footer
// is written and fsynced. The rows of the current row group are held as columns, already
// converted: in typed arrays, encoded by bx's own column encoder (parquet-encode.ts), with
// hyparquet-writer's ParquetWriter writing the header and footer (ParquetPart); or as JS arrays
// handed to hyparquet-writer whole (HyparquetPart: the former path, kept as the tests' reference).
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CompressionCodec, KeyValue } from 'hyparquet';
import type { ColumnPlan } from './parquet-types.js';
import {
  columnBuffer,
  compressorFor,
  type ColumnBuffer,
  type Compressor as ColumnCompressor,
  type SharedDictionary,
} from './parquet-encode.js';

// hyparquet-writer's own file writer flushes at 1 MB and grows its buffer by doubling; with many
// partitions open at once that is the memory, so flush sooner.
const FLUSH_AT = 256 * 1024;
/** Appends this large are written straight to the file. */
const DIRECT_AT = 32 * 1024;

type WriterModule = typeof import('hyparquet-writer');
type Compressor = (input: Uint8Array) => Uint8Array;

export interface PartOptions {
  codec: CompressionCodec;
  compressors: Partial<Record<CompressionCodec, Compressor>>;
  kvMetadata: KeyValue[];
  /** Per column: the dictionary its strings are numbered in across the files being written (ParquetPart). */
  shared?: (SharedDictionary | undefined)[];
}

/** What LakeSink needs of a file being written. */
export interface PartWriter {
  readonly path: string;
  /** Rows held for the next row group. */
  buffered: number;
  rows: number;
  lastUse: number;
  /** Bytes held for the next row group (roughly). */
  readonly bytes: number;
  push(values: unknown[]): void;
  flushGroup(): void;
  finish(): void;
  abort(): void;
}

/** A temp file, and hyparquet-writer's ByteWriter flushing to it every FLUSH_AT bytes. */
function openTemp(mod: WriterModule, path: string) {
  const tmpPath = join(dirname(path), `.${basename(path)}.tmp`);
  const fd = openSync(tmpPath, 'wx', 0o644);
  const w = new mod.ByteWriter(64 * 1024);
  const flush = () => {
    if (w.index > 0) writeSync(fd, new Uint8Array(w.buffer, 0, w.index));
    w.index = 0;
  };
  const grow = w.ensure.bind(w);
  w.ensure = (size: number) => {
    if (w.index > FLUSH_AT || (w.index + size > w.buffer.byteLength && w.index > 0)) flush();
    grow(size);
  };
  // A page (up to 1 MB) goes to the file as it is, not through the buffer: the buffer would grow
  // to the largest page and stay that size, per open file (28 of them for a month of days).
  const append = w.appendBytes.bind(w);
  w.appendBytes = (b: Uint8Array) => {
    if (b.length < DIRECT_AT) return append(b);
    flush();
    writeSync(fd, b);
    w.offset += b.length;
  };
  (w as { flush?: () => void }).flush = flush;
  w.finish = flush;
  return { tmpPath, fd, w };
}

/** bx's encoder: one typed-array column buffer per column (parquet-encode.ts). */
export class ParquetPart implements PartWriter {
  private readonly fd: number;
  private readonly tmpPath: string;
  private readonly w: InstanceType<WriterModule['ByteWriter']>;
  private readonly pq: InstanceType<WriterModule['ParquetWriter']>;
  private readonly cols: ColumnBuffer[];
  private readonly codec: CompressionCodec;
  private readonly compress: ColumnCompressor | undefined;
  buffered = 0;
  rows = 0;
  lastUse = 0;
  /** Finished or aborted: LakeSink's byte path remembers writers by partition and checks this. */
  closed = false;

  constructor(
    mod: WriterModule,
    readonly path: string,
    plans: ColumnPlan[],
    opts: PartOptions,
  ) {
    this.cols = plans.map((p, i) => {
      const c = columnBuffer(p.element, opts.shared?.[i]);
      if (!c) throw new Error(`column ${p.name}: no bx encoder for ${p.element.type}`);
      return c;
    });
    this.codec = opts.codec;
    ({ tmpPath: this.tmpPath, fd: this.fd, w: this.w } = openTemp(mod, path));
    const schema = [{ name: 'root', num_children: plans.length }, ...plans.map((p) => p.element)];
    this.pq = new mod.ParquetWriter({
      writer: this.w,
      schema,
      codec: opts.codec,
      compressors: opts.compressors,
      kvMetadata: opts.kvMetadata,
      createdBy: 'bx',
    });
    // The writer's compressors: those given (LakeSink gives snappy.ts), else its own JS snappy.
    this.compress = compressorFor(
      opts.codec,
      (this.pq as unknown as { compressors: PartOptions['compressors'] }).compressors,
    );
  }

  get bytes(): number {
    let b = 0;
    for (const c of this.cols) b += c.bytes;
    return b;
  }

  /** The buffer of column c: LakeSink pushes each value straight in (no row array). */
  column(c: number): ColumnBuffer {
    return this.cols[c];
  }

  /** Counts a row whose values were pushed into every column(). */
  added(): void {
    this.buffered++;
    this.rows++;
  }

  push(values: unknown[]): void {
    for (let c = 0; c < values.length; c++) this.cols[c].push(values[c]);
    this.added();
  }

  flushGroup(): void {
    if (this.buffered === 0) return;
    const start = this.w.offset;
    const columns = this.cols.map((c) => c.write(this.w, this.codec, this.compress));
    let total = 0n;
    for (const c of columns) total += c.meta_data!.total_uncompressed_size;
    const pq = this.pq as unknown as { row_groups: unknown[]; num_rows: bigint };
    pq.row_groups.push({
      columns,
      total_byte_size: total,
      num_rows: BigInt(this.buffered),
      total_compressed_size: BigInt(this.w.offset - start),
    });
    pq.num_rows += BigInt(this.buffered);
    (this.w as { flush?: () => void }).flush?.();
    for (const c of this.cols) c.reset();
    this.buffered = 0;
  }

  finish(): void {
    this.closed = true;
    this.flushGroup();
    void this.pq.finish();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmpPath, this.path);
  }

  abort(): void {
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmpPath, { force: true });
  }
}

/** hyparquet-writer's own column path (the former writer): the reference the tests compare with. */
export class HyparquetPart implements PartWriter {
  private readonly fd: number;
  private readonly tmpPath: string;
  private readonly pq: InstanceType<WriterModule['ParquetWriter']>;
  private cols: unknown[][];
  buffered = 0;
  rows = 0;
  lastUse = 0;
  readonly bytes = 0;

  constructor(
    mod: WriterModule,
    readonly path: string,
    private readonly plans: ColumnPlan[],
    opts: PartOptions,
  ) {
    const { tmpPath, fd, w } = openTemp(mod, path);
    this.tmpPath = tmpPath;
    this.fd = fd;
    const schema = [{ name: 'root', num_children: plans.length }, ...plans.map((p) => p.element)];
    this.pq = new mod.ParquetWriter({
      writer: w,
      schema,
      codec: opts.codec,
      compressors: opts.compressors,
      kvMetadata: opts.kvMetadata,
      createdBy: 'bx (hyparquet-writer)',
    });
    this.cols = plans.map(() => []);
  }

  /** Adds one row of physical values (already encoded by the column plans). */
  push(values: unknown[]): void {
    // hyparquet-writer takes INT64 only as bigint, and scales a number given for a DECIMAL; the
    // plans give a number below 2^53 (for a DECIMAL, the unscaled value).
    for (let c = 0; c < values.length; c++) {
      const v = values[c];
      const e = this.plans[c].element;
      this.cols[c].push(
        typeof v === 'number' && (e.type === 'INT64' || e.converted_type === 'DECIMAL') ? BigInt(v) : v,
      );
    }
    this.buffered++;
    this.rows++;
  }

  /** Writes the held rows as one row group. */
  flushGroup(): void {
    if (this.buffered === 0) return;
    const columnData = this.plans.map((p, c) => ({ name: p.name, data: this.cols[c] as never[] }));
    void this.pq.write({ columnData, rowGroupSize: this.buffered });
    this.cols = this.plans.map(() => []);
    this.buffered = 0;
  }

  /** Footer, fsync, rename into place. */
  finish(): void {
    this.flushGroup();
    void this.pq.finish();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmpPath, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmpPath, { force: true });
  }
}
