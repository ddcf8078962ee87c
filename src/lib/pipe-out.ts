// stdout as a pipe written from libuv's thread pool, so the next stage is fed while this one
// computes.
//
// Node's process.stdout on a pipe is a non-blocking socket: it moves bytes into the pipe only when
// the event loop turns. A stage that is busy building its next block leaves the 64 KiB pipe
// empty, the reader waits, and then the reader is busy while the writer waits for 'drain' (which
// fires only when everything queued has gone). The two stages take turns instead of running
// side by side: `bx-extract CSV | bx-agg` took 1.00 s, `bx-extract | cat | bx-agg` 0.91 s (cat is
// a shuttle that never computes), and each stage idled ~30 % of the wall time.
//
// PipeOut queues what it is given and writes it with blocking fs.writev on fd 1, in the thread
// pool, one call at a time (order kept). It acknowledges a write at once while fewer than
// `low` bytes wait, so the writer keeps producing while the thread writes; past that it holds the
// acknowledgement until the thread has written enough, and the usual `write() === false` /
// 'drain' wait of the callers slows the producer down. Memory stays bounded by `low` plus the
// stream's highWaterMark plus one block.
//
// Used only where it is safe (stdoutFor): fd 1 a FIFO in blocking mode, on Linux (the mode is read
// from /proc/self/fdinfo/1). A write that still meets EAGAIN (something set O_NONBLOCK on the
// pipe after the check) hands the rest to process.stdout, in order.
import { readFileSync, fstatSync, writev } from 'node:fs';
import { Writable } from 'node:stream';
import { PipeClosed } from './errors.js';

/** Bytes queued for the thread before the producer is held back (measured: 16 MiB ran 0.75 s, 4 MiB 0.81 s, 1 MiB 0.95 s, process.stdout 1.00 s). */
export const PIPE_QUEUE = 8 * 1024 * 1024;
const O_NONBLOCK = 0o4000;

export class PipeOut extends Writable {
  /** What the command wrote, queued or gone (the run's byte count; a socket's bytesWritten counts its queue too). */
  bytesWritten = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private held: ((err?: Error | null) => void) | undefined;
  private finalCb: ((err?: Error | null) => void) | undefined;
  private fallback: Writable | undefined;

  constructor(
    private readonly fd: number,
    private readonly low = PIPE_QUEUE,
    private readonly lateStdout: () => Writable = () => process.stdout,
  ) {
    super({ highWaterMark: 64 * 1024, decodeStrings: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    if (this.fallback) {
      this.fallback.write(chunk, cb);
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.pump();
    if (this.queued <= this.low) cb();
    else this.held = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalCb = cb;
    if (!this.writing && this.queued === 0) this.finished();
  }

  /**
   * Ends the stream and resolves once everything written is in the pipe; throws PipeClosed when
   * the reader has gone (EPIPE), and any other write error as it is.
   */
  async drained(): Promise<void> {
    const err = await new Promise<Error | null | undefined>((resolve) => {
      if (this.destroyed) return resolve(this.errored);
      this.once('error', resolve);
      this.end(() => resolve(undefined));
    });
    if (!err) return;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') throw new PipeClosed();
    throw err;
  }

  private pump(): void {
    if (this.writing || this.queue.length === 0) return;
    const parts = this.queue;
    this.queue = [];
    this.writing = true;
    writev(this.fd, parts, (err, written) => {
      this.writing = false;
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.toFallback(parts, written ?? 0);
          return;
        }
        this.release(err);
        this.destroy(err);
        return;
      }
      this.queued -= written;
      let total = 0;
      for (const p of parts) total += p.length;
      // A blocking pipe takes all of a writev, but a signal can cut one short: requeue the rest.
      if (written < total) this.queue.unshift(...rest(parts, written));
      if (this.held && this.queued <= this.low) this.release();
      if (this.queue.length > 0) this.pump();
      else this.finished();
    });
  }

  private release(err?: Error): void {
    const cb = this.held;
    this.held = undefined;
    cb?.(err);
  }

  /** The pipe turned non-blocking under us: what is left goes through process.stdout, in order. */
  private toFallback(parts: Buffer[], written: number): void {
    const out = this.lateStdout();
    this.fallback = out;
    out.on('error', (e) => this.destroy(e));
    for (const p of [...rest(parts, written), ...this.queue]) out.write(p);
    this.queue = [];
    this.queued = 0;
    this.release();
    this.finished();
  }

  /** Calls a waiting _final once nothing is left: at once, or after the fallback has written its part. */
  private finished(): void {
    const cb = this.finalCb;
    if (!cb) return;
    this.finalCb = undefined;
    if (this.fallback) this.fallback.write('', cb);
    else cb();
  }
}

function rest(parts: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}

/**
 * A PipeOut for fd 1 when it is a blocking FIFO on Linux (the common `a | b` of a shell, cron or
 * make), else undefined and the caller keeps process.stdout. BX_PIPE_OUT=0 turns it off.
 */
export function pipeStdout(env: Record<string, string | undefined>): PipeOut | undefined {
  if (env.BX_PIPE_OUT === '0' || process.platform !== 'linux') return undefined;
  try {
    if (!fstatSync(1).isFIFO()) return undefined;
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync('/proc/self/fdinfo/1', 'latin1'));
    if (!flags || (parseInt(flags[1], 8) & O_NONBLOCK) !== 0) return undefined;
  } catch {
    return undefined;
  }
  return new PipeOut(1);
}
