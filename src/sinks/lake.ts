// bx-load --to parquet: records into a Parquet lake, hive-partitioned or not (docs/lake.md).
//
// Atomicity: every partition directory a reader sees is a symlink to an immutable version
// directory under the lake's hidden `.bx/` area. A run writes its files into a new version
// directory, then swaps each partition's symlink with one rename(2), which replaces a symlink
// atomically: a reader (or a kill at any point) finds either the whole old file set or the whole
// new one, never a mix and never a missing partition. Old versions are removed after the swap;
// what a killed run leaves (its version directory, a stale lock) is hidden and cleaned by the
// next run. Without --partition-by the lake path itself is the symlink.
//
// That is LocalLake, one LakeStore: LakeSink below does the encoding (plans, row groups,
// partitions, the byte path) and writes every file into a local directory its store names; the
// store makes a run visible. On S3 (lake-s3.ts), where nothing can be renamed, a manifest per
// partition replaces the symlink.
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fsp } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { CompressionCodec } from 'hyparquet';
import { syncDir } from '../lib/atomic-file.js';
import { CantCreateError, DataError, TempFailError, UsageError, type Origin } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { isLineageKey, originOfRecord } from '../lib/lineage.js';
import { readSchemaFile, SchemaInferrer, type Field, type TableSchema } from '../lib/schema.js';
import type { Batch, Rec, Sink, Trailer } from '../lib/stream.js';
import { toDecimal } from '../lib/decimal.js';
import { hiveEscape, isHidden } from '../formats/parquet-files.js';
import { planColumn, type ColumnPlan } from '../formats/parquet-types.js';
import { ParquetPart, type PartOptions } from '../formats/parquet-writer.js';
import { byteEncoder, LineScanner, NULL, STR, type ByteEncoder } from '../formats/parquet-bytes.js';
import { snappyCompress } from '../formats/snappy.js';
import { SharedDictionary } from '../formats/parquet-encode.js';
import { lineText, parseRecord, type LineRecordBatch } from '../lib/records.js';
import { HIVE_TYPES_KEY } from '../sources/parquet.js';
import { isS3 } from '../lib/s3.js';
import type { SinkOpener, SinkRequest } from './index.js';

export const DEFAULT_ROW_GROUP = 100_000;
/**
 * Bytes of column values held across all open files before the largest buffers are written as
 * row groups: besides the rows' bound (--row-group-size), memory is bounded by bytes whatever the
 * row width (bench/parquet.sh measures the peak RSS). 1 M sales rows, 28 partitions: 32 MB gave
 * 190 MB peak RSS (216 MB at 10 M), 16 MB 153 MB but a 35 % larger lake (row groups of ~7 000
 * rows repeat their dictionaries); 24 MB 160 MB and 22 MB of files.
 */
export const BUFFER_BYTES = 24 * 1024 * 1024;
/** Files open at once (one per partition being written); the least recently used is closed past it. */
export const MAX_OPEN = 64;

const CODECS: Record<string, CompressionCodec> = {
  snappy: 'SNAPPY',
  gzip: 'GZIP',
  zstd: 'ZSTD',
  uncompressed: 'UNCOMPRESSED',
};

async function compressorsFor(codec: CompressionCodec): Promise<PartOptions['compressors']> {
  if (codec === 'GZIP') return { GZIP: (b) => gzipSync(b) };
  if (codec === 'ZSTD') {
    // node:zlib has no zstd before Node 22.15; the WASM build is checked by DuckDB (NEXT-STACK.md §1).
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    return { ZSTD: (b) => z.compress(b, 3) };
  }
  // The same bytes as hyparquet-writer's own snappy, at a fraction of its cost (formats/snappy.ts).
  if (codec === 'SNAPPY') return { SNAPPY: snappyCompress };
  return {};
}

/** Where the lake's pieces live. */
interface Layout {
  /** The hidden area: lock, versions, journals. */
  area: string;
  /** The path a reader opens for a partition ('' = the unpartitioned lake). */
  linkOf(part: string): string;
}

function layoutOf(path: string, partitioned: boolean): Layout {
  const root = path.replace(/\/+$/, '') || '/';
  if (partitioned) return { area: join(root, '.bx'), linkOf: (p) => join(root, p) };
  return { area: join(dirname(root), `.${basename(root)}.bx`), linkOf: () => root };
}

/**
 * Where a lake's files go and how a run's partitions become visible: LocalLake (symlinks swapped
 * by rename) below, S3Lake (a manifest per partition) in lake-s3.ts. LakeSink does the encoding
 * (plans, row groups, partitions) and writes every file to a local directory the store names.
 */
export interface LakeStore {
  /** Locks the lake and finishes or removes what a killed run left. */
  start(): Promise<void>;
  /** The local directory of this run's files of a partition ('' = the unpartitioned set). */
  dirOf(part: string): string;
  /** A file is complete at `path` (synchronous: called from the record path). */
  finished(part: string, path: string, rows: number): void;
  /** Waits while the store is behind (uploads in flight). */
  drain(): Promise<void>;
  /** Makes the partitions `parts` (sorted) visible, each at once, removes the versions they replace, unlocks. */
  commit(parts: string[]): Promise<void>;
  /** Removes every trace of the run and unlocks: the lake is as before. */
  abort(): Promise<void>;
}

/** Test hook: BX_TEST_KILL_AT=N kills the process with SIGKILL at the Nth durable step. */
export class Steps {
  private n = 0;
  constructor(private readonly killAt: number | undefined) {}
  step(): void {
    if (this.killAt !== undefined && ++this.n === this.killAt) process.kill(process.pid, 'SIGKILL');
  }
}

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export class LakeSink implements Sink {
  private plans: ColumnPlan[] | undefined;
  private dataPlans: ColumnPlan[] = [];
  private partPlans: ColumnPlan[] = [];
  private known = new Set<string>();
  private pending: { rec: Rec; at: Origin }[] = [];
  private inferrer: SchemaInferrer | undefined;
  private readonly writers = new Map<string, ParquetPart>();
  /** Files per partition so far (the next file's number). */
  private readonly fileCount = new Map<string, number>();
  private readonly partitions = new Set<string>();
  private opts!: PartOptions;
  private buffered = 0;
  private sinceCheck = 0;
  private readonly segments = new Map<string, string>();
  private values: unknown[] = [];
  private tick = 0;
  private rows = 0;
  private files = 0;
  private writerMod!: typeof import('hyparquet-writer');
  /** The byte path's state, when every column has a byte encoder (parquet-bytes.ts). */
  private bytePath: BytePath | undefined;
  /** Rows the byte path took (the -v log says how many). */
  private byteLines = 0;

  constructor(
    private readonly req: SinkRequest,
    /** Where the files go and how a run becomes visible: LocalLake here, S3Lake in lake-s3.ts. */
    private readonly store: LakeStore,
    private readonly runId: string,
    private readonly schema: TableSchema | undefined,
    private readonly codec: CompressionCodec,
    private readonly steps: Steps,
    private readonly log: Io['log'],
    /** BX_TEST_LAKE_RECORDS=1: every line parsed (the reference path the byte path is tested against). */
    private readonly forceRecords = false,
  ) {
    if (!schema) this.inferrer = new SchemaInferrer({ copyCompatible: true });
  }

  private get rowGroup() {
    return this.req.rowGroupSize ?? DEFAULT_ROW_GROUP;
  }

  /** Plans a given schema, then locks the lake (the store finishes or sweeps what a killed run left). */
  async start(): Promise<void> {
    this.writerMod = await import('hyparquet-writer');
    this.opts = { codec: this.codec, compressors: await compressorsFor(this.codec), kvMetadata: [] };
    // Planned before the lock: a --partition-by the schema lacks (64) takes no lock it would leave.
    if (this.schema) this.plan(this.schema);
    await this.store.start();
  }

  private plan(schema: TableSchema): void {
    const fields: Field[] = schema.fields;
    const partitionBy = this.req.partitionBy ?? [];
    for (const p of partitionBy) {
      if (!fields.some((f) => f.name === p))
        throw new UsageError(
          `--partition-by ${p}: no such field in the ${this.schema ? 'schema' : 'records'} (fields: ${fields.map((f) => f.name).join(', ')})`,
        );
    }
    // Lineage fields stay out unless the schema asks for them (as bx-load leaves them out of a table).
    const keep = fields.filter((f) => this.schema || !isLineageKey(f.name));
    this.plans = keep.map((f) => planColumn(f.type === undefined ? { ...f, type: 'string' } : f));
    this.partPlans = partitionBy.map((p) => this.plans!.find((c) => c.name === p)!);
    this.dataPlans = this.plans.filter((c) => !partitionBy.includes(c.name));
    this.values = new Array(this.dataPlans.length);
    if (this.dataPlans.length === 0)
      throw new UsageError('--partition-by names every field: a data file needs at least one column');
    this.known = new Set(fields.map((f) => f.name));
    this.bytePath = this.forceRecords ? undefined : bytePathOf(this.plans, this.dataPlans, this.partPlans);
    // One dictionary per string column across the partitions' files (parquet-encode.ts).
    this.opts.shared = this.dataPlans.map((p) =>
      p.element.type === 'BYTE_ARRAY' ? new SharedDictionary() : undefined,
    );
    if (this.partPlans.length) {
      const types: Record<string, string> = {};
      for (const p of this.partPlans) types[p.name] = p.type;
      this.opts.kvMetadata = [{ key: HIVE_TYPES_KEY, value: JSON.stringify(types) }];
    }
  }

  async write(b: Batch): Promise<void> {
    const lines = b as Batch & Partial<LineRecordBatch>;
    if (lines.buf && lines.starts) this.writeLines(lines as LineRecordBatch);
    else for (let i = 0; i < b.records.length; i++) this.record(b.records[i], b.name, b.lines[i]);
    // S3: finished files upload meanwhile; past a few in flight the input waits.
    await this.store.drain();
  }

  private record(rec: Rec, name: string, line: number): void {
    const at = originOfRecord(rec, name, line);
    if (this.plans) this.add(rec, at);
    else {
      this.pending.push({ rec, at });
      this.inferrer!.add(rec);
      if (this.pending.length >= this.req.inferRows) this.flushPending();
    }
  }

  /** Record lines as bytes (NdjsonSource bytes: true): each canonical line by the byte path, the others parsed. */
  private writeLines(b: LineRecordBatch): void {
    const { buf, starts, ends } = b;
    for (let i = 0; i < starts.length; i++) {
      if (this.bytePath && this.addLine(buf, starts[i], ends[i])) continue;
      const at = { file: b.name, line: b.lines[i] };
      this.record(parseRecord(lineText(b, i), at), b.name, b.lines[i]);
    }
  }

  /**
   * One line by the byte path (parquet-bytes.ts): false, with nothing changed, when the line or
   * one of its values is not one the byte path takes (the caller parses it).
   */
  private addLine(buf: Buffer, s: number, e: number): boolean {
    const bp = this.bytePath!;
    const sc = bp.scanner;
    if (!sc.scan(buf, s, e)) return false;
    const kind = sc.kind;
    const n = bp.slot.length;
    for (let c = 0; c < n; c++) {
      const col = bp.slot[c];
      const k = kind[col];
      if (k < 0 || k === NULL) {
        bp.nulls[c] = 1;
        continue;
      }
      const x = bp.enc[c](sc.src[col], sc.vs[col], sc.ve[col], k);
      if (x !== x) return false;
      bp.nulls[c] = 0;
      bp.nums[c] = x;
    }
    let w: ParquetPart;
    if (bp.partSlot.length === 1) {
      const col = bp.partSlot[0];
      if (kind[col] !== STR) return false;
      const found = bp.byValue.find(sc.src[col], sc.vs[col], sc.ve[col], sc.hash[col]);
      if (found >= 0 && !bp.byValue.writers[found]!.closed) w = bp.byValue.writers[found]!;
      else {
        const part = found >= 0 ? bp.byValue.parts[found] : this.partOfLine(sc);
        if (part === undefined) return false;
        w = this.writerFor(part);
        if (found >= 0) bp.byValue.writers[found] = w;
        else bp.byValue.add(sc.src[col], sc.vs[col], sc.ve[col], sc.hash[col], part, w);
      }
    } else {
      let key = '';
      for (let j = 0; j < bp.partSlot.length; j++) {
        const col = bp.partSlot[j];
        if (kind[col] !== STR) return false;
        const v = sc.src[col].latin1Slice(sc.vs[col], sc.ve[col]);
        key = j === 0 ? v : `${key}\u0000${v}`;
      }
      let part = bp.parts.get(key);
      if (part === undefined) {
        part = this.partOfLine(sc);
        if (part === undefined) return false;
        if (bp.parts.size > 4096) bp.parts.clear();
        bp.parts.set(key, part);
      }
      w = this.writerFor(part);
    }
    for (let c = 0; c < n; c++) {
      const col = w.column(c);
      if (bp.nulls[c]) col.pushNull();
      else if (bp.bytes[c]) {
        const f = bp.slot[c];
        col.pushBytes(sc.src[f], sc.vs[f], sc.ve[f], sc.hash[f]);
      } else col.pushNumber(bp.nums[c]);
    }
    this.added(w);
    this.byteLines++;
    return true;
  }

  /** The partition path of a scanned line whose values are new to the byte path, or undefined if the plans refuse one. */
  private partOfLine(sc: LineScanner): string | undefined {
    const bp = this.bytePath!;
    let part = '';
    for (let j = 0; j < this.partPlans.length; j++) {
      const col = bp.partSlot[j];
      const text = sc.src[col].toString('utf8', sc.vs[col], sc.ve[col]);
      try {
        this.partPlans[j].encode(text, { file: '', line: 0 });
      } catch {
        return undefined;
      }
      const seg = this.segment(this.partPlans[j].name, text);
      part += part ? `/${seg}` : seg;
    }
    return part;
  }

  /** The path segment `name=value` (%-escaped) of a partition value's text (null: the default partition). */
  private segment(name: string, text: string | null): string {
    // Partition values repeat (a day's sales share one): their path segments are remembered.
    const key = `${name}\u0000${text ?? '\u0001'}`;
    let seg = this.segments.get(key);
    if (seg === undefined) {
      seg = `${hiveEscape(name)}=${hiveEscape(text)}`;
      if (this.segments.size > 4096) this.segments.clear();
      this.segments.set(key, seg);
    }
    return seg;
  }

  private flushPending(): void {
    const inf = this.inferrer!;
    this.plan(widen(inf.result(), this.pending));
    const pending = this.pending;
    this.pending = [];
    for (const { rec, at } of pending) this.add(rec, at);
  }

  private add(rec: Rec, at: Origin): void {
    for (const k in rec) {
      if (!this.known.has(k) && !(isLineageKey(k) && !this.schema)) {
        throw new DataError(
          at,
          k,
          this.schema
            ? 'not a field of the --schema'
            : `first seen after the first ${this.req.inferRows} records the types were inferred from; give --schema or a larger --infer-rows`,
        );
      }
    }
    let part = '';
    for (const p of this.partPlans) {
      const v = rec[p.name];
      p.encode(v, at); // the value must be of the field's type, as in a data column
      if (v !== null && v !== undefined && typeof v === 'object')
        throw new DataError(at, p.name, 'a partition value must be a scalar');
      const seg = this.segment(p.name, v === null || v === undefined ? null : String(v));
      part += part ? `/${seg}` : seg;
    }
    const w = this.writerFor(part);
    // Encode every value before the first goes in: a bad value leaves the columns as they were.
    const plans = this.dataPlans;
    const values = this.values;
    for (let c = 0; c < plans.length; c++) values[c] = plans[c].encode(rec[plans[c].name], at);
    for (let c = 0; c < plans.length; c++) w.column(c).push(values[c]);
    this.added(w);
  }

  /** Counts a row whose values are in w's columns; writes row groups out when the buffers are full. */
  private added(w: ParquetPart): void {
    w.added();
    w.lastUse = ++this.tick;
    this.rows++;
    this.buffered++;
    if (w.buffered >= this.rowGroup) {
      this.buffered -= w.buffered;
      w.flushGroup();
      this.steps.step();
    } else if ((++this.sinceCheck & 1023) === 0 && this.heldBytes() >= BUFFER_BYTES) this.spillBytes();
  }

  /** Bytes held by every open file's buffers. */
  private heldBytes(): number {
    let b = 0;
    for (const w of this.writers.values()) b += w.bytes;
    return b;
  }

  /**
   * The open files hold BUFFER_BYTES between them: write out the largest until half is left. Only
   * bytes bound what partitions hold together, not rows: with 28 partitions sharing one row
   * group's worth of rows, each spill wrote ~3 600 rows, and a row group that small re-inserts
   * most of its string dictionary, repeats its page headers and statistics, and grows the footer
   * (the write's RSS grew with the input: 201 MB at 1 M rows, 258 MB at 10 M).
   */
  private spillBytes(): void {
    let held = this.heldBytes();
    while (held >= BUFFER_BYTES / 2) {
      let big: ParquetPart | undefined;
      let most = 0;
      for (const w of this.writers.values()) {
        const b = w.bytes;
        if (b > most) [big, most] = [w, b];
      }
      if (!big) return;
      this.buffered -= big.buffered;
      big.flushGroup();
      this.steps.step();
      held -= most;
    }
  }

  private writerFor(part: string): ParquetPart {
    let w = this.writers.get(part);
    if (w) return w;
    if (this.writers.size >= MAX_OPEN) {
      let lru: [string, ParquetPart] | undefined;
      for (const e of this.writers) if (!lru || e[1].lastUse < lru[1].lastUse) lru = e;
      this.close(lru![0]);
    }
    const dir = this.store.dirOf(part);
    const n = this.fileCount.get(part) ?? 0;
    this.fileCount.set(part, n + 1);
    this.partitions.add(part);
    try {
      // Sync: add() runs per record and stays synchronous (no per-record promise).
      mkdirSyncP(dir);
      w = new ParquetPart(this.writerMod, join(dir, `part-${this.runId}-${n}.parquet`), this.dataPlans, this.opts);
    } catch (err) {
      throw new CantCreateError(
        `cannot create ${join(dir, `part-${this.runId}-${n}.parquet`)}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`,
      );
    }
    this.writers.set(part, w);
    this.files++;
    return w;
  }

  private close(part: string): void {
    const w = this.writers.get(part)!;
    this.buffered -= w.buffered;
    w.finish();
    this.store.finished(part, w.path, w.rows);
    this.steps.step();
    this.writers.delete(part);
  }

  async end(_t: Trailer): Promise<{ rows: number; note?: string }> {
    if (!this.plans && this.pending.length) this.flushPending();
    for (const part of [...this.writers.keys()]) this.close(part);
    // An unpartitioned lake is replaced even by zero rows; with a schema the empty set keeps its columns in one file.
    if (!this.req.partitionBy?.length && this.rows === 0) {
      if (this.plans) {
        this.writerFor('');
        this.close('');
      }
      this.partitions.add('');
    }
    this.log.debug(
      `${this.byteLines} of ${this.rows} rows from their bytes${this.bytePath || this.rows === 0 ? '' : ' (a column type the byte path does not take)'}`,
    );
    await this.store.commit([...this.partitions].sort());
    return {
      rows: this.rows,
      note: `${this.files} Parquet file${this.files === 1 ? '' : 's'} in ${this.partitions.size} ${this.req.partitionBy?.length ? 'partition' : 'set'}${this.partitions.size === 1 ? '' : 's'} under ${this.req.path}`,
    };
  }

  async abort(_err: unknown): Promise<void> {
    for (const w of this.writers.values()) w.abort();
    this.writers.clear();
    await this.store.abort();
  }
}

/**
 * The lake on a file system: each partition a reader sees is a symlink to an immutable version
 * directory under the hidden area, swapped by one rename(2) (docs/lake.md "Replacing partitions").
 */
class LocalLake implements LakeStore {
  private locked = false;
  private readonly version: string;

  constructor(
    private readonly req: SinkRequest,
    private readonly layout: Layout,
    private readonly runId: string,
    private readonly steps: Steps,
    private readonly log: Io['log'],
  ) {
    this.version = join(layout.area, 'v', runId);
  }

  dirOf(part: string): string {
    return part ? join(this.version, part) : this.version;
  }

  finished(): void {}

  async drain(): Promise<void> {}

  /** Takes the lake's lock, finishes what a killed run left, removes its leftovers. */
  async start(): Promise<void> {
    try {
      await fsp.mkdir(this.layout.area, { recursive: true });
    } catch (err) {
      throw new CantCreateError(
        `cannot create the lake ${this.req.path}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`,
      );
    }
    const lock = join(this.layout.area, 'lock');
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2)
          throw new CantCreateError(
            `cannot lock the lake ${this.req.path}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`,
          );
        const pid = Number(await fsp.readFile(lock, 'utf8').catch(() => ''));
        if (pid && alive(pid))
          throw new TempFailError(
            `${this.req.path}: another bx-load (pid ${pid}) is writing this lake; retry when it ends`,
          );
        await fsp.rm(lock, { force: true });
      }
    }
    this.locked = true;
    await this.recover();
  }

  /** A killed run's journal: partitions whose link it had moved away and not yet replaced get theirs. */
  private async recover(): Promise<void> {
    const names = await fsp.readdir(this.layout.area).catch(() => [] as string[]);
    for (const n of names.filter((x) => x.startsWith('journal-'))) {
      const j = JSON.parse(await fsp.readFile(join(this.layout.area, n), 'utf8').catch(() => '{"links":[]}')) as {
        links: { link: string; target: string }[];
      };
      for (const { link, target } of j.links) {
        const there = await fsp.lstat(link).catch(() => undefined);
        if (!there && (await fsp.stat(join(dirname(link), target)).catch(() => undefined))) {
          await fsp.mkdir(dirname(link), { recursive: true });
          await fsp.symlink(target, link);
          this.log.warn(`${link}: finished a partition swap a killed run had begun`);
        }
      }
      await fsp.rm(join(this.layout.area, n), { force: true });
    }
    // Version directories no link points to are a killed run's (or aborted) leftovers.
    const live = new Set<string>();
    await this.collectLinks(live);
    const vroot = join(this.layout.area, 'v');
    for (const rid of await fsp.readdir(vroot).catch(() => [] as string[])) {
      await this.sweep(join(vroot, rid), live);
    }
    for (const n of await fsp.readdir(this.layout.area).catch(() => [] as string[])) {
      if (n.startsWith('link-') || n.startsWith('old-'))
        await fsp.rm(join(this.layout.area, n), { recursive: true, force: true });
    }
  }

  /** Every version directory a link of this lake resolves to. */
  private async collectLinks(live: Set<string>): Promise<void> {
    const visit = async (p: string, depth: number): Promise<void> => {
      const st = await fsp.lstat(p).catch(() => undefined);
      if (!st) return;
      if (st.isSymbolicLink()) {
        live.add(resolve(dirname(p), await fsp.readlink(p)));
        return;
      }
      if (!st.isDirectory() || depth > 16) return;
      for (const n of await fsp.readdir(p)) if (!isHidden(n)) await visit(join(p, n), depth + 1);
    };
    await visit(this.layout.linkOf(''), 0);
  }

  /** Removes the directories under `dir` that no link resolves to; returns whether `dir` is still needed. */
  private async sweep(dir: string, live: Set<string>): Promise<boolean> {
    if (live.has(resolve(dir))) return true;
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    let keep = false;
    for (const e of entries) if (e.isDirectory() && (await this.sweep(join(dir, e.name), live))) keep = true;
    if (!keep) await fsp.rm(dir, { recursive: true, force: true });
    return keep;
  }

  async commit(parts: string[]): Promise<void> {
    // (An unpartitioned lake replaced by zero rows and no schema has no file, and still its directory.)
    for (const part of parts) {
      await fsp.mkdir(this.dirOf(part), { recursive: true });
      await syncDir(this.dirOf(part));
    }
    await this.swap(parts);
  }

  /** Points each partition's link at the new version; the old versions go after all swaps. */
  /** `parts` sorted (LakeStore.commit's order). */
  private async swap(parts: string[]): Promise<void> {
    const links = parts.map((part) => {
      const link = this.layout.linkOf(part);
      const target = relative(dirname(link), this.dirOf(part));
      return { part, link, target };
    });
    // The journal lets the next run finish a swap of a plain directory (a non-bx writer's) killed midway.
    await writeSmallFile(
      join(this.layout.area, `journal-${this.runId}.json`),
      JSON.stringify({ links: links.map(({ link, target }) => ({ link, target })) }),
    );
    this.steps.step();
    // A plain directory is only replaced when it holds nothing but a lake's files: never a --path
    // pointed by mistake at a directory of other things.
    for (const { link } of links) {
      const st = await fsp.lstat(link).catch(() => undefined);
      if (st?.isDirectory()) await checkReplaceable(link, this.req.path);
    }
    const old: string[] = [];
    for (const [i, { link, target }] of links.entries()) {
      await fsp.mkdir(dirname(link), { recursive: true });
      // The link's text is relative to the link's own directory: the lake can be moved or mounted elsewhere.
      const tmp = join(this.layout.area, `link-${this.runId}-${i}`);
      await fsp.rm(tmp, { force: true });
      await fsp.symlink(target, tmp);
      this.steps.step();
      const st = await fsp.lstat(link).catch(() => undefined);
      if (st?.isSymbolicLink()) old.push(resolve(dirname(link), await fsp.readlink(link)));
      else if (st?.isDirectory()) {
        // A plain directory cannot be replaced by one rename: move it aside first (the journal covers the gap).
        const aside = join(this.layout.area, `old-${this.runId}-${i}`);
        await fsp.rename(link, aside);
        this.steps.step();
        old.push(aside);
      } else if (st) throw new CantCreateError(`${link}: exists and is not a directory; bx will not replace it`);
      await fsp.rename(tmp, link);
      this.steps.step();
      await syncDir(dirname(link));
    }
    await fsp.rm(join(this.layout.area, `journal-${this.runId}.json`), { force: true });
    this.steps.step();
    for (const o of old) {
      await fsp.rm(o, { recursive: true, force: true });
      this.steps.step();
    }
    // Empty version directories of earlier runs go too.
    const vroot = join(this.layout.area, 'v');
    for (const rid of await fsp.readdir(vroot).catch(() => [] as string[])) {
      if (rid !== this.runId) await pruneEmpty(join(vroot, rid));
    }
    await this.unlock();
  }

  private async unlock(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    await fsp.rm(join(this.layout.area, 'lock'), { force: true });
  }

  async abort(): Promise<void> {
    await fsp.rm(this.version, { recursive: true, force: true }).catch(() => {});
    await fsp.rm(join(this.layout.area, `journal-${this.runId}.json`), { force: true }).catch(() => {});
    await this.unlock().catch(() => {});
    // A first run that failed leaves no empty hidden area behind.
    await fsp.rmdir(join(this.layout.area, 'v')).catch(() => {});
    await fsp.rmdir(this.layout.area).catch(() => {});
  }
}

interface BytePath {
  scanner: LineScanner;
  /** Per data column: its field's index in the scanner, its encoder, whether it takes bytes. */
  slot: Int32Array;
  enc: ByteEncoder[];
  bytes: Uint8Array;
  partSlot: Int32Array;
  /** The line's values, staged: a bad value leaves the columns as they were. */
  nums: Float64Array;
  nulls: Uint8Array;
  /** Partition values' bytes (latin1, \u0000-joined) → the partition path. */
  parts: Map<string, string>;
  /** One partition column: its value's bytes → the partition path and its open writer. */
  byValue: PartitionValues;
}

/**
 * A lone partition column's values by their bytes (hashed by the scanner), each with its path
 * and the file last written for it: --cpu-prof of 1 M sales rows put the latin1Slice and the Map
 * lookups of the partition's key string, then of its writer, at a third of addLine's ticks.
 */
class PartitionValues {
  readonly parts: string[] = [];
  readonly writers: (ParquetPart | undefined)[] = [];
  private keys: Buffer[] = [];
  private hashes: number[] = [];
  /** Open addressing: entry index + 1 per slot (0 = empty), at most a quarter full. */
  private table = new Int32Array(64);

  /** The entry of buf[s..e) (hash h), or -1. */
  find(buf: Buffer, s: number, e: number, h: number): number {
    const mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const t = this.table[slot] - 1;
      if (t < 0) return -1;
      if (this.hashes[t] === h && sameBytes(this.keys[t], buf, s, e)) return t;
    }
  }

  add(buf: Buffer, s: number, e: number, h: number, part: string, w: ParquetPart): void {
    // Partition values repeat (a day's sales share one); past 4096 the table starts again.
    if (this.parts.length >= 4096) {
      this.parts.length = this.writers.length = 0;
      this.keys = [];
      this.hashes = [];
      this.table = new Int32Array(64);
    }
    const t = this.parts.length;
    this.parts.push(part);
    this.writers.push(w);
    this.keys.push(Buffer.from(buf.subarray(s, e)));
    this.hashes.push(h);
    if (4 * (t + 1) > this.table.length) {
      const table = new Int32Array(this.table.length * 4);
      for (let i = 0; i < t; i++) {
        let slot = this.hashes[i] & (table.length - 1);
        while (table[slot] !== 0) slot = (slot + 1) & (table.length - 1);
        table[slot] = i + 1;
      }
      this.table = table;
    }
    const mask = this.table.length - 1;
    let slot = h & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = t + 1;
  }
}

function sameBytes(key: Buffer, buf: Buffer, s: number, e: number): boolean {
  if (e - s !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== buf[s + i]) return false;
  return true;
}

function bytePathOf(plans: ColumnPlan[], data: ColumnPlan[], part: ColumnPlan[]): BytePath | undefined {
  const enc: ByteEncoder[] = [];
  for (const p of data) {
    const e = byteEncoder(p);
    if (!e) return undefined;
    enc.push(e);
  }
  const index = (p: ColumnPlan) => plans.indexOf(p);
  return {
    // Only the dictionary columns' strings and a lone partition column's are hashed
    // (ByteArrayColumn, PartitionValues): the scanner finds the others' ends four bytes at a time.
    scanner: new LineScanner(
      plans.map((p) => p.name),
      plans.map((p) => (data.includes(p) && p.element.type === 'BYTE_ARRAY') || (part.length === 1 && part[0] === p)),
    ),
    slot: Int32Array.from(data.map(index)),
    enc,
    bytes: Uint8Array.from(data.map((p) => (p.element.type === 'BYTE_ARRAY' ? 1 : 0))),
    partSlot: Int32Array.from(part.map(index)),
    nums: new Float64Array(data.length),
    nulls: new Uint8Array(data.length),
    parts: new Map(),
    byValue: new PartitionValues(),
  };
}

/**
 * An inferred schema saw only the first records: leave room for the rest. Integers are INT64
 * (not INT32 because the sample fitted), and a decimal whose sample has at most 12 digits is
 * DECIMAL(18,s) (INT64, as DuckDB writes money), else DECIMAL(38,s).
 */
function widen(schema: TableSchema, sample: { rec: Rec }[]): TableSchema {
  const fields = schema.fields.map((f) => {
    if (f.type === 'integer' && f['bx:pgType'] === undefined) return { ...f, 'bx:pgType': 'bigint' };
    if (f.type === 'number' && f['bx:scale'] !== undefined && f['bx:precision'] === undefined) {
      let digits = 0;
      for (const { rec } of sample) {
        const d = toDecimal(rec[f.name]);
        if (d) digits = Math.max(digits, (d.coef < 0n ? -d.coef : d.coef).toString().length - d.scale + f['bx:scale']);
      }
      return { ...f, 'bx:precision': digits <= 12 ? 18 : 38 };
    }
    return f;
  });
  return { ...schema, fields };
}

/** Refuses (exit 73) to replace a directory holding anything but Parquet files, k=v directories and hidden entries. */
async function checkReplaceable(dir: string, path: string): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (isHidden(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name.includes('=')) await checkReplaceable(p, path);
    else if (!(e.isFile() && e.name.endsWith('.parquet'))) {
      throw new CantCreateError(
        `--path ${path}: ${p} is not a Parquet file or partition; bx replaces only a lake's own files, so it leaves this directory alone`,
      );
    }
  }
}

/** Temp name, fsync, rename: the journal is whole or absent. */
async function writeSmallFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
}

async function pruneEmpty(dir: string): Promise<boolean> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return true;
  let empty = true;
  for (const e of entries) {
    if (e.isDirectory() && (await pruneEmpty(join(dir, e.name)))) continue;
    empty = false;
  }
  if (empty) await fsp.rmdir(dir).catch(() => {});
  return empty;
}

const madeDirs = new Set<string>();
function mkdirSyncP(dir: string) {
  if (madeDirs.has(dir)) return;
  mkdirSync(dir, { recursive: true });
  madeDirs.add(dir);
}

/** A run id safe in a file name: BX_RUN_ID when set (the run log's), else time and randomness. */
function runIdOf(env: Io['env']): string {
  const given = env.BX_RUN_ID?.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40);
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${given || stamp}-${randomBytes(3).toString('hex')}`;
}

export const open: SinkOpener = async (req: SinkRequest, io: Io) => {
  const codec = CODECS[req.codec ?? 'snappy'];
  if (!codec) throw new UsageError(`--codec ${req.codec}: known: ${Object.keys(CODECS).join(', ')}`);
  for (const p of req.partitionBy ?? [])
    if (isHidden(p))
      throw new UsageError(
        `--partition-by ${p}: a name starting with . or _ would make a directory readers skip as hidden`,
      );
  const schema = req.schemaFile ? await readSchemaFile(req.schemaFile) : undefined;
  const steps = new Steps(io.env.BX_TEST_KILL_AT ? Number(io.env.BX_TEST_KILL_AT) : undefined);
  const runId = runIdOf(io.env);
  let store: LakeStore;
  if (isS3(req.path)) {
    const { S3Lake } = await import('./lake-s3.js');
    store = await S3Lake.open(req, runId, steps, io);
  } else {
    const path = resolve(io.cwd, req.path);
    const st = await fsp.lstat(path).catch(() => undefined);
    if (st && !st.isDirectory() && !st.isSymbolicLink())
      throw new CantCreateError(`--path ${req.path}: exists and is not a directory`);
    store = new LocalLake(req, layoutOf(path, Boolean(req.partitionBy?.length)), runId, steps, io.log);
  }
  const sink = new LakeSink(req, store, runId, schema, codec, steps, io.log, io.env.BX_TEST_LAKE_RECORDS === '1');
  await sink.start();
  return sink;
};
