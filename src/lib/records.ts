import type { Readable } from 'node:stream';
import { DataError, type Origin } from './errors.js';
import { DEFAULT_MAX_DEPTH, parseJson } from './json.js';
import { DEFAULT_MAX_LINE, splitLines, tooLong } from './lines.js';
import { checkUtf8, decodeText, utf8Bytes } from './text.js';

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
const TRAILER_BYTES = Buffer.from(TRAILER_PREFIX);

/**
 * readRecordBatches without the parsing or the decoding: the bytes of each record line, for a
 * consumer that reads the JSON itself (bx-load transcodes lines to COPY text byte by byte).
 * Each chunk is checked to be UTF-8 in one native call and cut at newlines; blank lines, the
 * trailer and the seal are handled exactly as by readRecordBatches; lineText and parseRecord
 * make a record of a line. A UTF-16 input (it starts with its BOM) is decoded and re-encoded.
 */
export async function* readLineBatches(input: Readable | AsyncIterable<Buffer | string>, name: string, opts: Omit<ReadRecordOptions, 'maxDepth' | 'onMalformed'>): AsyncGenerator<LineRecordBatch> {
  const seal = new SealCheck(name, opts.expectSealed);
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
    const whole = pending.length ? Buffer.concat([...pending, piece.subarray(0, last + 1)]) : piece.subarray(0, last + 1);
    pending = last + 1 < piece.length ? [piece.subarray(last + 1)] : [];
    pendingLength = piece.length - last - 1;
    checkUtf8(whole, name, lineNo - 1, false);
    const batch = cutLines(whole, name, lineNo, seal, maxLine);
    lineNo = batch.next;
    seal.batchEnd(lineNo - 1);
    if (pendingLength > maxLine) throw tooLong(name, lineNo, maxLine, 'bytes');
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

function cutLines(buf: Buffer, name: string, lineNo: number, seal: SealCheck, maxLine: number): LineRecordBatch & { next: number } {
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

  /** isRecord for the line `buf` holds from `s` to `e`, looking at its bytes. */
  isRecordBytes(buf: Buffer, s: number, e: number, lineNo: number): boolean {
    if (s === e || (e === s + 1 && buf[s] === 0x0d)) return false;
    if (buf[s] === 0x7b && buf[s + 1] === 0x22 && buf[s + 2] === 0x40 && buf.compare(TRAILER_BYTES, 0, TRAILER_BYTES.length, s, Math.min(e, s + TRAILER_BYTES.length)) === 0) {
      return this.isRecord(buf.toString('utf8', s, e), lineNo);
    }
    this.count++;
    if (this.sealedAt) throw new DataError({ file: this.name, line: lineNo }, undefined, `record after the end-of-stream mark of line ${this.sealedAt.line}`);
    return true;
  }

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
