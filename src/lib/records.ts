import type { Readable } from 'node:stream';
import { DataError, type Origin } from './errors.js';
import { DEFAULT_MAX_DEPTH, parseJson } from './json.js';
import { DEFAULT_MAX_LINE, splitLines, tooLong } from './lines.js';
import { SealCheck } from './seal.js';
import type { Trailer } from './stream.js';
import { checkUtf8, decodeText, utf8Bytes } from './text.js';

export type { Rec } from './stream.js';
import type { Rec } from './stream.js';

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

export interface ReadRecordOptions {
  /** Refuse input that ends without its trailer. */
  expectSealed: boolean;
  maxLine?: number;
  maxDepth?: number;
  /** Called with the trailer of a sealed input (its checkpoints travel on to the next stage). */
  onTrailer?: (t: Trailer) => void;
  /** When set, a malformed line goes here instead of stopping the run. */
  onMalformed?: (err: DataError, line: string) => void;
}

/**
 * Reads NDJSON records in batches, one batch per chunk read. Blank lines are skipped; a line
 * that is not a JSON object is a DataError at its line (or goes to onMalformed). The trailer of
 * a sealed stream is checked and stripped, and never reaches the caller as a record.
 */
export async function* readRecordBatches(
  input: Readable | AsyncIterable<Buffer | string>,
  name: string,
  opts: ReadRecordOptions,
): AsyncGenerator<RecordBatch> {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const seal = new SealCheck(name, opts.expectSealed, opts.onTrailer);
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

/**
 * Record lines not yet parsed, as bytes: line i is `buf` from `starts[i]` to `ends[i]` (valid
 * UTF-8, without its newline) and physical line `lines[i]` of stream `name`.
 */
export interface LineRecordBatch {
  name: string;
  buf: Buffer;
  starts: number[];
  ends: number[];
  lines: number[];
}

/** Line i of a batch as text. */
export const lineText = (b: LineRecordBatch, i: number): string => b.buf.toString('utf8', b.starts[i], b.ends[i]);

/** A batch of the given lines (tests, and records already held as text). */
export function lineBatch(name: string, lines: number[], texts: string[]): LineRecordBatch {
  const starts: number[] = [];
  const ends: number[] = [];
  const parts: Buffer[] = [];
  let at = 0;
  for (const t of texts) {
    const b = Buffer.from(t);
    parts.push(b, NEWLINE);
    starts.push(at);
    ends.push(at + b.length);
    at += b.length + 1;
  }
  return { name, buf: Buffer.concat(parts), starts, ends, lines };
}

const NEWLINE = Buffer.from('\n');

/**
 * readRecordBatches without the parsing or the decoding: the bytes of each record line, for a
 * consumer that reads the JSON itself (bx-load transcodes lines to COPY text byte by byte).
 * Each chunk is checked to be UTF-8 in one native call and cut at newlines; blank lines, the
 * trailer and the seal are handled exactly as by readRecordBatches; lineText and parseRecord
 * make a record of a line. A UTF-16 input (it starts with its BOM) is decoded and re-encoded.
 */
export async function* readLineBatches(
  input: Readable | AsyncIterable<Buffer | string>,
  name: string,
  opts: Omit<ReadRecordOptions, 'maxDepth' | 'onMalformed'>,
): AsyncGenerator<LineRecordBatch> {
  const seal = new SealCheck(name, opts.expectSealed, opts.onTrailer);
  const maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  // A line not yet ended, as pieces: a long line is joined once, not once per chunk.
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let lineNo = 1;
  for await (const piece of utf8Bytes(input, name)) {
    const last = piece.lastIndexOf(0x0a);
    if (last === -1) {
      pending.push(piece);
      pendingLength += piece.length;
      if (pendingLength > maxLine) throw tooLong(name, lineNo, maxLine, 'bytes');
      continue;
    }
    // The line the last chunk left open is joined on its own (pending + this chunk up to its first
    // newline); the chunk's other whole lines are cut where they lie. Joining the whole chunk to
    // the tail copied every byte of the input once more (~10 % of bx-load's CPU, --cpu-prof).
    // Both parts are checked and cut before either is yielded, as one batch was.
    let head: (LineRecordBatch & { next: number }) | undefined;
    let from = 0;
    if (pending.length) {
      const first = piece.indexOf(0x0a);
      const joined = Buffer.concat([...pending, piece.subarray(0, first + 1)]);
      checkUtf8(joined, name, lineNo - 1, false);
      head = cutLines(joined, name, lineNo, seal, maxLine);
      lineNo = head.next;
      from = first + 1;
    }
    const whole = piece.subarray(from, last + 1);
    pending = last + 1 < piece.length ? [piece.subarray(last + 1)] : [];
    pendingLength = piece.length - last - 1;
    checkUtf8(whole, name, lineNo - 1, false);
    const batch = cutLines(whole, name, lineNo, seal, maxLine);
    lineNo = batch.next;
    seal.batchEnd(lineNo - 1);
    if (pendingLength > maxLine) throw tooLong(name, lineNo, maxLine, 'bytes');
    if (head && head.lines.length > 0) yield head;
    if (batch.lines.length > 0) yield batch;
  }
  if (pendingLength > 0) {
    checkUtf8(Buffer.concat(pending), name, lineNo - 1, true);
    const rest = Buffer.concat([...pending, NEWLINE]);
    const batch = cutLines(rest, name, lineNo, seal, maxLine);
    seal.batchEnd(lineNo);
    if (batch.lines.length > 0) yield batch;
  }
  seal.end();
}

function cutLines(
  buf: Buffer,
  name: string,
  lineNo: number,
  seal: SealCheck,
  maxLine: number,
): LineRecordBatch & { next: number } {
  const starts: number[] = [];
  const ends: number[] = [];
  const lines: number[] = [];
  for (let s = 0; s < buf.length; lineNo++) {
    const nl = buf.indexOf(0x0a, s);
    if (nl - s > maxLine) throw tooLong(name, lineNo, maxLine, 'bytes');
    if (seal.isRecordBytes(buf, s, nl, lineNo)) {
      starts.push(s);
      ends.push(nl);
      lines.push(lineNo);
    }
    s = nl + 1;
  }
  return { name, buf, starts, ends, lines, next: lineNo };
}

/** One record line as a record: a DataError at `at` unless it is a JSON object. */
export function parseRecord(text: string, at: Origin, maxDepth = DEFAULT_MAX_DEPTH): Rec {
  const rec = parseJson(text, at, maxDepth);
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
    throw new DataError(
      at,
      undefined,
      `expected a JSON object, got ${Array.isArray(rec) ? 'an array' : JSON.stringify(rec)}`,
    );
  }
  return rec as Rec;
}
