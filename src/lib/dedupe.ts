// Seen-key sets for --dedupe, unique constraints and primary-key inference, in bounded memory:
// a key is kept as its 128-bit MurmurHash3 (x86_128) digest in an open-addressing table of
// typed arrays, 16 bytes a slot, never as a string or an object. At most 3/4 of the slots are
// used, so a key costs 21–43 bytes (plus a transient 1.5x while the table doubles): 10 million
// keys fit in 256 MiB, 30 million in 1 GiB.
// Two different keys share a digest with probability about n²/2^129: 1.5e-24 for 10 million
// keys, 1.5e-22 for 100 million. MurmurHash3 is fast (~0.2 µs a key; node's crypto hashes
// cost 2–4 µs here) but not collision-resistant against an adversary who crafts keys; the cost
// of such a collision is one record sent to the rejects file as a duplicate, where it is seen.

import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CantCreateError, classify, IoError } from './errors.js';

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

export interface DigestSetOptions {
  /**
   * Bytes the set may hold (bx-clean --memory). Half goes to the in-memory table (with the
   * 1.5x of its doubling), half to the filters and indexes of spilled runs and a spill's sort.
   * Unset: no bound (the table grows as it must).
   */
  memory?: number;
  /** Where spilled runs go (their files are unlinked as soon as opened: nothing stays behind). */
  tempDir?: string;
  /** Called after each spill (for the log). */
  onSpill?: (run: number, keys: number) => void;
  /** Names the flag in the refusal ("--memory"). */
  flag?: string;
}

/**
 * A set of 128-bit digests: add() says whether the key is new. Exact in bounded memory: when
 * the table reaches its share of `memory`, its digests are sorted and written to a run file,
 * and the table starts empty. A key not in the table is looked for in every run, through a
 * blocked Bloom filter per run (one cache line a run, ~1 % false positives) and then one 4 KiB
 * read of the run's block that would hold it (a sparse index of each block's first digest is
 * kept). Keys in the table and in the runs are disjoint: a key is only added when found nowhere.
 * When even the runs' filters would not fit, add() refuses with a CantCreateError (exit 73)
 * before memory passes the bound.
 */
export class DigestSet {
  private slots: Int32Array;
  private mask: number;
  size = 0;
  private readonly d = new Int32Array(4);
  private readonly maxSlots: number;
  private readonly runs: Run[] = [];
  private runBytes = 0;
  /** Keys written to runs. */
  spilled = 0;

  constructor(
    initialSlots = 1 << 12,
    private readonly opts: DigestSetOptions = {},
  ) {
    let cap = 16;
    while (cap < initialSlots) cap *= 2;
    // The largest table whose doubling (old + new = 1.5x the new) fits in half the budget.
    let max = 1 << 30;
    if (opts.memory !== undefined) {
      max = 16;
      // At most 2^22 slots: a spill sorts slot numbers of 22 bits beside 31 bits of digest in a double.
      while (max < 1 << 22 && max * 2 * 16 * 1.5 <= opts.memory / 2) max *= 2;
    }
    this.maxSlots = max;
    if (cap > max) cap = max;
    this.slots = new Int32Array(cap * 4);
    this.mask = cap - 1;
  }

  /** Bytes held in memory: the table and the runs' filters and indexes. */
  get bytes(): number {
    return this.slots.byteLength + this.runBytes;
  }

  /** Keys held, in memory and in runs. */
  get keys(): number {
    return this.size + this.spilled;
  }

  get runCount(): number {
    return this.runs.length;
  }

  /** Adds the key's digest; true when it was not there yet. */
  add(key: string): boolean {
    const d = this.d;
    digest128(key, d);
    // all-zero marks an empty slot; a real all-zero digest (p = 2^-128) is moved off it
    if ((d[0] | d[1] | d[2] | d[3]) === 0) d[0] = 1;
    if (this.runs.length > 0) {
      if (this.has(d[0], d[1], d[2], d[3])) return false;
      for (let r = 0; r < this.runs.length; r++) if (this.runs[r].has(d[0], d[1], d[2], d[3])) return false;
    }
    return this.insert(d[0], d[1], d[2], d[3]);
  }

  /** Closes the runs' files (they were unlinked when made). */
  close(): void {
    for (const r of this.runs) r.close();
    this.runs.length = 0;
  }

  private has(a: number, b: number, c: number, e: number): boolean {
    const s = this.slots;
    let i = (b ^ c) & this.mask;
    for (;;) {
      const o = i << 2;
      const x = s[o];
      if (x === 0 && s[o + 1] === 0 && s[o + 2] === 0 && s[o + 3] === 0) return false;
      if (x === a && s[o + 1] === b && s[o + 2] === c && s[o + 3] === e) return true;
      i = (i + 1) & this.mask;
    }
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
        if (++this.size > (this.mask + 1) * MAX_LOAD) {
          if (this.mask + 1 < this.maxSlots) this.grow();
          else this.spill();
        }
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
      if (old[o] !== 0 || old[o + 1] !== 0 || old[o + 2] !== 0 || old[o + 3] !== 0)
        this.insert(old[o], old[o + 1], old[o + 2], old[o + 3]);
    }
  }

  /** The table's digests, sorted, to a new run; the table starts empty. */
  private spill() {
    const n = this.size;
    const memory = this.opts.memory!;
    // What the new run keeps in memory, and the sort's transient 8 bytes a key.
    const keep = Run.bytesFor(n);
    if (this.runBytes + keep + 12 * n > memory / 2) {
      const mb = (x: number) => Math.round(x / 1048576);
      throw new CantCreateError(
        `${this.opts.flag ?? '--memory'} ${mb(memory)} MB: --dedupe holds ${this.keys} keys in ${mb(this.bytes)} MB and cannot spill more of them without passing the bound; raise --memory (about ${Math.ceil((this.keys * 1.4 * 2) / 1048576) + mb(this.slots.byteLength * 3)} MB would do for this many keys), or dedupe fewer keys`,
      );
    }
    const s = this.slots;
    // The sort's transient: 12 bytes a key. Sort by the first 31 bits and the slot (exact in a double), then by the whole digest where the 31 bits tie.
    const order = new Float64Array(n);
    let k = 0;
    for (let o = 0, i = 0; o < s.length; o += 4, i++) {
      if (s[o] !== 0 || s[o + 1] !== 0 || s[o + 2] !== 0 || s[o + 3] !== 0) order[k++] = (s[o] >>> 1) * 4194304 + i;
    }
    order.sort();
    const slotOf = (j: number) => order[j] % 4194304;
    const less = (p: number, q: number) => compare4(s, p << 2, s, q << 2) < 0;
    const idx = new Int32Array(n);
    for (let j = 0; j < n; j++) idx[j] = slotOf(j);
    // Ties on 31 bits: insertion-sort each run of equal prefixes by the whole digest.
    for (let j = 1; j < n; j++) {
      const pj = Math.floor(order[j] / 4194304);
      if (pj !== Math.floor(order[j - 1] / 4194304)) continue;
      let g = j;
      while (g > 0 && Math.floor(order[g - 1] / 4194304) === pj && less(idx[g], idx[g - 1])) {
        const t = idx[g];
        idx[g] = idx[g - 1];
        idx[g - 1] = t;
        g--;
      }
    }
    // Each run in a directory of its own, removed once the file is open and unlinked.
    const dir = mkdtempSync(join(this.opts.tempDir ?? tmpdir(), 'bx-dedupe-'));
    let run: Run;
    try {
      run = Run.write(dir, this.runs.length, s, idx);
    } finally {
      rmdirQuiet(dir);
    }
    this.runs.push(run);
    this.runBytes += run.bytes;
    this.spilled += n;
    this.opts.onSpill?.(this.runs.length, n);
    // The table again, empty; a run's directory has nothing left in it once its file is open.
    this.slots.fill(0);
    this.size = 0;
  }
}

// Slots per 4 KiB block of a run file, and filter bits per key.
const BLOCK = 256;
const BLOOM_BITS = 10;

/** Unsigned compare of the digests at a[p..p+3] and b[q..q+3]. */
function compare4(a: Int32Array, p: number, b: Int32Array, q: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[p + k] >>> 0;
    const y = b[q + k] >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** A sorted run on disk: its blocked Bloom filter and its blocks' first digests stay in memory. */
class Run {
  private readonly block = new Int32Array(BLOCK * 4);
  private readonly probe = new Int32Array(4);

  private constructor(
    private readonly fd: number,
    private readonly count: number,
    /** 512-bit filter blocks, 16 words each. */
    private readonly bloom: Int32Array,
    /** First digest of each block of the file. */
    private readonly firsts: Int32Array,
  ) {}

  static bytesFor(n: number): number {
    return 64 * Math.ceil((n * BLOOM_BITS) / 512) + 16 * Math.ceil(n / BLOCK);
  }

  get bytes(): number {
    return this.bloom.byteLength + this.firsts.byteLength;
  }

  static write(dir: string, no: number, s: Int32Array, idx: Int32Array): Run {
    const n = idx.length;
    const path = join(dir, `run-${no}`);
    const fd = openSync(path, 'w+', 0o600);
    unlinkSync(path);
    const bloom = new Int32Array(16 * Math.ceil((n * BLOOM_BITS) / 512));
    const firsts = new Int32Array(4 * Math.ceil(n / BLOCK));
    const nb = bloom.length / 16;
    const out = new Int32Array(16384);
    let o = 0;
    let pos = 0;
    try {
      for (let j = 0; j < n; j++) {
        const p = idx[j] << 2;
        const a = s[p];
        const b = s[p + 1];
        const c = s[p + 2];
        const e = s[p + 3];
        if (j % BLOCK === 0) firsts.set(s.subarray(p, p + 4), (j / BLOCK) * 4);
        setBloom(bloom, nb, a, b, c, e);
        out[o++] = a;
        out[o++] = b;
        out[o++] = c;
        out[o++] = e;
        if (o === out.length) {
          pos += writeAll(fd, out, o, pos);
          o = 0;
        }
      }
      if (o > 0) writeAll(fd, out, o, pos);
    } catch (err) {
      closeSync(fd);
      throw classify(err) ?? err;
    }
    return new Run(fd, n, bloom, firsts);
  }

  has(a: number, b: number, c: number, e: number): boolean {
    if (!inBloom(this.bloom, this.bloom.length / 16, a, b, c, e)) return false;
    const q = this.probe;
    q[0] = a;
    q[1] = b;
    q[2] = c;
    q[3] = e;
    // The last block whose first digest is <= the key.
    const f = this.firsts;
    let lo = 0;
    let hi = f.length / 4 - 1;
    if (compare4(q, 0, f, 0) < 0) return false;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (compare4(f, mid * 4, q, 0) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const inBlock = Math.min(BLOCK, this.count - lo * BLOCK);
    const buf = new Uint8Array(this.block.buffer, 0, inBlock * 16);
    let got = 0;
    while (got < buf.length) {
      const r = readSync(this.fd, buf, got, buf.length - got, lo * BLOCK * 16 + got);
      if (r === 0) throw new IoError('a --dedupe spill file ended early');
      got += r;
    }
    let l = 0;
    let h = inBlock - 1;
    const blk = this.block;
    while (l <= h) {
      const m = (l + h) >>> 1;
      const cmp = compare4(blk, m * 4, q, 0);
      if (cmp === 0) return true;
      if (cmp < 0) l = m + 1;
      else h = m - 1;
    }
    return false;
  }

  close() {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

function writeAll(fd: number, words: Int32Array, n: number, pos: number): number {
  const bytes = new Uint8Array(words.buffer, 0, n * 4);
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
  return bytes.length;
}

// A blocked Bloom filter: the 7 bits of a key in one 512-bit block (one cache line), the block
// chosen by the digest's third word, the bits by double hashing on the second and fourth.
function setBloom(bloom: Int32Array, nb: number, _a: number, b: number, c: number, e: number) {
  const base = ((c >>> 0) % nb) * 16;
  for (let i = 0; i < 7; i++) {
    const bit = (e + Math.imul(i, b | 1)) & 511;
    bloom[base + (bit >>> 5)] |= 1 << (bit & 31);
  }
}

function inBloom(bloom: Int32Array, nb: number, _a: number, b: number, c: number, e: number): boolean {
  const base = ((c >>> 0) % nb) * 16;
  for (let i = 0; i < 7; i++) {
    const bit = (e + Math.imul(i, b | 1)) & 511;
    if ((bloom[base + (bit >>> 5)] & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}

function rmdirQuiet(dir: string) {
  try {
    rmdirSync(dir);
  } catch {
    // not empty or gone: nothing of ours is left in it either way (the run file is unlinked)
  }
}
