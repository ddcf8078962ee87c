// The sink registry: where records go. A sink is one file here plus one line in `kinds`
// (docs/design.md "Adding a sink"). Modules load only when a run needs them.
import { UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import type { Sink } from '../lib/stream.js';

/** The file formats bx-load writes with --to (besides PostgreSQL, the default). */
export const FILE_FORMATS = ['csv', 'tsv', 'ndjson', 'xml', 'parquet'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

export interface SinkRequest {
  /** --to: the format; --path FILE, DIR (parquet lake) or - for stdout. */
  to: FileFormat;
  path: string;
  /** --schema FILE: field types for formats that carry them (Parquet); else inferred from the first records. */
  schemaFile?: string;
  inferRows: number;
  /** CSV/TSV. */
  header: boolean;
  delimiter?: string;
  bom: boolean;
  /** --csv-safe: prefix cells starting with = + - @ TAB CR with ' so spreadsheets never run them. */
  csvSafe: boolean;
  /** XML element names. */
  xmlRoot: string;
  xmlRecord: string;
  /** Parquet. */
  partitionBy?: string[];
  rowGroupSize?: number;
  codec?: 'snappy' | 'gzip' | 'zstd' | 'uncompressed';
  /** A file sink writes the trailer's checkpoints here, atomically, after its output is in place. */
  stateFile?: string;
}

export type SinkOpener = (req: SinkRequest, io: Io) => Promise<Sink>;

/** format → module under src/sinks/ exporting `open: SinkOpener`. */
const kinds: Record<FileFormat, string> = { csv: 'file', tsv: 'file', ndjson: 'file', xml: 'file', parquet: 'lake' };

export async function openSink(req: SinkRequest, io: Io): Promise<Sink> {
  const name = kinds[req.to];
  if (!name) throw new UsageError(`--to: unknown format "${req.to}"; known: postgres, ${FILE_FORMATS.join(', ')}`);
  const mod = (await import(`./${name}.js`)) as { open: SinkOpener };
  const sink = await mod.open(req, io);
  return req.stateFile ? withStateFile(sink, req.stateFile, io) : sink;
}

/** A file sink's checkpoints go to the state file only once its output is in place (end() returned). */
function withStateFile(sink: Sink, file: string, io: Io): Sink {
  return {
    write: (b) => sink.write(b),
    abort: (err) => sink.abort(err),
    async end(t) {
      const r = await sink.end(t);
      const { writeStateFile } = await import('../run/state.js');
      await writeStateFile(file, t.checkpoint ?? [], io.env.BX_RUN_ID);
      return r;
    },
  };
}
