// PostgreSQL as a sink: the COPY loop of pg/load.ts behind the Sink interface, so that bx-load
// runs on runStage() as the other stages do. loadBatches() pulls batches (it reads ahead for
// --create's inference and the first column list); write() hands each batch over and waits
// until the loop has taken it, so a slow server slows the reader and one batch at most waits.
import type { Client } from 'pg';
import type { LineRecordBatch } from '../lib/records.js';
import type { Batch, Checkpoint, Sink, Trailer } from '../lib/stream.js';
import type { Logger } from '../lib/log.js';
import { loadBatches, type LoadPlan, type LoadResult } from '../pg/load.js';

/** A one-slot hand-over from a pushing producer to a pulling consumer. */
class Handover<T> implements AsyncIterator<T> {
  private slot: { value: T; taken: () => void } | undefined;
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;
  private error: unknown;

  /** Resolves when the consumer has taken `value`. */
  push(value: T): Promise<void> {
    return new Promise((taken) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w({ value, done: false });
        taken();
      } else this.slot = { value, taken };
    });
  }

  close(): void {
    this.closed = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: undefined, done: true });
    }
  }

  /** The producer failed: the consumer's next pull throws, so it can never take the end for a success. */
  fail(err: unknown): void {
    this.error = err ?? new Error('input failed');
    this.closed = true;
    if (this.waiting) {
      this.waiting = undefined;
      this.pendingReject?.(this.error);
    }
  }

  private pendingReject: ((err: unknown) => void) | undefined;

  next(): Promise<IteratorResult<T>> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.slot) {
      const { value, taken } = this.slot;
      this.slot = undefined;
      taken();
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.pendingReject = reject;
    });
  }
}

export class PostgresSink implements Sink {
  private readonly input = new Handover<LineRecordBatch>();
  private checkpoints: Checkpoint[] = [];
  private readonly result: Promise<LoadResult>;
  /** Settles with the load's failure, so that a write waiting on a failed load stops. */
  private readonly failed: Promise<never>;

  constructor(client: Client, plan: LoadPlan, log: Logger, signal: AbortSignal, stopInput: () => void) {
    this.result = loadBatches(
      client,
      this.input,
      { ...plan, checkpoints: () => this.checkpoints },
      log,
      signal,
      stopInput,
    );
    this.failed = this.result.then(
      () => new Promise<never>(() => {}),
      (err) => {
        stopInput();
        throw err;
      },
    );
    this.failed.catch(() => {});
  }

  /** The batch as NdjsonSource.lineBatches() yields it: record lines as bytes. */
  async write(b: Batch): Promise<void> {
    await Promise.race([this.input.push(b as unknown as LineRecordBatch), this.failed]);
  }

  /** The input has ended: the loop finishes, stores the checkpoints with the rows and commits. */
  async end(t: Trailer): Promise<{ rows: number; note?: string }> {
    this.checkpoints = t.checkpoint ?? [];
    this.input.close();
    const r = await this.result;
    return { rows: r.rows, note: `loaded into ${r.table}${r.note ? `, ${r.note}` : ''}` };
  }

  /** Nothing is committed: the caller closes the connection, and the server rolls back. */
  async abort(err: unknown): Promise<void> {
    this.input.fail(err);
    await this.result.catch(() => {});
  }
}
