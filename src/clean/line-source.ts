// bx-clean's input for the byte path: NdjsonSource's record lines as bytes (readLineBatches),
// limited as readRecordBatches limits them, in characters, so that a long line fails as it
// does on the object path: the byte reader takes 3x the bytes (a character is at most 3), and
// each batch's lines are measured here before any of them is cleaned.
import { openInput, type Io, type NamedInput } from '../lib/io.js';
import { DataError } from '../lib/errors.js';
import { DEFAULT_MAX_LINE, tooLong } from '../lib/lines.js';
import { lineText, readLineBatches, type LineRecordBatch } from '../lib/records.js';
import type { Batch, Checkpoint, Rec, Source, Trailer } from '../lib/stream.js';

export type LineBatch = Batch & LineRecordBatch;

/** Whether a batch holds its lines as bytes (LineSource's). */
export const isLineBatch = (b: Batch): b is LineBatch => 'starts' in b;

export class LineSource implements Source {
  private upstream: Checkpoint[] = [];
  private input: NamedInput | undefined;

  constructor(
    private readonly io: Io,
    readonly name: string,
    private readonly maxLine = DEFAULT_MAX_LINE,
  ) {}

  async *batches(): AsyncGenerator<Batch> {
    const input = (this.input ??= await openInput(this.io, this.name));
    const maxLine = this.maxLine;
    try {
      for await (const b of readLineBatches(input.stream, input.name, {
        expectSealed: this.io.seal.expectSealed,
        maxLine: 3 * maxLine,
        onTrailer: (t: Trailer) => (this.upstream = t.checkpoint ?? []),
      })) {
        for (let i = 0; i < b.starts.length; i++)
          if (b.ends[i] - b.starts[i] > maxLine && lineText(b, i).length > maxLine)
            throw tooLong(input.name, b.lines[i], maxLine);
        yield Object.assign(b, { records: NO_RECORDS });
      }
    } catch (err) {
      // The byte reader's "line longer than 3N bytes" is the object path's "longer than N characters".
      if (err instanceof DataError && err.at && /^line longer than \d+ bytes/.test(err.detail ?? ''))
        throw tooLong(input.name, err.at.line, maxLine);
      throw err;
    }
  }

  checkpoints(): Checkpoint[] {
    return this.upstream;
  }
}

const NO_RECORDS: Rec[] = [];
