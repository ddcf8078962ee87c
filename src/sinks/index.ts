// The sink registry: where records go. A sink is one file here plus one line in `kinds`
// (docs/design.md "Adding a sink"). Modules load only when a run needs them.
import { UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import type { TableSchema } from '../lib/schema.js';
import type { Sink } from '../lib/stream.js';

/** The file formats bx-load writes with --to (besides PostgreSQL, the default). */
export const FILE_FORMATS = ['csv', 'tsv', 'ndjson', 'xml', 'parquet'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

export interface SinkRequest {
  /** --to: the format; --path FILE, DIR (parquet lake) or - for stdout. */
  to: FileFormat;
  path: string;
  /** --schema: field types for formats that carry them (Parquet); else inferred from the first records. */
  schema?: TableSchema;
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
  return mod.open(req, io);
}
