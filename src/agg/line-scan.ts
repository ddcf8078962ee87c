// bx-agg's byte path: the fields an aggregation needs (the --by fields and the aggregated
// ones), read straight from the bytes of an NDJSON line, with no object per record. A line is
// taken only when what it gives is exactly what JSON.parse + the object path would see: a flat
// object, valid JSON, each wanted field once, wanted strings without escapes, wanted numbers in
// the form String(Number(token)) writes back, numeric fields that scan FAST. Any other line
// (escapes in a wanted field, nesting, a duplicate key, a long or exponent number, invalid JSON,
// a value to reject) is refused, and the caller parses it as a record: the object path decides
// results and errors.
import { repeated } from '../lib/swar.js';

/** What a wanted field held on the line just scanned. */
export const ABSENT = 0;
export const NULLV = 1;
export const STR = 2;
export const NUM = 3;
export const TRUE = 4;
export const FALSE = 5;

/** Numeric kind of a field for SumSlot/MomentsSlot: skipped (null, missing, "") or a scaled integer. */
export const N_NULL = 0;
export const N_FAST = 1;

const QUOTES = repeated(0x22);
const BACKSLASHES = repeated(0x5c);
const POW = Array.from({ length: 23 }, (_, i) => 10 ** i);

export class LineScan {
  /** Per wanted field, for the line just scanned: ABSENT, NULLV, STR, NUM, TRUE or FALSE. */
  readonly kind: Uint8Array;
  /** The value's bytes: a string's inside its quotes, a number's token. */
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** A string of ASCII only (latin1 decoding is then exact and faster). */
  readonly ascii: Uint8Array;
  /** A number's (or numeric field's) value as m / 10^sc; numKind for numeric fields. */
  readonly m: Float64Array;
  readonly sc: Int32Array;
  readonly numKind: Uint8Array;
  private readonly seen: Int32Array;
  private stamp = 0;
  buf: Buffer = Buffer.alloc(0);
  /** buf's DataView, for reads four bytes at a time. */
  view: DataView = new DataView(new ArrayBuffer(0));
  private readonly fieldOf = new Map<string, number>();
  // The keys (`"name":` as bytes) of the previous line by place, and their field (-1: unwanted):
  // lines of one stream mostly repeat them. All in typed arrays, so that matching a line's keys
  // touches a few contiguous words. Profile before (13 keys a line, --by category): loading
  // each key's own Uint8Array and Int32Array off two arrays was the scanner's hottest line.
  private nTok = 0;
  /** Per token: its byte length, field, first word in tokWords, word count, last word's mask. */
  private tokLen: Int32Array = new Int32Array(16);
  private tokField: Int32Array = new Int32Array(16);
  private tokFirst: Int32Array = new Int32Array(16);
  private tokNW: Int32Array = new Int32Array(16);
  /** The mask of each token's last word (its bytes past the token zeroed in tokWords). */
  private tokMask: Int32Array = new Int32Array(16);
  /** The key bytes as little-endian 32-bit words, compared four bytes at a time. */
  private tokWords: Int32Array = new Int32Array(64);
  /** Fields whose value must be numeric (null, "", a number or a numeric string). */
  private readonly numeric: number[];

  constructor(
    readonly fields: string[],
    numericFields: string[],
  ) {
    const n = fields.length;
    fields.forEach((f, i) => this.fieldOf.set(f, i));
    this.kind = new Uint8Array(n);
    this.start = new Int32Array(n);
    this.end = new Int32Array(n);
    this.ascii = new Uint8Array(n);
    this.m = new Float64Array(n);
    this.sc = new Int32Array(n);
    this.numKind = new Uint8Array(n);
    this.seen = new Int32Array(n);
    this.numeric = numericFields.map((f) => this.fieldOf.get(f)!);
  }

  /**
   * Whether the field names allow the byte path: a name that an object inherits (`constructor`,
   * `__proto__`) reads differently off a record than off the line.
   */
  static usable(fields: string[]): boolean {
    return fields.every((f) => !(f in Object.prototype));
  }

  /** Scans the line buf[s..e) (valid UTF-8, followed by its newline); false: take the object path. */
  scan(buf: Buffer, s: number, e: number): boolean {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const stamp = ++this.stamp;
    const { kind, seen } = this;
    const view = this.view;
    const limit = buf.length;
    for (let f = 0; f < kind.length; f++) kind[f] = ABSENT;
    let i = skipSpace(buf, s);
    if (buf[i] !== 0x7b /* { */) return false;
    i = skipSpace(buf, i + 1);
    if (buf[i] === 0x7d /* } */) i++;
    else {
      for (let k = 0; ; k++) {
        let f: number;
        // Four bytes at a time, the last word masked to the token's length.
        let same = false;
        if (k < this.nTok) {
          const nw = this.tokNW[k];
          if (i + this.tokLen[k] < e && i + 4 * nw <= limit) {
            const words = this.tokWords;
            const w0 = this.tokFirst[k];
            const last = nw - 1;
            same = true;
            for (let w = 0; w < last; w++) {
              if (view.getInt32(i + 4 * w, true) !== words[w0 + w]) {
                same = false;
                break;
              }
            }
            if (same && (view.getInt32(i + 4 * last, true) & this.tokMask[k]) !== words[w0 + last]) same = false;
          }
        }
        if (same) {
          f = this.tokField[k];
          i += this.tokLen[k];
        } else {
          // Token k > 0 starts where the value before it ended: the comma (and any white space
          // around it) is part of it, so a matching token needs no separator check of its own.
          // Callgrind before (top-N, 100 k lines): of ~196 instructions run for every key, ~57
          // went to the white space and comma between a value and the next key.
          const from = i;
          if (k > 0) {
            i = skipSpace(buf, i);
            const c = buf[i];
            if (c === 0x7d /* } */) {
              i++;
              break;
            }
            if (c !== 0x2c /* , */) return false;
            i = skipSpace(buf, i + 1);
          }
          if (buf[i] !== 0x22) return false;
          let j = i + 1;
          for (; j < e; j++) {
            const c = buf[j];
            if (c === 0x22) break;
            // An escaped key may spell a wanted name: the object path decides.
            if (c === 0x5c || c < 0x20) return false;
          }
          if (j >= e) return false;
          const colon = skipSpace(buf, j + 1);
          if (buf[colon] !== 0x3a /* : */) return false;
          f = this.fieldOf.get(buf.toString('utf8', i + 1, j)) ?? -1;
          this.setToken(k, buf, from, colon + 1, f);
          i = colon + 1;
        }
        i = skipSpace(buf, i);
        if (f >= 0) {
          if (seen[f] === stamp) return false; // a repeated key: JSON.parse keeps the last
          seen[f] = stamp;
          i = this.wanted(buf, i, e, f);
        } else if (buf[i] === 0x22) {
          // An unwanted string, the most common value: skipped here four bytes at a time, to the
          // first quote, backslash or control byte of the word that holds one.
          let j = i + 1;
          while (j + 4 <= e) {
            const x = specialMask(view.getInt32(j, true));
            if (x !== 0) {
              j += firstByte(x);
              break;
            }
            j += 4;
          }
          for (;;) {
            const d = buf[j];
            if (d === 0x22) {
              j++;
              break;
            }
            if (d === 0x5c) {
              // An escape (a sixth of the bench's lines: 2\" in a product name): checked from
              // here on, not from the string's start. Callgrind before: skipValue() from the
              // start cost ~1,100 instructions per such string.
              j = this.skipString(buf, j, e);
              break;
            }
            if (d < 0x20) {
              j = -1;
              break;
            }
            j++;
          }
          i = j;
        } else i = this.skipValue(buf, i, e);
        if (i < 0) return false;
      }
    }
    if (skipSpace(buf, i) !== e) return false;
    const numeric = this.numeric;
    for (let q = 0; q < numeric.length; q++) if (!this.numericValue(numeric[q])) return false;
    return true;
  }

  /** Token k (the tokens after it forgotten) is buf[s..e), a key of field f (-1: unwanted). */
  private setToken(k: number, buf: Buffer, s: number, e: number, f: number): void {
    if (k >= this.tokLen.length) {
      this.tokLen = grown(this.tokLen);
      this.tokField = grown(this.tokField);
      this.tokFirst = grown(this.tokFirst);
      this.tokNW = grown(this.tokNW);
      this.tokMask = grown(this.tokMask);
    }
    const len = e - s;
    const nw = (len + 3) >> 2;
    const w0 = k === 0 ? 0 : this.tokFirst[k - 1] + this.tokNW[k - 1];
    while (w0 + nw > this.tokWords.length) this.tokWords = grown(this.tokWords);
    const padded = new Uint8Array(4 * nw);
    padded.set(buf.subarray(s, e));
    this.tokWords.set(new Int32Array(padded.buffer), w0);
    this.tokLen[k] = len;
    this.tokField[k] = f;
    this.tokFirst[k] = w0;
    this.tokNW[k] = nw;
    this.tokMask[k] = len & 3 ? (1 << (8 * (len & 3))) - 1 : -1;
    this.nTok = k + 1;
  }

  /** A wanted field's value at buf[i]: recorded; returns the index after it, or -1. */
  private wanted(buf: Buffer, i: number, e: number, f: number): number {
    const c = buf[i];
    if (c === 0x22) {
      const view = this.view;
      let j = i + 1;
      let high = 0;
      // Four bytes at a time while none is a quote, a backslash or a control character.
      while (j + 4 <= e) {
        const x = view.getInt32(j, true);
        if (specialWord(x)) break;
        high |= x;
        j += 4;
      }
      for (;;) {
        const d = buf[j];
        if (d === 0x22) break;
        if (d === 0x5c || d < 0x20) return -1; // an escape (or the line's end): the object path
        high |= d;
        j++;
      }
      this.kind[f] = STR;
      this.start[f] = i + 1;
      this.end[f] = j;
      this.ascii[f] = (high & 0x80808080) === 0 ? 1 : 0;
      return j + 1;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number(buf, i, e, f);
    return this.literal(buf, i, f);
  }

  /**
   * A wanted number, taken only in the form String(Number(token)) gives back (so that its text,
   * its double and its scale are the object path's): an integer of at most 15 digits, or a
   * decimal of at most 15 significant digits, no trailing zero, no exponent, not below 1e-6.
   */
  private number(buf: Buffer, i: number, e: number, f: number): number {
    let j = i;
    const neg = buf[j] === 0x2d;
    if (neg) j++;
    let m = 0;
    let digits = 0;
    let c = buf[j];
    if (c === 0x30) j++;
    else if (c >= 0x31 && c <= 0x39) {
      while ((c = buf[j]) >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        j++;
      }
    } else return -1;
    let scale = 0;
    if (buf[j] === 0x2e) {
      j++;
      let lead = 0;
      while ((c = buf[j]) >= 0x30 && c <= 0x39) {
        if (m === 0 && c === 0x30) lead++;
        else digits++;
        m = m * 10 + (c - 0x30);
        scale++;
        j++;
      }
      if (scale === 0 || buf[j - 1] === 0x30 || lead > 5) return -1;
    } else if (neg && m === 0) return -1; // -0
    c = buf[j];
    if (c === 0x65 || c === 0x45 || digits > 15 || j > e) return -1;
    this.kind[f] = NUM;
    this.start[f] = i;
    this.end[f] = j;
    this.m[f] = neg ? -m : m;
    this.sc[f] = scale;
    return j;
  }

  private literal(buf: Buffer, i: number, f: number): number {
    const c = buf[i];
    if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) {
      this.kind[f] = TRUE;
      return i + 4;
    }
    if (c === 0x66 && buf[i + 1] === 0x61 && buf[i + 2] === 0x6c && buf[i + 3] === 0x73 && buf[i + 4] === 0x65) {
      this.kind[f] = FALSE;
      return i + 5;
    }
    if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) {
      this.kind[f] = NULLV;
      return i + 4;
    }
    return -1; // nested (or not JSON): the object path
  }

  /**
   * The rest of a string from buf[j] (inside it, not within an escape) checked to be valid JSON
   * and skipped: the index after its closing quote, or -1.
   */
  private skipString(buf: Buffer, j: number, e: number): number {
    const view = this.view;
    for (;;) {
      while (j + 4 <= e && !specialWord(view.getInt32(j, true))) j += 4;
      const d = buf[j];
      if (d === 0x22) return j + 1;
      if (d < 0x20) return -1; // a control character, or the line's end
      if (d === 0x5c) {
        const x = buf[j + 1];
        if (x === 0x75) {
          for (let k = j + 2; k < j + 6; k++) if (!isHex(buf[k])) return -1;
          j += 6;
        } else if (
          x === 0x22 ||
          x === 0x5c ||
          x === 0x2f ||
          x === 0x62 ||
          x === 0x66 ||
          x === 0x6e ||
          x === 0x72 ||
          x === 0x74
        )
          j += 2;
        else return -1;
      } else j++;
    }
  }

  /** An unwanted value, checked to be valid JSON and skipped; -1 for nesting or invalid JSON. */
  private skipValue(buf: Buffer, i: number, e: number): number {
    const c = buf[i];
    if (c === 0x22) return this.skipString(buf, i + 1, e);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      // JSON's number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
      let j = i;
      if (buf[j] === 0x2d) j++;
      let d = buf[j];
      if (d === 0x30) j++;
      else if (d >= 0x31 && d <= 0x39) while ((d = buf[j]) >= 0x30 && d <= 0x39) j++;
      else return -1;
      if (buf[j] === 0x2e) {
        const at = ++j;
        while ((d = buf[j]) >= 0x30 && d <= 0x39) j++;
        if (j === at) return -1;
      }
      d = buf[j];
      if (d === 0x65 || d === 0x45) {
        j++;
        d = buf[j];
        if (d === 0x2b || d === 0x2d) j++;
        const at = j;
        while ((d = buf[j]) >= 0x30 && d <= 0x39) j++;
        if (j === at) return -1;
      }
      return j > e ? -1 : j;
    }
    if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) return i + 4;
    if (c === 0x66 && buf[i + 1] === 0x61 && buf[i + 2] === 0x6c && buf[i + 3] === 0x73 && buf[i + 4] === 0x65)
      return i + 5;
    if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) return i + 4;
    return -1;
  }

  /**
   * A numeric field as scanNumber() classifies it, when that is NULL or FAST (numKind, m, sc);
   * false for anything else (BIG, BAD: the object path computes or rejects it).
   */
  private numericValue(f: number): boolean {
    const k = this.kind[f];
    if (k === ABSENT || k === NULLV) {
      this.numKind[f] = N_NULL;
      return true;
    }
    if (k === NUM) {
      this.numKind[f] = N_FAST;
      return true;
    }
    if (k !== STR) return false;
    // scanText of values.ts, on bytes: [+-]digits[.digits], at most ~15 digits.
    const buf = this.buf;
    let i = this.start[f];
    const e = this.end[f];
    if (i === e) {
      this.numKind[f] = N_NULL; // "" is NULL, as an empty CSV field
      return true;
    }
    let neg = false;
    let c = buf[i];
    if (c === 0x2d) {
      neg = true;
      i++;
    } else if (c === 0x2b) i++;
    let m = 0;
    let scale = 0;
    let dot = false;
    let digits = false;
    for (; i < e; i++) {
      c = buf[i];
      if (c >= 0x30 && c <= 0x39) {
        if (m > 9e14) return false;
        m = m * 10 + (c - 0x30);
        digits = true;
        if (dot) scale++;
      } else if (c === 0x2e && !dot) dot = true;
      else return false;
    }
    if (!digits) return false;
    this.m[f] = neg ? -m : m;
    this.sc[f] = scale;
    this.numKind[f] = N_FAST;
    return true;
  }

  /** Whether field f is what the object path skips as null: null, missing or "". */
  isNull(f: number): boolean {
    const k = this.kind[f];
    return k === ABSENT || k === NULLV || (k === STR && this.start[f] === this.end[f]);
  }

  /** Field f as JSON.parse gives it (undefined when missing). */
  value(f: number): unknown {
    switch (this.kind[f]) {
      case STR:
        return this.buf.toString(this.ascii[f] ? 'latin1' : 'utf8', this.start[f], this.end[f]);
      case NUM: {
        const s = this.sc[f];
        // m < 2^53 and 10^s exact: the division rounds once, to Number(token).
        return s === 0 ? this.m[f] : this.m[f] / POW[s];
      }
      case NULLV:
        return null;
      case TRUE:
        return true;
      case FALSE:
        return false;
      default:
        return undefined;
    }
  }
}

/** Whether any byte of the word is a quote, a backslash or a control character (swar.ts's tests). */
function specialWord(x: number): boolean {
  return specialMask(x) !== 0;
}

/**
 * The word's bytes that are a quote, a backslash or a control character, as their top bits. A
 * borrow may flag bytes above the first such byte, never below it, so its lowest flag is exact.
 */
function specialMask(x: number): number {
  const q = x ^ QUOTES;
  const b = x ^ BACKSLASHES;
  return (((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080;
}

/** The index (0-3, little-endian) of the lowest byte flagged in a specialMask. */
const firstByte = (m: number) => (31 - Math.clz32(m & -m)) >> 3;

function grown(a: Int32Array): Int32Array {
  const b = new Int32Array(2 * a.length);
  b.set(a);
  return b;
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** The first byte at or after i that is not JSON whitespace (the line's newline stops it). */
function skipSpace(buf: Buffer, i: number): number {
  let c = buf[i];
  while (c === 0x20 || c === 0x09 || c === 0x0d) c = buf[++i];
  return i;
}
