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

/**
 * The high bit of each byte of the little-endian word x that a JSON string does not hold as it
 * is (a control byte, a quote or a backslash). Exact for the lowest such byte, which is all
 * firstByte reads (above it, a borrow may flag a byte falsely).
 */
export const notPlain = (x: number): number => {
  const q = x ^ 0x22222222;
  const b = x ^ 0x5c5c5c5c;
  return (((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b) | ((x - 0x20202020) & ~x)) & 0x80808080;
};

/** The place (0-3) of the lowest byte flagged in a mask such as notPlain's (not 0). */
export const firstByte = (m: number): number => (31 - Math.clz32(m & -m)) >> 3;

/**
 * `bytes` (4 or more) as the words a comparison four bytes at a time reads: floor(n / 4) from
 * the start, and, when n is not a multiple of 4, one more ending at the last byte (overlapping
 * the one before), so that no byte past the end is read.
 */
export const coveringWords = (bytes: Uint8Array): Int32Array => {
  const n = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const words = new Int32Array((n + 3) >> 2);
  let w = 0;
  for (let x = 0; x + 4 <= n; x += 4) words[w++] = dv.getInt32(x, true);
  if (n & 3) words[w++] = dv.getInt32(n - 4, true);
  return words;
};

/** Whether buf at i holds `bytes` (4 or more; `words` its coveringWords), read through `view`. */
export function sameWords(view: DataView, i: number, n: number, words: Int32Array): boolean {
  const last = words.length - 1;
  for (let w = 0; w < last; w++) if (view.getInt32(i + 4 * w, true) !== words[w]) return false;
  return view.getInt32(i + n - 4, true) === words[last];
}

/** The high bit of each byte of x that is the byte repeated in `r`; exact for the lowest, as notPlain. */
export const bytesAre = (x: number, r: number): number => {
  const y = x ^ r;
  return (y - 0x01010101) & ~y & 0x80808080;
};
