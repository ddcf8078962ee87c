// A bx record stream as a source: the input of every stage after bx-extract. The trailer of a
// sealed input is checked and stripped here, and its checkpoints are passed on.
import { openInput, type Io, type NamedInput } from '../lib/io.js';
import { readLineBatches, readRecordBatches } from '../lib/records.js';
import type { Batch, Checkpoint, Rec, Source, Trailer } from '../lib/stream.js';

export class NdjsonSource implements Source {
  private upstream: Checkpoint[] = [];
  private input: NamedInput | undefined;

  constructor(
    private readonly io: Io,
    readonly name: string,
    /** Hand on the record lines as bytes, not parsed (bx-load's transcoder): LineRecordBatch with records []. */
    private readonly opts: { bytes?: boolean } = {},
  ) {}

  /** Opens the input now (a missing file is exit 66 before anything else happens). */
  async open(): Promise<NamedInput> {
    this.input ??= await openInput(this.io, this.name);
    return this.input;
  }

  /**
   * Stops reading: a wait for input that may never come ends, and batches() ends quietly. The
   * one who stopped it (a failed load, a signal) has the error worth reporting, not "premature close".
   */
  stop(): void {
    this.stopped = true;
    this.input?.stream.destroy();
  }

  private stopped = false;

  async *batches(): AsyncGenerator<Batch> {
    try {
      yield* this.read();
    } catch (err) {
      if (!this.stopped) throw err;
    }
  }

  private async *read(): AsyncGenerator<Batch> {
    const input = await this.open();
    const onTrailer = (t: Trailer) => (this.upstream = t.checkpoint ?? []);
    if (!this.opts.bytes) {
      yield* readRecordBatches(input.stream, input.name, { expectSealed: this.io.seal.expectSealed, onTrailer });
      return;
    }
    for await (const b of readLineBatches(input.stream, input.name, {
      expectSealed: this.io.seal.expectSealed,
      onTrailer,
    })) {
      yield Object.assign(b, { records: NO_RECORDS });
    }
  }

  checkpoints(): Checkpoint[] {
    return this.upstream;
  }
}

const NO_RECORDS: Rec[] = [];
