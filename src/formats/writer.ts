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

// ---- The writer registry: a format writer is one file plus one line here, loaded only when a
// run writes that format (as the reader registry in index.ts).
import { once } from 'node:events';
import { PipeClosed, UsageError } from '../lib/errors.js';

const writers: Record<string, () => Promise<Writer>> = {
  csv: async () => (await import('./csv-write.js')).csvWriter,
  tsv: async () => (await import('./csv-write.js')).tsvWriter,
  ndjson: async () => (await import('./ndjson-write.js')).ndjsonWriter,
  xml: async () => (await import('./xml-write.js')).xmlWriter,
};

export const writerNames = (): string[] => Object.keys(writers);

export async function writerFor(format: string): Promise<Writer> {
  const load = writers[format];
  if (!load) throw new UsageError(`--to: no file writer for "${format}"; known: ${writerNames().join(', ')}`);
  return load();
}

/**
 * Writes one block and waits while `out` is behind. A destination that has failed throws its
 * error (an EPIPE on stdout becomes PipeClosed: the reader left, the run ends with 0), so a
 * writer never waits for a 'drain' that cannot come.
 */
export async function put(out: Writable, block: string | Uint8Array): Promise<void> {
  if (out.errored) throw pipeOr(out.errored);
  if (out.destroyed || out.writableEnded) throw new PipeClosed();
  if (block.length === 0) return;
  if (out.write(block)) return;
  const ac = new AbortController();
  try {
    // once() rejects on 'error'; 'close' without one means the reader is gone.
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => Promise.reject(out.errored ?? new PipeClosed())),
    ]);
  } catch (err) {
    throw pipeOr(err);
  } finally {
    ac.abort();
  }
}

function pipeOr(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' ? new PipeClosed() : err;
}
