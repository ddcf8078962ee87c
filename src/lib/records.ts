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
  const seal = new SealCheck(name, opts.expectSealed);
  for await (const batch of splitLines(decodeText(input, name), name, opts.maxLine ?? DEFAULT_MAX_LINE)) {
    const records: Rec[] = [];
    const lines: number[] = [];
    const src = batch.lines;
    for (let i = 0; i < src.length; i++) {
      const text = src[i];
      const lineNo = batch.first + i;
      if (!seal.isRecord(text, lineNo)) continue;
      let rec: Rec;
      try {
        rec = parseRecord(text, { file: name, line: lineNo }, maxDepth);
      } catch (err) {
        if (err instanceof DataError && opts.onMalformed) {
          opts.onMalformed(err, text);
          continue;
        }
        throw err;
      }
      records.push(rec);
      lines.push(lineNo);
    }
    seal.batchEnd(batch.first + src.length - 1);
    if (records.length > 0) yield { name, lines, records };
  }
  seal.end();
}

/** Record lines not yet parsed: `texts[i]` is physical line `lines[i]` of stream `name`. */
export interface LineRecordBatch {
  name: string;
  lines: number[];
  texts: string[];
}

/**
 * readRecordBatches without the parsing: the text of each record line, for a consumer that
 * reads the JSON itself (bx-load transcodes lines to COPY text). Blank lines, the trailer and
 * the seal are handled exactly as by readRecordBatches; parseRecord makes a record of a line.
 */
export async function* readLineBatches(input: Readable | AsyncIterable<Buffer | string>, name: string, opts: Omit<ReadRecordOptions, 'maxDepth' | 'onMalformed'>): AsyncGenerator<LineRecordBatch> {
  const seal = new SealCheck(name, opts.expectSealed);
  for await (const batch of splitLines(decodeText(input, name), name, opts.maxLine ?? DEFAULT_MAX_LINE)) {
    const texts: string[] = [];
    const lines: number[] = [];
    const src = batch.lines;
    for (let i = 0; i < src.length; i++) {
      if (!seal.isRecord(src[i], batch.first + i)) continue;
      texts.push(src[i]);
      lines.push(batch.first + i);
    }
    seal.batchEnd(batch.first + src.length - 1);
    if (texts.length > 0) yield { name, lines, texts };
  }
  seal.end();
}

/** One record line as a record: a DataError at `at` unless it is a JSON object. */
export function parseRecord(text: string, at: Origin, maxDepth = DEFAULT_MAX_DEPTH): Rec {
  const rec = parseJson(text, at, maxDepth);
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
    throw new DataError(at, undefined, `expected a JSON object, got ${Array.isArray(rec) ? 'an array' : JSON.stringify(rec)}`);
  }
  return rec as Rec;
}

/** The sealed-stream bookkeeping of one stream: blank lines, the trailer, the record count. */
class SealCheck {
  private count = 0;
  private sealedAt: Origin | undefined;
  private lastLine = 0;

  constructor(
    private readonly name: string,
    private readonly expectSealed: boolean,
  ) {}

  /** Whether line `lineNo` holds a record (not blank, not the trailer, which is checked here). */
  isRecord(text: string, lineNo: number): boolean {
    if (text.length === 0 || text === '\r') return false;
    if (text.startsWith(TRAILER_PREFIX)) {
      checkTrailer(text, { file: this.name, line: lineNo }, this.count);
      this.sealedAt = { file: this.name, line: lineNo };
      return false;
    }
    this.count++; // the producer counted every line it wrote, malformed or not
    if (this.sealedAt) throw new DataError({ file: this.name, line: lineNo }, undefined, `record after the end-of-stream mark of line ${this.sealedAt.line}`);
    return true;
  }

  batchEnd(lastLine: number) {
    this.lastLine = lastLine;
  }

  end() {
    if (this.expectSealed && !this.sealedAt) {
      throw new DataError({ file: this.name, line: this.lastLine + 1 }, undefined, 'input ended without its end-of-stream mark; upstream stage failed (use --accept-unsealed for a plain NDJSON file)');
    }
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
