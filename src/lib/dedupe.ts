// Seen-key sets for --dedupe, unique constraints and primary-key inference, in bounded memory:
// a key is kept as its 128-bit MurmurHash3 (x86_128) digest in an open-addressing table of
// typed arrays, 16 bytes a slot, never as a string or an object. At most 3/4 of the slots are
// used, so a key costs 21–43 bytes (plus a transient 1.5x while the table doubles): 10 million
// keys fit in 256 MiB, 30 million in 1 GiB.
// Two different keys share a digest with probability about n²/2^129: 1.5e-24 for 10 million
// keys, 1.5e-22 for 100 million. MurmurHash3 is fast (~0.2 µs a key; node's crypto hashes
// cost 2–4 µs here) but not collision-resistant against an adversary who crafts keys; the cost
// of such a collision is one record sent to the rejects file as a duplicate, where it is seen.

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * MurmurHash3 x86_128 of a string's UTF-16 code units (two units per 32-bit block), into
 * out[0..3]. Stable across runs and machines, so it could be stored; here it only lives in memory.
 */
export function digest128(s: string, out: Int32Array, seed = 0): void {
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const n = s.length;
  const blocks = n >>> 3; // 8 code units = 16 bytes
  let i = 0;
  for (let b = 0; b < blocks; b++, i += 8) {
    let k1 = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k2 = s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16);
    let k3 = s.charCodeAt(i + 4) | (s.charCodeAt(i + 5) << 16);
    let k4 = s.charCodeAt(i + 6) | (s.charCodeAt(i + 7) << 16);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  // tail: up to 7 code units, packed as the reference code packs up to 15 bytes
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  const rest = n - i;
  if (rest > 6) k4 = s.charCodeAt(i + 6);
  if (rest > 5) k3 |= s.charCodeAt(i + 5) << 16;
  if (rest > 4) k3 |= s.charCodeAt(i + 4);
  if (rest > 3) k2 |= s.charCodeAt(i + 3) << 16;
  if (rest > 2) k2 |= s.charCodeAt(i + 2);
  if (rest > 1) k1 |= s.charCodeAt(i + 1) << 16;
  if (rest > 0) k1 |= s.charCodeAt(i);
  if (k4) h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  if (k3) h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  if (k2) h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  if (k1) h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  const len = n * 2;
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}

/**
 * The canonical text of a key made of values: a string is length-prefixed and everything else
 * is JSON, so `["a,b"]` and `["a","b"]`, or "5" and 5, never meet.
 */
export function keyText(values: unknown[]): string {
  let s = '';
  for (let i = 0; i < values.length; i++) s += valueText(values[i]) + '\u0001';
  return s;
}

export function valueText(v: unknown): string {
  if (typeof v === 'string') return `s${v.length}:${v}`;
  if (v === undefined || v === null) return 'z';
  return `j${JSON.stringify(v)}`;
}

const MAX_LOAD = 0.75;

/** A set of 128-bit digests: add() says whether the key is new. */
export class DigestSet {
  private slots: Int32Array;
  private mask: number;
  size = 0;
  private readonly d = new Int32Array(4);

  constructor(initialSlots = 1 << 12) {
    let cap = 16;
    while (cap < initialSlots) cap *= 2;
    this.slots = new Int32Array(cap * 4);
    this.mask = cap - 1;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /** Adds the key's digest; true when it was not there yet. */
  add(key: string): boolean {
    const d = this.d;
    digest128(key, d);
    // all-zero marks an empty slot; a real all-zero digest (p = 2^-128) is moved off it
    if ((d[0] | d[1] | d[2] | d[3]) === 0) d[0] = 1;
    return this.insert(d[0], d[1], d[2], d[3]);
  }

  private insert(a: number, b: number, c: number, e: number): boolean {
    const s = this.slots;
    let i = (b ^ c) & this.mask;
    for (;;) {
      const o = i << 2;
      const x = s[o];
      if (x === 0 && s[o + 1] === 0 && s[o + 2] === 0 && s[o + 3] === 0) {
        s[o] = a;
        s[o + 1] = b;
        s[o + 2] = c;
        s[o + 3] = e;
        if (++this.size > (this.mask + 1) * MAX_LOAD) this.grow();
        return true;
      }
      if (x === a && s[o + 1] === b && s[o + 2] === c && s[o + 3] === e) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow() {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    this.size = 0;
    for (let o = 0; o < old.length; o += 4) {
      if (old[o] !== 0 || old[o + 1] !== 0 || old[o + 2] !== 0 || old[o + 3] !== 0) this.insert(old[o], old[o + 1], old[o + 2], old[o + 3]);
    }
  }
}
