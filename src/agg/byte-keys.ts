// The byte path's group index: the --by values of a scanned line, as bytes, to their group, with
// no string made per record. An open-addressing hash table (linear probing) over a byte arena:
// the key's bytes are hashed straight from the line and compared byte for byte on a hash match.
//
// Two lines fall in one group here exactly when keyTextOf (table.ts) gives their records one key
// text, because the scanner (line-scan.ts) only takes values whose bytes are canonical:
// - strings without escapes, in valid UTF-8: equal bytes ⇔ equal strings ("\u0041" and "A" are
//   equal strings with other bytes, but the scanner leaves escaped values to the object path,
//   whose key text, found through the Map, is then the same group);
// - numbers only in the form String(Number(token)) writes back: equal bytes ⇔ equal numbers;
// - a missing field and null are one key (keyTextOf turns undefined into null), so both are
//   tagged NULLV; true, false and null by their tag alone; a string "1" and a number 1 differ
//   by their tag.
// The GroupTable's Map (key text → group) stays the one truth: a miss here is looked up there
// (or made) and then entered here, so the object path and the byte path meet in the same groups.
import { ABSENT, NULLV, NUM, STR, type LineScan } from './line-scan.js';
import type { Group } from './slots.js';

const EMPTY = -1;

export class ByteKeys {
  /**
   * Per table entry, side by side: the key's index (or EMPTY) and its hash (compared before its
   * bytes), so that a probe reads one place. Profile before (top 10 of 5,000 SKUs, --cpu-prof):
   * find() was 6 % of self time, loading the entry, its hash, the key's start and its length
   * from four arrays.
   */
  private tab: Int32Array;
  private mask: number;
  /** Per key, side by side: where its bytes start in the arena, and how many there are. */
  private keyAt: Int32Array = new Int32Array(2048);
  private groups: Group[] = [];
  private arena = new Uint8Array(1 << 14);
  private arenaView = new DataView(this.arena.buffer);
  private used = 0;
  /** The entry and hash of the last miss, where insert() puts its key. */
  private missAt = 0;
  private missHash = 0;

  constructor(private readonly by: number[]) {
    this.tab = new Int32Array(2048).fill(EMPTY);
    this.mask = 1023;
  }

  /** Keys held. */
  get size(): number {
    return this.groups.length;
  }

  /** Bytes held (for --memory's estimate). */
  get bytes(): number {
    return 4 * this.tab.length + 4 * this.keyAt.length + 8 * this.groups.length + this.arena.length;
  }

  /**
   * The index of the key of the line `sc` just scanned, or EMPTY; then insert() enters the group
   * found or made for it. Every --by field must be ABSENT, NULLV, STR, NUM, TRUE or FALSE (it is:
   * the scanner refuses the rest).
   */
  find(sc: LineScan): number {
    const h = this.hash(sc);
    const { tab, mask } = this;
    let at = h & mask;
    for (;;) {
      const k = tab[2 * at];
      if (k === EMPTY) break;
      if (tab[2 * at + 1] === h && this.equal(sc, k)) return k;
      at = (at + 1) & mask;
    }
    this.missAt = at;
    this.missHash = h;
    return EMPTY;
  }

  /** The group of key k (an index find() or insert() gave). */
  group(k: number): Group {
    return this.groups[k];
  }

  /** Enters the key of the line of the last find() (which missed) for `g`; returns its index. */
  insert(sc: LineScan, g: Group): number {
    const k = this.groups.length;
    if (2 * k === this.keyAt.length) this.keyAt = grow(this.keyAt);
    const start = this.used;
    this.append(sc);
    this.keyAt[2 * k] = start;
    this.keyAt[2 * k + 1] = this.used - start;
    this.groups.push(g);
    this.tab[2 * this.missAt] = k;
    this.tab[2 * this.missAt + 1] = this.missHash;
    // At most half full: probes stay short.
    if (4 * (k + 1) > this.tab.length) this.rehash();
    return k;
  }

  clear(): void {
    this.tab = new Int32Array(2048).fill(EMPTY);
    this.mask = 1023;
    this.keyAt = new Int32Array(2048);
    this.groups = [];
    this.arena = new Uint8Array(1 << 14);
    this.arenaView = new DataView(this.arena.buffer);
    this.used = 0;
  }

  /**
   * The hash of the --by values' tags and bytes: four bytes at a time (murmur3's mix), the last
   * 0-3 one by one, then a final mix for the low bits.
   */
  protected hash(sc: LineScan): number {
    const { by } = this;
    const buf = sc.buf;
    const view = sc.view;
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < by.length; i++) {
      const f = by[i];
      const kind = tagOf(sc.kind[f]);
      h = Math.imul(h ^ kind, 16777619);
      if (kind === STR || kind === NUM) {
        const e = sc.end[f];
        let q = sc.start[f];
        for (; q + 4 <= e; q += 4) {
          let w = Math.imul(view.getInt32(q, true), 0xcc9e2d51);
          w = Math.imul((w << 15) | (w >>> 17), 0x1b873593);
          h ^= w;
          h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
        }
        for (; q < e; q++) h = Math.imul(h ^ buf[q], 16777619);
        // The length too, so that ("ab","c") and ("a","bc") differ before their bytes are compared.
        h = Math.imul(h ^ (e - sc.start[f]), 16777619);
      }
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h;
  }

  /**
   * Whether key k is the line's key. The arena holds each field as its tag, then for a string
   * or a number its length (4 bytes, little-endian) and its bytes, compared four at a time.
   */
  private equal(sc: LineScan, k: number): boolean {
    const { by, arena } = this;
    const av = this.arenaView;
    const view = sc.view;
    const buf = sc.buf;
    let p = this.keyAt[2 * k];
    const end = p + this.keyAt[2 * k + 1];
    for (let i = 0; i < by.length; i++) {
      const f = by[i];
      const kind = tagOf(sc.kind[f]);
      if (p >= end || arena[p++] !== kind) return false;
      if (kind === STR || kind === NUM) {
        const s = sc.start[f];
        const n = sc.end[f] - s;
        if (av.getInt32(p, true) !== n) return false;
        p += 4;
        let q = 0;
        for (; q + 4 <= n; q += 4) if (av.getInt32(p + q, true) !== view.getInt32(s + q, true)) return false;
        for (; q < n; q++) if (arena[p + q] !== buf[s + q]) return false;
        p += n;
      }
    }
    return p === end;
  }

  private append(sc: LineScan): void {
    const { by } = this;
    const buf = sc.buf;
    let need = this.used + by.length;
    for (const f of by) if (sc.kind[f] === STR || sc.kind[f] === NUM) need += 4 + sc.end[f] - sc.start[f];
    if (need > this.arena.length) {
      let n = this.arena.length;
      while (n < need) n *= 2;
      const a = new Uint8Array(n);
      a.set(this.arena.subarray(0, this.used));
      this.arena = a;
      this.arenaView = new DataView(a.buffer);
    }
    const arena = this.arena;
    let p = this.used;
    for (const f of by) {
      const kind = tagOf(sc.kind[f]);
      arena[p++] = kind;
      if (kind === STR || kind === NUM) {
        const s = sc.start[f];
        const n = sc.end[f] - s;
        this.arenaView.setInt32(p, n, true);
        p += 4;
        arena.set(buf.subarray(s, s + n), p);
        p += n;
      }
    }
    this.used = p;
  }

  private rehash(): void {
    const size = this.tab.length; // entries: twice as many as before
    const tab = new Int32Array(2 * size).fill(EMPTY);
    const mask = size - 1;
    const old = this.tab;
    for (let i = 0; i < old.length; i += 2) {
      const k = old[i];
      if (k === EMPTY) continue;
      const h = old[i + 1];
      let at = h & mask;
      while (tab[2 * at] !== EMPTY) at = (at + 1) & mask;
      tab[2 * at] = k;
      tab[2 * at + 1] = h;
    }
    this.tab = tab;
    this.mask = mask;
  }
}

/** What find() gives for a key not held. */
export const MISS = EMPTY;

/** A field's tag in a key: a missing field is null (keyTextOf's undefined → null). */
const tagOf = (kind: number) => (kind === ABSENT ? NULLV : kind);

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(2 * a.length);
  b.set(a);
  return b;
}
