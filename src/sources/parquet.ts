// A Parquet file, directory or glob (a hive-partitioned lake) as records: read one row group at a
// time through a file-backed AsyncBuffer, so memory is bounded by the largest row group, never by
// the file (docs/lake.md). Types are exact (src/formats/parquet-types.ts); `k=v` directories
// become fields, after the file's own columns, as DuckDB's hive_partitioning puts them.
import { promises as fsp } from 'node:fs';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { BxError, DataError, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { isIndexKey, setKeyOrder } from '../lib/json.js';
import type { Batch, Rec, Source, StageContext } from '../lib/stream.js';
import { hiveFields, lakeFiles, s3LakeFiles } from '../formats/parquet-files.js';
import { isS3, objectBuffer } from '../lib/s3.js';
import {
  columnConverter,
  partitionValue,
  schemaTree,
  shimSchema,
  timestampText,
  type ReadConverter,
} from '../formats/parquet-types.js';
import {
  ColumnBytes,
  columnBytes,
  columnPlan,
  columnTexts,
  flatColumn,
  interleave,
  keyBytes,
  Unhandled,
  type FlatColumn,
  type LinePart,
} from '../formats/parquet-decode.js';
import type { SourceOpener, SourceRequest } from './index.js';

/** Records handed on per batch: a row group is cut into batches of this many. */
const BATCH_ROWS = 4096;
/** Rows per batch of the byte transcoder (one Buffer each, one write()). */
const BYTE_BATCH_ROWS = 16384;

/**
 * How a row group of NDJSON output is decoded: `bytes` (the byte transcoder, the default),
 * `text` (the string-per-value decoder it replaced, kept as its reference), `hyparquet`
 * (parquetRead and the converters: the object path). BX_PARQUET_DECODER picks one for tests
 * and benches; a row group the chosen decoder cannot read goes through hyparquet.
 */
export type Decoder = 'bytes' | 'text' | 'hyparquet';
function decoderOf(env: string | undefined): Decoder {
  if (env === undefined || env === '' || env === 'bytes') return 'bytes';
  if (env === 'text' || env === 'hyparquet') return env;
  throw new UsageError(`BX_PARQUET_DECODER: expected bytes, text or hyparquet, got "${env}"`);
}

/** The bytes of a row group's column chunks: one read for the span when the chunks are close together. */
async function chunkBytes(buf: AsyncBuffer, spans: [number, number][]): Promise<Uint8Array[]> {
  let lo = Infinity;
  let hi = 0;
  let sum = 0;
  for (const [a, z] of spans) {
    lo = Math.min(lo, a);
    hi = Math.max(hi, z);
    sum += z - a;
  }
  if (spans.length > 0 && hi - lo <= sum * 2 + (1 << 20)) {
    const all = new Uint8Array(await buf.slice(lo, hi));
    return spans.map(([a, z]) => all.subarray(a - lo, z - lo));
  }
  return Promise.all(spans.map(async ([a, z]) => new Uint8Array(await buf.slice(a, z))));
}

/** The key-value metadata entry where bx's writer records its partition fields' types. */
export const HIVE_TYPES_KEY = 'bx.hive_types';

/** An AsyncBuffer over an open file: each slice is one positioned read (no whole-file buffer). */
async function fileBuffer(path: string): Promise<{ buf: AsyncBuffer; close: () => Promise<void> }> {
  const fh = await fsp.open(path, 'r');
  const { size } = await fh.stat();
  return {
    buf: {
      byteLength: size,
      async slice(start: number, end?: number) {
        const stop = Math.min(end ?? size, size);
        const len = Math.max(0, stop - start);
        const ab = new ArrayBuffer(len);
        let off = 0;
        while (off < len) {
          const { bytesRead } = await fh.read(new Uint8Array(ab, off, len - off), 0, len - off, start + off);
          if (bytesRead === 0) break;
          off += bytesRead;
        }
        return off === len ? ab : ab.slice(0, off);
      },
    },
    close: () => fh.close(),
  };
}

const detail = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).replace(/^parquet /, '').slice(0, 200);

export class ParquetSource implements Source {
  /** Which decoder read each row group: `file#group decoder`, in reading order (for tests). */
  readonly decoded: string[] = [];

  constructor(
    readonly name: string,
    private readonly columns: string[] | undefined,
    private readonly lineage: boolean,
    private readonly files: string[],
    private readonly decoder: Decoder = decoderOf(process.env.BX_PARQUET_DECODER),
    /** The environment an s3:// file's client is made from (AWS_ENDPOINT_URL, credentials…). */
    private readonly env: Record<string, string | undefined> = process.env,
  ) {}

  private took(ctx: StageContext, file: string, g: number, how: string) {
    this.decoded.push(`${file}#${g} ${how}`);
    // (A reader driven in-process may come without a logger.)
    if ((ctx.log as StageContext['log'] | undefined)?.verbose) ctx.log.debug(`${file}: row group ${g}: ${how}`);
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const files = this.files;
    const [{ parquetMetadataAsync, parquetRead }, { compressors }] = await Promise.all([
      import('hyparquet'),
      import('hyparquet-compressors'),
    ]);
    for (const file of files) {
      if (ctx.signal?.aborted) return;
      // An S3 object is read by ranged GETs, a file by positioned reads. A failure that is already
      // a BxError (no such object 66, S3 unreachable 69, access denied 77) keeps its code.
      const { buf, close } = await (isS3(file) ? objectBuffer(file, this.env) : fileBuffer(file)).catch((err) => {
        throw err instanceof BxError
          ? err
          : new DataError(undefined, undefined, `${file}: cannot open: ${detail(err)}`);
      });
      try {
        let meta: FileMetaData;
        try {
          meta = await parquetMetadataAsync(buf);
        } catch (err) {
          if (err instanceof BxError) throw err;
          throw new DataError(undefined, undefined, `${file}: not a readable Parquet file: ${detail(err)}`);
        }
        yield* this.readFile(file, buf, meta, parquetRead, compressors as never, ctx);
      } finally {
        await close();
      }
    }
  }

  private async *readFile(
    file: string,
    buf: AsyncBuffer,
    meta: FileMetaData,
    parquetRead: typeof import('hyparquet').parquetRead,
    compressors: never,
    ctx: StageContext,
  ): AsyncGenerator<Batch> {
    const tree = schemaTree(meta.schema);
    const shimmed: FileMetaData = { ...meta, schema: shimSchema(meta.schema) };
    const kv = meta.key_value_metadata?.find((e) => e.key === HIVE_TYPES_KEY);
    let hiveTypes: Record<string, string> = {};
    try {
      if (kv?.value) hiveTypes = JSON.parse(kv.value) as Record<string, string>;
    } catch {
      /* another writer's metadata: the hive values stay text */
    }
    const hive = hiveFields(file).map(
      ([k, v]) => [k, v === null ? null : hiveTypes[k] ? partitionValue(hiveTypes[k], v) : v] as const,
    );
    const fileCols = tree.children.map((c) => c.element.name);
    const hiveNames = new Set(hive.map(([k]) => k));
    let cols = fileCols.filter((c) => !hiveNames.has(c));
    let hiveOut = hive;
    // --columns: only these, in this order; a name neither a column nor a hive field is a usage error.
    let order: string[];
    if (this.columns) {
      const missing = this.columns.filter((c) => !fileCols.includes(c) && !hiveNames.has(c));
      if (missing.length)
        throw new UsageError(
          `--columns: ${file} has no column ${missing.map((m) => JSON.stringify(m)).join(', ')}; it has ${[...fileCols, ...hiveNames].join(', ')}`,
        );
      cols = this.columns.filter((c) => fileCols.includes(c) && !hiveNames.has(c));
      hiveOut = hive.filter(([k]) => this.columns!.includes(k));
      order = this.columns;
    } else order = [...cols, ...hiveOut.map(([k]) => k)];
    const convs: ReadConverter[] = cols.map((c) =>
      columnConverter(
        tree.children.find((n) => n.element.name === c)!,
        file,
      ),
    );
    const needsOrder = order.some(isIndexKey);
    const asJson = ctx.json !== undefined && !needsOrder;
    // NDJSON out and every column a leaf: pages straight to JSON text (parquet-decode.ts).
    const colNodes = cols.map((c) => tree.children.find((n) => n.element.name === c)!);
    const direct = asJson && colNodes.every((n) => flatColumn(n.element, n.children.length));
    const flat: FlatColumn[] = direct ? colNodes.map((n, c) => ({ orig: n.element, conv: convs[c] })) : [];
    const plans = this.decoder === 'bytes' ? flat.map(columnPlan) : [];
    const outs = plans.map(() => new ColumnBytes());
    const enc = (x: string) => Buffer.from(x, 'utf8');
    const parts: LinePart[] = order.map((name, k) => {
      const key = keyBytes(name, k === 0);
      const c = cols.indexOf(name);
      if (c < 0) return { fixed: Buffer.concat([key, enc(JSON.stringify(hive.find(([h]) => h === name)![1]))]) };
      if (outs[c]) outs[c].prefix = key;
      return { col: outs[c] };
    });
    const tail = this.lineage ? enc(`,"_file":${JSON.stringify(file)},"_line":`) : undefined;
    let rowStart = 0;
    for (let g = 0; g < meta.row_groups.length; g++) {
      if (ctx.signal?.aborted) return;
      const n = Number(meta.row_groups[g].num_rows);
      const rowEnd = rowStart + n;
      const corrupt = (err: unknown) =>
        err instanceof BxError
          ? err
          : new DataError(
              undefined,
              undefined,
              `${file}: row group ${g} (rows ${rowStart + 1}–${rowEnd}): corrupt or unreadable: ${detail(err)}`,
            );
      if (direct && this.decoder === 'bytes') {
        const rg = meta.row_groups[g];
        let ok = true;
        try {
          if (n > 0 && cols.length > 0) {
            const chunks = cols.map((name) => {
              const chunk = rg.columns.find((ch) => ch.meta_data?.path_in_schema.join('.') === name);
              if (!chunk?.meta_data) throw new Error(`no column chunk for "${name}"`);
              return chunk.meta_data;
            });
            const spans = chunks.map((md): [number, number] => {
              const a = Number(md.dictionary_page_offset ?? md.data_page_offset);
              return [a, a + Number(md.total_compressed_size)];
            });
            const bytes = await chunkBytes(buf, spans);
            for (let c = 0; c < cols.length; c++)
              columnBytes(bytes[c], chunks[c].codec, plans[c], n, compressors as never, outs[c]);
          }
        } catch (err) {
          // An encoding only hyparquet reads (DELTA_*, BYTE_STREAM_SPLIT…): this row group goes its way.
          if (!(err instanceof Unhandled)) throw corrupt(err);
          ok = false;
        }
        if (ok) {
          this.took(ctx, file, g, 'bytes');
          for (let s = 0; s < n; s += BYTE_BATCH_ROWS) {
            const e = Math.min(n, s + BYTE_BATCH_ROWS);
            yield {
              name: file,
              lines: rowLines(rowStart, s, e),
              records: [],
              ndjson: interleave(parts, s, e, tail ? { tail, start: rowStart } : undefined),
            };
          }
          rowStart = rowEnd;
          continue;
        }
      }
      let texts: string[][] | undefined;
      if (direct && this.decoder === 'text') {
        const rg = meta.row_groups[g];
        try {
          texts = [];
          for (let c = 0; c < cols.length; c++) {
            const chunk = rg.columns.find((ch) => ch.meta_data?.path_in_schema.join('.') === cols[c]);
            if (!chunk) throw new Error(`no column chunk for "${cols[c]}"`);
            texts.push(n > 0 ? await columnTexts(buf, chunk, flat[c], n, compressors as never) : []);
          }
        } catch (err) {
          // An encoding only hyparquet reads (DELTA_*, BYTE_STREAM_SPLIT…): this row group goes its way.
          if (err instanceof Unhandled) texts = undefined;
          else throw corrupt(err);
        }
      }
      if (texts) {
        this.took(ctx, file, g, 'text');
        for (let s = 0; s < n; s += BATCH_ROWS) {
          const e = Math.min(n, s + BATCH_ROWS);
          yield {
            name: file,
            lines: rowLines(rowStart, s, e),
            records: [],
            ndjson: Buffer.from(
              textLines(order, cols, texts, hiveOut, s, e, this.lineage ? { file, start: rowStart } : undefined),
            ),
          };
        }
        rowStart = rowEnd;
        continue;
      }
      this.took(ctx, file, g, asJson ? 'hyparquet' : 'records');
      // Column by column, straight from hyparquet's decoded chunks (no row arrays to transpose back):
      // one converter over one column's values keeps each call site monomorphic.
      const values: unknown[][] = cols.map(() => new Array(n).fill(null));
      const filled = cols.map(() => 0);
      if (n > 0 && cols.length > 0) {
        try {
          await parquetRead({
            file: buf,
            metadata: shimmed,
            columns: cols,
            rowStart,
            rowEnd,
            compressors,
            // Only INT96 (legacy nanosecond instants) still goes through a parser: everything else is raw.
            parsers: { timestampFromNanoseconds: (ns: bigint) => timestampText(ns, 'NANOS', false) },
            onChunk: ({ columnName, columnData, rowStart: from }) => {
              const c = cols.indexOf(columnName);
              if (c < 0) return;
              const out = values[c];
              const conv = convs[c];
              const lo = Math.max(0, rowStart - from);
              const hi = Math.min(columnData.length, rowEnd - from);
              for (let j = lo; j < hi; j++) out[from + j - rowStart] = conv(columnData[j]);
              filled[c] += Math.max(0, hi - lo);
            },
          });
        } catch (err) {
          throw corrupt(err);
        }
        const short = filled.findIndex((f) => f !== n);
        if (short >= 0)
          throw new DataError(
            undefined,
            undefined,
            `${file}: row group ${g}: column "${cols[short]}": ${filled[short]} values decoded, the footer says ${n} rows`,
          );
      }
      for (let s = 0; s < n; s += BATCH_ROWS) {
        const e = Math.min(n, s + BATCH_ROWS);
        const lines = rowLines(rowStart, s, e);
        if (asJson) {
          // bx-extract only forwards NDJSON: write the lines here, no object per record.
          yield {
            name: file,
            lines,
            records: [],
            ndjson: Buffer.from(
              jsonLines(order, cols, values, hiveOut, s, e, this.lineage ? { file, start: rowStart } : undefined),
            ),
          };
          continue;
        }
        const records: Rec[] = new Array(e - s);
        for (let i = s; i < e; i++) {
          const rec: Rec = {};
          if (this.columns) {
            for (const name of order) {
              const c = cols.indexOf(name);
              if (c >= 0) rec[name] = values[c][i];
              else rec[name] = hiveOut.find(([k]) => k === name)![1];
            }
          } else {
            for (let c = 0; c < cols.length; c++) rec[cols[c]] = values[c][i];
            for (const [k, v] of hiveOut) rec[k] = v;
          }
          if (needsOrder) setKeyOrder(rec, order);
          if (this.lineage) {
            rec._file = file;
            rec._line = rowStart + i + 1;
          }
          records[i - s] = rec;
        }
        yield { name: file, lines, records };
      }
      rowStart = rowEnd;
    }
  }
}

/** Rows s..e as NDJSON text: keys in `order`, values converted, the hive fields' JSON once per file. */
function jsonLines(
  order: string[],
  cols: string[],
  values: unknown[][],
  hive: readonly (readonly [string, unknown])[],
  s: number,
  e: number,
  lineage: { file: string; start: number } | undefined,
): string {
  const parts: ({ col: unknown[] } | { text: string })[] = order.map((name, k) => {
    const c = cols.indexOf(name);
    const key = `${k ? ',' : '{'}${JSON.stringify(name)}:`;
    return c >= 0 ? { key, col: values[c] } : { key, text: JSON.stringify(hive.find(([h]) => h === name)![1]) };
  }) as never;
  const keys = order.map((name, k) => `${k ? ',' : '{'}${JSON.stringify(name)}:`);
  const tail = lineage ? `,"_file":${JSON.stringify(lineage.file)},"_line":` : '';
  let out = '';
  for (let i = s; i < e; i++) {
    let line = order.length ? '' : '{';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k] as { col?: unknown[]; text?: string };
      if (p.col) {
        const v = p.col[i];
        line += keys[k] + (v === null ? 'null' : typeof v === 'number' ? String(v) : JSON.stringify(v));
      } else line += keys[k] + p.text;
    }
    if (lineage) line += `${tail}${lineage.start + i + 1}`;
    out += `${line}}\n`;
  }
  return out;
}

/** Rows s..e as NDJSON from columns already JSON text (parquet-decode.ts): one concatenation per row. */
function textLines(
  order: string[],
  cols: string[],
  texts: string[][],
  hive: readonly (readonly [string, unknown])[],
  s: number,
  e: number,
  lineage: { file: string; start: number } | undefined,
): string {
  // Each output key with its column's texts, or its hive value's fixed text.
  const keys = order.map((name, k) => `${k ? ',' : '{'}${JSON.stringify(name)}:`);
  const src = order.map((name) => {
    const c = cols.indexOf(name);
    return c >= 0 ? texts[c] : JSON.stringify(hive.find(([h]) => h === name)![1]);
  });
  const tail = lineage ? `,"_file":${JSON.stringify(lineage.file)},"_line":` : '';
  const m = order.length;
  let out = '';
  for (let i = s; i < e; i++) {
    let line = m ? '' : '{';
    for (let k = 0; k < m; k++) {
      const t = src[k];
      line += keys[k] + (typeof t === 'string' ? t : t[i]);
    }
    if (lineage) line += `${tail}${lineage.start + i + 1}`;
    out += `${line}}\n`;
  }
  return out;
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  if (req.target === '-')
    throw new UsageError(
      'Parquet cannot be read from stdin: its footer is at the end of the file; save it to a file first',
    );
  // Listing happens here, before the first record goes out: an empty directory is exit 66 at once.
  const files = isS3(req.target) ? await s3LakeFiles(req.target, io.env) : await lakeFiles(req.target);
  return new ParquetSource(req.target, req.columns, Boolean(req.read.lineage), files, undefined, io.env);
};

/** The file's row numbers (from 1) of a row group's rows s…e-1, the group starting after `rowStart` rows. */
function rowLines(rowStart: number, s: number, e: number): number[] {
  const lines: number[] = new Array(e - s);
  for (let i = s; i < e; i++) lines[i - s] = rowStart + i + 1;
  return lines;
}
