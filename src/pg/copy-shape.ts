// The layout of an NDJSON line between its values, for bx-load's shape path (CopyEncoder.shaped):
// a file of records written by one program repeats the same keys in the same order on every
// line, so the bytes between two values (`,"sold_at":`) are the same from line to line. Once the
// general transcoder has read a line whose keys are the COPY columns, each once and in order,
// the bytes before, between and after its values are kept here; a later line that holds exactly
// those bytes around its values is a line of the same keys, and only its values need reading.

/**
 * The separators of one line: `n` values, so n + 1 runs of bytes (the first from the line's
 * start to its first value, `{"sale_id":`; the last from its last value to the line's end, `}`),
 * each kept as bytes and as covering words (four bytes at a time, the last word ending at the
 * run's last byte, overlapping the one before), all in two flat arrays: learning a new shape
 * allocates nothing once the arrays are large enough.
 */
export class LineShape {
  /** Values per line; 0 while no shape is known. */
  n = 0;
  bytes = new Uint8Array(512);
  private view = new DataView(this.bytes.buffer);
  /** Run k is bytes[at[k]] to bytes[at[k + 1]]. */
  at = new Int32Array(16);
  /** Eight bytes at a time, as doubles: one compare per eight bytes (see learn for why that is exact). */
  words = new Float64Array(128);
  /** Run k's covering words are words[wordAt[k]] to words[wordAt[k + 1]] (none when it is under 8 bytes). */
  wordAt = new Int32Array(16);

  forget(): void {
    this.n = 0;
  }

  /**
   * Keeps the runs around the values of the line buf[s..e): value k is buf[start[k]] to
   * buf[end[k]], n = start.length values, in order.
   */
  learn(buf: Uint8Array, s: number, e: number, start: Int32Array, end: Int32Array): void {
    const n = start.length;
    let len = e - s;
    for (let k = 0; k < n; k++) len -= end[k] - start[k];
    if (this.bytes.length < len + 8) {
      this.bytes = new Uint8Array(2 * len + 8);
      this.view = new DataView(this.bytes.buffer);
    }
    if (this.at.length < n + 2) {
      this.at = new Int32Array(2 * n + 2);
      this.wordAt = new Int32Array(2 * n + 2);
    }
    if (this.words.length < len + n + 1) this.words = new Float64Array(2 * (len + n + 1));
    const { bytes, at, words, wordAt, view } = this;
    let q = 0;
    let w = 0;
    this.n = 0;
    for (let k = 0; k <= n; k++) {
      const a = k === 0 ? s : end[k - 1];
      const b = k === n ? e : start[k];
      at[k] = q;
      wordAt[k] = w;
      bytes.set(buf.subarray(a, b), q);
      const m = b - a;
      if (m >= 8) {
        for (let x = 0; x + 8 <= m; x += 8) words[w++] = view.getFloat64(q + x, true);
        if (m & 7) words[w++] = view.getFloat64(q + m - 8, true);
      }
      q += m;
    }
    // Equal doubles are equal bits but for ±0 (eight bytes of NUL, or seven and 0x80), and a
    // NaN equals nothing: a shape holding either is not kept (no valid line holds them).
    for (let x = 0; x < w; x++) if (words[x] === 0 || words[x] !== words[x]) return;
    at[n + 1] = q;
    wordAt[n + 1] = w;
    this.n = n;
  }
}
