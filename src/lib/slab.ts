/**
 * Output bytes built in place: a hot loop writes `buf[p++]` from `p` on, and take() hands the
 * bytes written since the last take() on as a view, no copy. Bytes handed on are never written
 * again (a write may still hold them): a batch that does not fit moves to a new slab.
 */
export class ByteSlab {
  buf: Buffer;
  /** Where the bytes not yet taken start, and where the next byte goes. */
  start = 0;
  p = 0;

  constructor(private readonly size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for `n` more bytes after `p`. May move the untaken bytes: read `buf` after calling. */
  room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const used = this.p - this.start;
    const next = Buffer.allocUnsafe(Math.max(this.size, 2 * (used + n)));
    this.buf.copy(next, 0, this.start, this.p);
    this.buf = next;
    this.start = 0;
    this.p = used;
  }

  /** The bytes written since the last take(). */
  take(): Buffer {
    const b = this.buf.subarray(this.start, this.p);
    this.start = this.p;
    return b;
  }

  /** Bytes written since the last take(). */
  get pending(): number {
    return this.p - this.start;
  }
}
