// bx-clean's output slab on a shell pipe: full slabs are used again once their bytes have left.
//
// Every MiB of output was a new 1 MiB Buffer, freed only when V8 collected its ArrayBuffer: the
// process kept ~60 MB of them and the kernel cleared fresh pages for the rest (32 k page faults
// per 1 M sales rows, 11 k with the slabs reused). A slab may be written again only when no write
// still holds a view of it. PipeOut (src/lib/pipe-out.ts) bounds what is handed on but not yet
// written: at most its queue (PIPE_QUEUE) plus the stream's highWaterMark plus a block, once the
// caller's write has resolved (it waits for 'drain'), and the same when it has fallen back to
// process.stdout (what it handed over then is one queue, and later blocks are acknowledged only
// once written). So a slab retired when `handed` bytes had been taken is free once `handed` plus
// that bound have been taken since. Used only with PipeOut: any other stdout (a file, a TTY, a
// test's stream that keeps the chunks) gets fresh slabs as before.
import { ByteSlab } from '../lib/slab.js';

const SIZE = 1 << 20;
const MAX_RETIRED = 32;

export class RecyclingSlab extends ByteSlab {
  /** Bytes taken so far: the output's position. */
  private handed = 0;
  /** The largest block taken: the bound counts two of them. */
  private largest = 0;
  /** Retired slabs, oldest first, each with `handed` when it was retired. */
  private readonly retired: { buf: Buffer; at: number }[] = [];
  /** Slabs reused (for the tests, and -v). */
  reused = 0;

  /** `unwritten`: at most this many bytes taken are still waiting to be written (besides two blocks). */
  constructor(private readonly unwritten: number) {
    super(SIZE);
  }

  override room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const used = this.p - this.start;
    const old = this.buf;
    const oldest = this.retired[0];
    if (
      2 * (used + n) <= SIZE &&
      oldest !== undefined &&
      this.handed - oldest.at >= this.unwritten + 2 * this.largest
    ) {
      this.retired.shift();
      old.copy(oldest.buf, 0, this.start, this.p);
      this.buf = oldest.buf;
      this.start = 0;
      this.p = used;
      this.reused++;
    } else super.room(n);
    // All of the old slab's bytes before `start` were taken; those after it moved with the rest.
    if (old.length === SIZE) this.retired.push({ buf: old, at: this.handed });
    // Blocks far larger than a slab (a line of many MiB) could keep every slab waiting: past
    // this many, the oldest goes to the collector instead.
    if (this.retired.length > MAX_RETIRED) this.retired.shift();
  }

  override take(): Buffer {
    const b = super.take();
    this.handed += b.length;
    if (b.length > this.largest) this.largest = b.length;
    return b;
  }
}
