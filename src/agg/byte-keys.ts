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
  /** Per table entry: the key's index, or EMPTY; and the key's hash (compared before its bytes). */
  private tab: Int32Array;
  private tabHash: Int32Array;
  private mask: number;
  /** Per key: where its bytes start in the arena, and how many there are. */
  private keyAt: Int32Array = new Int32Array(1024);
  private keyLen: Int32Array = new Int32Array(1024);
  private groups: Group[] = [];
  private arena = new Uint8Array(1 << 14);
  private used = 0;
  /** The entry and hash of the last miss, where insert() puts its key. */
  private missAt = 0;
  private missHash = 0;

  constructor(private readonly by: number[]) {
    this.tab = new Int32Array(1024).fill(EMPTY);
    this.tabHash = new Int32Array(1024);
    this.mask = 1023;
  }

  /** Keys held. */
  get size(): number {
    return this.groups.length;
  }

  /** Bytes held (for --memory's estimate). */
  get bytes(): number {
    return 8 * this.tab.length + 8 * this.keyAt.length + 8 * this.groups.length + this.arena.length;
  }

  /**
   * The group of the line `sc` just scanned, or undefined; then insert() enters the group found
   * or made for it. Every --by field must be ABSENT, NULLV, STR, NUM, TRUE or FALSE (it is: the
   * scanner refuses the rest).
   */
  find(sc: LineScan): Group | undefined {
    const h = this.hash(sc);
    const { tab, tabHash, mask } = this;
    let at = h & mask;
    for (;;) {
      const k = tab[at];
      if (k === EMPTY) break;
      if (tabHash[at] === h && this.equal(sc, k)) return this.groups[k];
      at = (at + 1) & mask;
    }
    this.missAt = at;
    this.missHash = h;
    return undefined;
  }

  /** Enters the key of the line of the last find() (which missed) for `g`. */
  insert(sc: LineScan, g: Group): void {
    const k = this.groups.length;
    if (k === this.keyAt.length) {
      this.keyAt = grow(this.keyAt);
      this.keyLen = grow(this.keyLen);
    }
    const start = this.used;
    this.append(sc);
    this.keyAt[k] = start;
    this.keyLen[k] = this.used - start;
    this.groups.push(g);
    this.tab[this.missAt] = k;
    this.tabHash[this.missAt] = this.missHash;
    // At most half full: probes stay short.
    if (2 * (k + 1) > this.tab.length) this.rehash();
  }

  clear(): void {
    this.tab = new Int32Array(1024).fill(EMPTY);
    this.tabHash = new Int32Array(1024);
    this.mask = 1023;
    this.keyAt = new Int32Array(1024);
    this.keyLen = new Int32Array(1024);
    this.groups = [];
    this.arena = new Uint8Array(1 << 14);
    this.used = 0;
  }

  /** The hash of the --by values' tags and bytes (FNV-1a, then a final mix for the low bits). */
  protected hash(sc: LineScan): number {
    const { by } = this;
    const buf = sc.buf;
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < by.length; i++) {
      const f = by[i];
      const kind = tagOf(sc.kind[f]);
      h = Math.imul(h ^ kind, 16777619);
      if (kind === STR || kind === NUM) {
        const e = sc.end[f];
        for (let q = sc.start[f]; q < e; q++) h = Math.imul(h ^ buf[q], 16777619);
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
   * or a number its length (4 bytes, little-endian) and its bytes.
   */
  private equal(sc: LineScan, k: number): boolean {
    const { by, arena } = this;
    const buf = sc.buf;
    let p = this.keyAt[k];
    const end = p + this.keyLen[k];
    for (let i = 0; i < by.length; i++) {
      const f = by[i];
      const kind = tagOf(sc.kind[f]);
      if (p >= end || arena[p++] !== kind) return false;
      if (kind === STR || kind === NUM) {
        const s = sc.start[f];
        const n = sc.end[f] - s;
        if ((arena[p] | (arena[p + 1] << 8) | (arena[p + 2] << 16) | (arena[p + 3] << 24)) !== n) return false;
        p += 4;
        for (let q = 0; q < n; q++) if (arena[p + q] !== buf[s + q]) return false;
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
    }
    const arena = this.arena;
    let p = this.used;
    for (const f of by) {
      const kind = tagOf(sc.kind[f]);
      arena[p++] = kind;
      if (kind === STR || kind === NUM) {
        const s = sc.start[f];
        const n = sc.end[f] - s;
        arena[p] = n & 0xff;
        arena[p + 1] = (n >>> 8) & 0xff;
        arena[p + 2] = (n >>> 16) & 0xff;
        arena[p + 3] = n >>> 24;
        p += 4;
        arena.set(buf.subarray(s, s + n), p);
        p += n;
      }
    }
    this.used = p;
  }

  private rehash(): void {
    const size = 2 * this.tab.length;
    const tab = new Int32Array(size).fill(EMPTY);
    const tabHash = new Int32Array(size);
    const mask = size - 1;
    const old = this.tab;
    const oldHash = this.tabHash;
    for (let i = 0; i < old.length; i++) {
      const k = old[i];
      if (k === EMPTY) continue;
      const h = oldHash[i];
      let at = h & mask;
      while (tab[at] !== EMPTY) at = (at + 1) & mask;
      tab[at] = k;
      tabHash[at] = h;
    }
    this.tab = tab;
    this.tabHash = tabHash;
    this.mask = mask;
  }
}

/** A field's tag in a key: a missing field is null (keyTextOf's undefined → null). */
const tagOf = (kind: number) => (kind === ABSENT ? NULLV : kind);

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(2 * a.length);
  b.set(a);
  return b;
}
