// The stringify half of a format (docs/design.md "Adding a format writer"): a writer turns
// batches into bytes on a Writable, waiting for 'drain'. It never opens, renames or removes
// files: sinks/file.ts does that around it (temp name, gzip, rename).
import type { Writable } from 'node:stream';
import type { Batch } from '../lib/stream.js';

export interface WriteOptions {
  header: boolean;
  delimiter?: string;
  bom: boolean;
  csvSafe: boolean;
  xmlRoot: string;
  xmlRecord: string;
}

export interface FormatWriter {
  write(b: Batch): Promise<void>;
  /** Writes what a format needs at the end (an XML closing tag) and flushes. Does not end `out`. */
  end(): Promise<void>;
}

export type Writer = (out: Writable, opts: WriteOptions) => FormatWriter;
