import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { PipeClosed } from './errors.js';
import { stringifyRecord } from './json.js';
import type { Rec } from './records.js';
import { trailer } from './seal.js';
import type { Checkpoint } from './stream.js';

// One write() per ~1000 lines: on a pipe each write() is a syscall (STACK.md: 410k vs 850k rows/s).
const BATCH_LINES = 1000;

/**
 * Writes NDJSON lines in batches and waits for 'drain', so a slow reader slows us down and memory
 * stays flat. When the reader goes away (EPIPE), the next write throws PipeClosed, which ends the
 * run with 0. With `seal`, end() writes the trailer.
 */
export class LineWriter {
  private buf: string[] = [];
  private closed = false;
  count = 0;

  constructor(
    private readonly out: Writable,
    private readonly seal = false,
  ) {
    out.on('error', this.onError);
  }

  private readonly onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') this.closed = true;
  };

  /** Queues one line (no newline). */
  async line(text: string): Promise<void> {
    this.buf.push(text);
    this.count++;
    if (this.buf.length >= BATCH_LINES) await this.flush();
  }

  /** Queues lines; the caller has already built them. */
  async lines(texts: string[]): Promise<void> {
    for (let i = 0; i < texts.length; i++) this.buf.push(texts[i]);
    this.count += texts.length;
    if (this.buf.length >= BATCH_LINES) await this.flush();
  }

  /** Writes `n` lines the caller has already joined (text or UTF-8), each ending with a newline, in one write(). */
  async text(block: string | Uint8Array, n: number): Promise<void> {
    if (this.buf.length > 0) await this.flush();
    if (this.closed || this.out.destroyed) throw new PipeClosed();
    this.count += n;
    if (block.length === 0) return;
    if (!this.out.write(block)) await drained(this.out);
    if (this.closed) throw new PipeClosed();
  }

  async records(recs: Rec[]): Promise<void> {
    for (let i = 0; i < recs.length; i++) this.buf.push(stringifyRecord(recs[i]));
    this.count += recs.length;
    if (this.buf.length >= BATCH_LINES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.closed || this.out.destroyed) throw new PipeClosed();
    if (this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    if (!this.out.write(text)) await drained(this.out);
    if (this.closed) throw new PipeClosed();
  }

  /** Flushes, adds the trailer of a sealed stream (with the checkpoints to pass on), and stops listening. Does not end `out`. */
  async end(checkpoint?: Checkpoint[]): Promise<void> {
    if (this.seal) this.buf.push(trailer(this.count, checkpoint));
    await this.flush();
    this.out.off('error', this.onError);
  }
}

async function drained(out: Writable) {
  const ac = new AbortController();
  try {
    // once() rejects on 'error' too; close without error means the reader is gone.
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => Promise.reject(new PipeClosed())),
    ]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof PipeClosed || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') throw new PipeClosed();
    throw err;
  } finally {
    ac.abort();
  }
}
