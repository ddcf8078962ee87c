// A bx record stream as a source: the input of every stage after bx-extract. The trailer of a
// sealed input is checked and stripped here, and its checkpoints are passed on.
import { openInput, type Io } from '../lib/io.js';
import { readLineBatches, readRecordBatches } from '../lib/records.js';
import type { Batch, Checkpoint, Source } from '../lib/stream.js';

export class NdjsonSource implements Source {
  private upstream: Checkpoint[] = [];

  constructor(
    private readonly io: Io,
    readonly name: string,
  ) {}

  async *batches(): AsyncGenerator<Batch> {
    const input = await openInput(this.io, this.name);
    yield* readRecordBatches(input.stream, input.name, { expectSealed: this.io.seal.expectSealed, onTrailer: (t) => (this.upstream = t.checkpoint ?? []) });
  }

  /**
   * The record lines as bytes, not parsed (bx-load's transcoder, passthrough sinks): a Batch
   * with `ndjson` and the LineRecordBatch cut of each line.
   */
  async *lineBatches() {
    const input = await openInput(this.io, this.name);
    yield* readLineBatches(input.stream, input.name, { expectSealed: this.io.seal.expectSealed, onTrailer: (t) => (this.upstream = t.checkpoint ?? []) });
  }

  checkpoints(): Checkpoint[] {
    return this.upstream;
  }
}
