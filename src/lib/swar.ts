// Four bytes at a time on the hot byte loops (bx-extract's CSV scanner, bx-load's transcoder):
// a little-endian 32-bit word read with DataView, and exact tests of whether any of its bytes
// is special (Bit Twiddling Hacks' haszero/hasless, which answer "is there one" exactly).

/** A word with byte `b` in each place, for anyByteIs. */
export const repeated = (b: number): number => (b * 0x01010101) | 0;

/** Whether any byte of the word x is below 0x20 (a control character). */
export const anyControl = (x: number): boolean => ((x - 0x20202020) & ~x & 0x80808080) !== 0;

/** Whether any byte of the word x is the byte repeated in `r` (repeated(b)). */
export const anyByteIs = (x: number, r: number): boolean => {
  const y = x ^ r;
  return ((y - 0x01010101) & ~y & 0x80808080) !== 0;
};

const QUOTES = repeated(0x22);
const BACKSLASHES = repeated(0x5c);

/**
 * Copies bytes from `src` at `i` to `dst` at `p`, four at a time, while no byte of the next four
 * (before `end`) needs a look: a control character, a quote, a backslash or the byte repeated in
 * `mark`. Returns how many it copied, a multiple of four; the caller goes on byte by byte.
 */
export function copyPlain(src: DataView, dst: DataView, i: number, p: number, end: number, mark: number): number {
  let k = 0;
  while (i + k + 4 <= end) {
    const x = src.getInt32(i + k, true);
    if (anyControl(x) || anyByteIs(x, QUOTES) || anyByteIs(x, BACKSLASHES) || anyByteIs(x, mark)) break;
    dst.setInt32(p + k, x, true);
    k += 4;
  }
  return k;
}

/** A DataView of a buffer, made again only when another buffer comes (one per batch, not per row). */
export class ViewCache {
  private buf: Uint8Array | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));

  view(buf: Uint8Array): DataView {
    if (this.buf !== buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    return this.dv;
  }
}

/** `bytes` as little-endian words (the last 0-3 bytes left out), for writes four bytes at a time. */
export const wordsOf = (bytes: Uint8Array): Int32Array => {
  const copy = new Uint8Array(bytes.length - (bytes.length & 3));
  copy.set(bytes.subarray(0, copy.length));
  return new Int32Array(copy.buffer);
};

/** Writes `bytes` (whose wordsOf is `words`) at out[p]; returns the index after them. */
export function putWords(view: DataView, out: Uint8Array, p: number, bytes: Uint8Array, words: Int32Array): number {
  for (let w = 0; w < words.length; w++) view.setInt32(p + 4 * w, words[w], true);
  for (let k = 4 * words.length; k < bytes.length; k++) out[p + k] = bytes[k];
  return p + bytes.length;
}
