// The sealed stream (docs/design.md "The sealed stream"): the one stage-to-stage side channel.
// A sealed output ends with `{"@bx":"end","records":N}`, plus the sources' checkpoints when
// there are any; a sealed input must end with it, and its count must match.
import { DataError, type Origin } from './errors.js';
import type { Checkpoint, Trailer } from './stream.js';

export const TRAILER_PREFIX = '{"@bx":"end"';
const TRAILER_BYTES = Buffer.from(TRAILER_PREFIX);

export const trailer = (records: number, checkpoint?: Checkpoint[]) =>
  checkpoint && checkpoint.length
    ? `{"@bx":"end","records":${records},"checkpoint":${JSON.stringify(checkpoint)}}`
    : `{"@bx":"end","records":${records}}`;

export const UNSEALED_END =
  'input ended without its end-of-stream mark; upstream stage failed (use --accept-unsealed for a plain NDJSON file)';

/** The sealed-stream bookkeeping of one stream: blank lines, the trailer, the record count. */
export class SealCheck {
  private count = 0;
  private sealedAt: Origin | undefined;
  private lastLine = 0;

  constructor(
    private readonly name: string,
    private readonly expectSealed: boolean,
    private readonly onTrailer?: (t: Trailer) => void,
  ) {}

  /** isRecord for the line `buf` holds from `s` to `e`, looking at its bytes. */
  isRecordBytes(buf: Buffer, s: number, e: number, lineNo: number): boolean {
    if (s === e || (e === s + 1 && buf[s] === 0x0d)) return false;
    if (
      buf[s] === 0x7b &&
      buf[s + 1] === 0x22 &&
      buf[s + 2] === 0x40 &&
      buf.compare(TRAILER_BYTES, 0, TRAILER_BYTES.length, s, Math.min(e, s + TRAILER_BYTES.length)) === 0
    ) {
      return this.isRecord(buf.toString('utf8', s, e), lineNo);
    }
    return this.counted(lineNo);
  }

  /** Whether line `lineNo` holds a record (not blank, not the trailer, which is checked here). */
  isRecord(text: string, lineNo: number): boolean {
    if (text.length === 0 || text === '\r') return false;
    if (text.startsWith(TRAILER_PREFIX)) {
      const t = checkTrailer(text, { file: this.name, line: lineNo }, this.count);
      this.onTrailer?.(t);
      this.sealedAt = { file: this.name, line: lineNo };
      return false;
    }
    return this.counted(lineNo);
  }

  /** Counts a record line (the producer counted every line it wrote, malformed or not); none may follow the mark. */
  private counted(lineNo: number): true {
    this.count++;
    if (this.sealedAt) {
      throw new DataError(
        { file: this.name, line: lineNo },
        undefined,
        `record after the end-of-stream mark of line ${this.sealedAt.line}`,
      );
    }
    return true;
  }

  batchEnd(lastLine: number) {
    this.lastLine = lastLine;
  }

  end() {
    if (this.expectSealed && !this.sealedAt) {
      throw new DataError({ file: this.name, line: this.lastLine + 1 }, undefined, UNSEALED_END);
    }
  }
}

/** Checks a trailer line against the records counted before it; returns it. */
export function checkTrailer(text: string, at: Origin, count: number): Trailer {
  let t: { '@bx'?: unknown; records?: unknown; checkpoint?: unknown };
  try {
    t = JSON.parse(text);
  } catch {
    throw new DataError(at, undefined, 'malformed end-of-stream mark');
  }
  if (t.records !== count) {
    throw new DataError(
      at,
      undefined,
      `end-of-stream mark says ${String(t.records)} records, but ${count} arrived; records were lost upstream`,
    );
  }
  if (t.checkpoint !== undefined && !Array.isArray(t.checkpoint))
    throw new DataError(at, undefined, 'malformed end-of-stream mark: checkpoint is not a list');
  return { records: count, checkpoint: t.checkpoint as Checkpoint[] | undefined };
}
