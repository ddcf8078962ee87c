// One Parquet file being written: hyparquet-writer's ParquetWriter over a file descriptor of a
// hidden temp file, renamed to its name only when its footer is written and fsynced. The rows of
// the current row group are held as columns (one array per column), already converted.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CompressionCodec, KeyValue } from 'hyparquet';
import type { ColumnPlan } from './parquet-types.js';

// hyparquet-writer's own file writer flushes at 1 MB and grows its buffer by doubling; with many
// partitions open at once that is the memory, so flush sooner.
const FLUSH_AT = 256 * 1024;

type WriterModule = typeof import('hyparquet-writer');
type Compressor = (input: Uint8Array) => Uint8Array;

export interface PartOptions {
  codec: CompressionCodec;
  compressors: Partial<Record<CompressionCodec, Compressor>>;
  kvMetadata: KeyValue[];
}

export class ParquetPart {
  private readonly fd: number;
  private readonly tmpPath: string;
  private readonly pq: InstanceType<WriterModule['ParquetWriter']>;
  private cols: unknown[][];
  /** Rows held for the next row group. */
  buffered = 0;
  rows = 0;
  lastUse = 0;

  constructor(
    mod: WriterModule,
    readonly path: string,
    private readonly plans: ColumnPlan[],
    opts: PartOptions,
  ) {
    this.tmpPath = join(dirname(path), `.${basename(path)}.tmp`);
    this.fd = openSync(this.tmpPath, 'wx', 0o644);
    const fd = this.fd;
    const w = new mod.ByteWriter(64 * 1024);
    const flush = () => {
      if (w.index > 0) writeSync(fd, new Uint8Array(w.buffer, 0, w.index));
      w.index = 0;
    };
    const grow = w.ensure.bind(w);
    w.ensure = (size: number) => {
      if (w.index > FLUSH_AT) flush();
      grow(size);
    };
    (w as { flush?: () => void }).flush = flush;
    w.finish = flush;
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
    for (let c = 0; c < values.length; c++) this.cols[c].push(values[c]);
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
