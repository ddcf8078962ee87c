// The format registry (STYLE.md "Formats"): a format is one file plus one line here, and a
// reader's module is loaded only when a run needs it (start-up is a per-stage cost).
import { UsageError, type Origin } from '../lib/errors.js';
import type { NamedInput } from '../lib/io.js';
import type { Logger } from '../lib/log.js';
import type { Batch, StageContext, Trailer } from '../lib/stream.js';
import type { RuleFailure } from '../lib/rejects.js';
import type { Encoding } from '../lib/text.js';

/** How to read a source. Each reader uses the fields that mean something to it. */
export interface ReadOptions {
  encoding: Encoding;
  /** CSV/TSV dialect, each left out for the format's default. `quote: ''` turns quoting off (the TSV default). */
  delimiter?: string;
  quote?: string;
  escape?: string;
  header: boolean;
  /** Field names to use instead of the header (or of c1..cN without one). */
  columns?: string[];
  /** Physical lines dropped before the header (a preamble). */
  skipLines: number;
  /**
   * CSV/TSV: a quote inside a quoted field that is not doubled and not followed by the
   * delimiter or a line break is text (`"5'11" tall"`), as Go's LazyQuotes and Miller's
   * --lazy-quotes read it. A quote inside an unquoted field is text in any case.
   */
  relaxQuotes?: boolean;
  /** A line starting with this is skipped (CSV/TSV). */
  comment?: string;
  /** JSON: the keys leading to the record array; XML: the element names leading to a record. */
  recordPath?: string[];
  /** XML: drop namespace prefixes and xmlns attributes. */
  stripNs: boolean;
  /** The largest record (characters) held in memory; an unterminated quote stops here. */
  maxRecordSize: number;
  /** JSON/XML nesting limit. */
  maxDepth: number;
  /** Add `_file` and `_line` to each record (bx-extract --lineage). */
  lineage?: boolean;
  /** NDJSON: called with the trailer a saved sealed stream ends with (its checkpoints pass on). */
  onTrailer?: (t: Trailer) => void;
}

/** What a reader may use: the stage's context (StageContext in lib/stream.ts). */
export type ReadContext = StageContext;

/**
 * A Batch as a reader yields it. With `ndjson`, the batch holds its records as NDJSON (UTF-8
 * bytes) instead of objects, and `records` is empty: one line per record, each ending with a
 * newline, line i starting at source line `lines[i]`. The bytes are the reader's to keep
 * unchanged after the batch: a consumer may write them out as they are.
 */
export type ReadBatch = Batch;

/**
 * Turns one opened source into batches of records, the same shape every bx stage passes on:
 * `records[i]` starts at line `lines[i]` of `name`. Readers for sources that are not byte
 * streams (database queries) can take their source by name in `input.name`.
 */
export type Reader = (input: NamedInput, opts: ReadOptions, ctx: ReadContext) => AsyncIterable<ReadBatch>;

const readers: Record<string, () => Promise<Reader>> = {
  csv: async () => (await import('./csv.js')).csvReader,
  tsv: async () => (await import('./csv.js')).tsvReader,
  ndjson: async () => (await import('./ndjson.js')).ndjsonReader,
  json: async () => (await import('./json.js')).jsonReader,
  xml: async () => (await import('./xml.js')).xmlReader, // loaded only for XML
};

/** Other names a user may give with --format. */
const aliases: Record<string, string> = { jsonl: 'ndjson' };

export const formatNames = (): string[] => [...Object.keys(readers), ...Object.keys(aliases)];

export function canonicalFormat(name: string): string {
  const n = name.toLowerCase();
  const f = aliases[n] ?? n;
  if (!readers[f]) throw new UsageError(`--format: unknown format "${name}"; known: ${formatNames().join(', ')}`);
  return f;
}

export async function readerFor(name: string): Promise<Reader> {
  return readers[canonicalFormat(name)]();
}

const extensions: Record<string, string> = {
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  json: 'json',
  xml: 'xml',
};

/** The format a file name announces (`sales.csv.gz` → csv), or undefined. */
export function formatOfPath(path: string): string | undefined {
  const m = /\.([a-z0-9]+)(?:\.gz)?$/i.exec(path);
  return m ? extensions[m[1].toLowerCase()] : undefined;
}
