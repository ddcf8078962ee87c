import type { Readable } from 'node:stream';
import { DataError, type Origin } from './errors.js';
import { DEFAULT_MAX_DEPTH, parseJson } from './json.js';
import { DEFAULT_MAX_LINE, splitLines } from './lines.js';
import { decodeText } from './text.js';

export type Rec = Record<string, unknown>;

/**
 * Records read together: `records[i]` starts at physical line `lines[i]` of stream `name`.
 * One number per record keeps every origin known without a wrapper object per record.
 */
export interface RecordBatch {
  name: string;
  lines: number[];
  records: Rec[];
}

export const originOf = (b: RecordBatch, i: number): Origin => ({ file: b.name, line: b.lines[i] });

/** The end-of-stream mark of a sealed stream (DESIGN.md "The sealed stream"). */
export const TRAILER_PREFIX = '{"@bx":"end"';
export const trailer = (records: number) => `{"@bx":"end","records":${records}}`;

export interface ReadRecordOptions {
  /** Refuse input that ends without its trailer. */
  expectSealed: boolean;
  maxLine?: number;
  maxDepth?: number;
  /** When set, a malformed line goes here instead of stopping the run. */
  onMalformed?: (err: DataError, line: string) => void;
}

/**
 * Reads NDJSON records in batches, one batch per chunk read. Blank lines are skipped; a line
 * that is not a JSON object is a DataError at its line (or goes to onMalformed). The trailer of
 * a sealed stream is checked and stripped, and never reaches the caller as a record.
 */
export async function* readRecordBatches(input: Readable | AsyncIterable<Buffer | string>, name: string, opts: ReadRecordOptions): AsyncGenerator<RecordBatch> {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  let count = 0;
  let sealedAt: Origin | undefined;
  let lastLine = 0;
  for await (const batch of splitLines(decodeText(input, name), name, opts.maxLine ?? DEFAULT_MAX_LINE)) {
    const records: Rec[] = [];
    const lines: number[] = [];
    const src = batch.lines;
    for (let i = 0; i < src.length; i++) {
      const text = src[i];
      const lineNo = batch.first + i;
      if (text.length === 0 || text === '\r') continue;
      if (text.startsWith(TRAILER_PREFIX)) {
        checkTrailer(text, { file: name, line: lineNo }, count);
        sealedAt = { file: name, line: lineNo };
        continue;
      }
      const at = { file: name, line: lineNo };
      count++; // the producer counted every line it wrote, malformed or not
      if (sealedAt) throw new DataError(at, undefined, `record after the end-of-stream mark of line ${sealedAt.line}`);
      let rec: unknown;
      try {
        rec = parseJson(text, at, maxDepth);
        if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
          throw new DataError(at, undefined, `expected a JSON object, got ${Array.isArray(rec) ? 'an array' : JSON.stringify(rec)}`);
        }
      } catch (err) {
        if (err instanceof DataError && opts.onMalformed) {
          opts.onMalformed(err, text);
          continue;
        }
        throw err;
      }
      records.push(rec as Rec);
      lines.push(lineNo);
    }
    lastLine = batch.first + src.length - 1;
    if (records.length > 0) yield { name, lines, records };
  }
  if (opts.expectSealed && !sealedAt) {
    throw new DataError({ file: name, line: lastLine + 1 }, undefined, 'input ended without its end-of-stream mark; upstream stage failed (use --accept-unsealed for a plain NDJSON file)');
  }
}

function checkTrailer(text: string, at: Origin, count: number) {
  let t: { '@bx'?: unknown; records?: unknown };
  try {
    t = JSON.parse(text);
  } catch {
    throw new DataError(at, undefined, 'malformed end-of-stream mark');
  }
  if (t.records !== count) {
    throw new DataError(at, undefined, `end-of-stream mark says ${String(t.records)} records, but ${count} arrived; records were lost upstream`);
  }
}
