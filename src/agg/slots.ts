// The per-group accumulators ("slots"). Several aggregates may read one slot: sum:Sales and
// avg:Sales share one exact sum, p50/p90/median of a field share one list of values. A partial
// result is the encoded slots of a group; merge() combines two of them, associatively, and
// commutatively for all but first/last (which keep arrival order, see the man page).
import { lineageOf } from '../lib/lineage.js';
import { Decimal } from '../lib/decimal.js';
import type { Rec } from '../lib/records.js';
import { ExactSum } from './exact-sum.js';
import { N_FAST, type LineScan } from './line-scan.js';
import { FAST, isNull, isNumericText, NULL, valueCmp } from './values.js';

export class Group {
  /** One entry per slot. */
  readonly s: unknown[];
  constructor(
    readonly key: unknown[],
    readonly keyText: string,
    slots: readonly Slot[],
  ) {
    this.s = slots.map((sl) => sl.init());
  }
}

/** Numeric values of one field for one batch, scanned once for every slot that needs them. */
export class NumCol {
  kind = new Uint8Array(0);
  m = new Float64Array(0);
  sc = new Int32Array(0);
  d: (Decimal | undefined)[] = [];
  ensure(n: number) {
    if (this.kind.length >= n) return;
    this.kind = new Uint8Array(n);
    this.m = new Float64Array(n);
    this.sc = new Int32Array(n);
  }
}

/** What a slot sees of a batch: records, their groups, which are rejected, scanned numbers. */
export interface BatchView {
  recs: Rec[];
  /** Stream name and line of each record, for first/last. */
  name: string;
  lines: number[];
  n: number;
  skip: Uint8Array;
  groups: Group[];
  cols: Map<string, NumCol>;
}

export abstract class Slot<S = any> {
  constructor(
    readonly id: string,
    readonly field: string | undefined,
  ) {}
  /** A numeric slot rejects records whose field is neither null, a number nor a numeric string. */
  readonly numeric: boolean = false;
  abstract init(): S;
  /** Adds the batch's records to their groups' slot `j`; returns the bytes it grew by (estimate). */
  abstract addBatch(b: BatchView, j: number): number;
  /** Combines `b` into `a` (a arrived first) and returns the result. */
  abstract merge(a: S, b: S): S;
  abstract encode(s: S): unknown;
  /** A partial state back, or MALFORMED. */
  abstract decode(v: unknown): S | typeof MALFORMED;
  /** Bytes a decoded state adds when merged into an existing group. */
  grow(_s: S): number {
    return 0;
  }
  /** Whether addScan() can take a line's value off the byte path (line-scan.ts). */
  readonly scans: boolean = true;
  /**
   * Adds field `f` of the line `sc` just scanned to group `g`'s slot `j`, as addBatch would add
   * the record; returns the bytes it grew by (estimate).
   */
  addScan(_g: Group, _j: number, _sc: LineScan, _f: number): number {
    throw new Error(`${this.id}: no byte path`);
  }
  /** This slot's state for the byte path's keys as a column (ScanColumn), or undefined: addScan. */
  column(): ScanColumn | undefined {
    return undefined;
  }
}

/**
 * A slot's state for each key of the byte path's index (byte-keys.ts), by key number, in typed
 * arrays: a line adds to its key's entries without touching the group's objects. Profile before
 * (top 10 of 5,000 SKUs, --cpu-prof on 1 M lines): addLines' own time was 14 % of the run, most
 * of it on `g.s[j]` and the sum's fields (a group, its state array, the ExactSum and its boxed
 * double: four objects apart in the heap per line), against 2.5 % with 6 groups. What a column
 * holds for a key is a partial state of its own: fold() merges it into the group (at the end,
 * before a spill, when the index is dropped), and slots merge exactly in any order.
 */
export interface ScanColumn {
  /** Room for keys below n (zeroed). */
  grow(n: number): void;
  /** Adds field f of the line sc just scanned to key k; false when the column cannot: addScan then. */
  add(k: number, sc: LineScan, f: number): boolean;
  /** Merges key k's entries into slot j of its group g and zeroes them. */
  fold(k: number, g: Group, j: number): void;
}

/** count (nonNull: count:FIELD, which skips nulls) per key. */
class CountColumn implements ScanColumn {
  private n = new Float64Array(0);
  constructor(private readonly nonNull: boolean) {}
  grow(n: number) {
    this.n = grownTo(this.n, n);
  }
  add(k: number, sc: LineScan, f: number) {
    if (!this.nonNull || !sc.isNull(f)) this.n[k]++;
    return true;
  }
  fold(k: number, g: Group, j: number) {
    (g.s[j] as number) += this.n[k];
    this.n[k] = 0;
  }
}

const MAX = Number.MAX_SAFE_INTEGER;
const POW = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * An exact sum per key as ExactSum keeps it while it stays in a double: acc / 10^scale over n
 * values, scale the largest of theirs. A value that would take it past 2^53 (or that needs a
 * rescale past it) is left to addScan, which adds it to the group's own ExactSum.
 */
class SumColumn implements ScanColumn {
  private acc = new Float64Array(0);
  private scale = new Int32Array(0);
  private n = new Float64Array(0);
  grow(n: number) {
    this.acc = grownTo(this.acc, n);
    this.scale = grownTo(this.scale, n);
    this.n = grownTo(this.n, n);
  }
  add(k: number, sc: LineScan, f: number) {
    if (sc.numKind[f] !== N_FAST) return true; // null, missing or "": skipped, as by addScan
    let m = sc.m[f];
    const s = sc.sc[f];
    let a = this.acc[k];
    const cs = this.scale[k];
    if (s > cs) a *= POW[s - cs];
    else if (s < cs) m *= POW[cs - s];
    const r = a + m;
    // Integers of at most 2^53 - 1 add and scale exactly; beyond, the group's ExactSum takes over.
    if (!(r <= MAX && r >= -MAX && a <= MAX && a >= -MAX && m <= MAX && m >= -MAX)) return false;
    this.acc[k] = r;
    if (s > cs) this.scale[k] = s;
    this.n[k]++;
    return true;
  }
  fold(k: number, g: Group, j: number) {
    const n = this.n[k];
    if (n === 0) return;
    const st = g.s[j] as ExactSum;
    st.add(this.acc[k], this.scale[k]);
    st.n += n;
    this.acc[k] = 0;
    this.scale[k] = 0;
    this.n[k] = 0;
  }
}

function grownTo<T extends Float64Array | Int32Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, 2 * a.length, 1024));
  b.set(a);
  return b;
}

/** What decode() returns for a state it cannot read. */
export const MALFORMED: unique symbol = Symbol('malformed');

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export class RowsSlot extends Slot<number> {
  init() {
    return 0;
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups } = b;
    for (let i = 0; i < b.n; i++) if (!skip[i]) (groups[i].s[j] as number)++;
    return 0;
  }
  merge(a: number, b: number) {
    return a + b;
  }
  encode(s: number) {
    return s;
  }
  decode(v: unknown) {
    return isCount(v) ? v : MALFORMED;
  }
  override addScan(g: Group, j: number, _sc: LineScan, _f: number) {
    (g.s[j] as number)++;
    return 0;
  }
  override column(): ScanColumn | undefined {
    return new CountColumn(false);
  }
}

export class NonNullSlot extends RowsSlot {
  override addScan(g: Group, j: number, sc: LineScan, f: number) {
    if (!sc.isNull(f)) (g.s[j] as number)++;
    return 0;
  }
  override column(): ScanColumn | undefined {
    return new CountColumn(true);
  }
  override addBatch(b: BatchView, j: number) {
    const { skip, groups, recs } = b;
    const f = this.field!;
    for (let i = 0; i < b.n; i++) if (!skip[i] && !isNull(recs[i][f])) (groups[i].s[j] as number)++;
    return 0;
  }
}

export class SumSlot extends Slot<ExactSum> {
  override readonly numeric = true;
  init() {
    return new ExactSum();
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups } = b;
    const col = b.cols.get(this.field!)!;
    const { kind, m, sc, d } = col;
    for (let i = 0; i < b.n; i++) {
      const k = kind[i];
      if (skip[i] || k === NULL) continue;
      const st = groups[i].s[j] as ExactSum;
      if (k === FAST) st.add(m[i], sc[i]);
      else st.addDecimal(d[i]!);
      st.n++;
    }
    return 0;
  }
  override addScan(g: Group, j: number, sc: LineScan, f: number) {
    if (sc.numKind[f] !== N_FAST) return 0;
    const st = g.s[j] as ExactSum;
    st.add(sc.m[f], sc.sc[f]);
    st.n++;
    return 0;
  }
  override column(): ScanColumn | undefined {
    return new SumColumn();
  }
  merge(a: ExactSum, b: ExactSum) {
    return a.merge(b);
  }
  encode(s: ExactSum) {
    return s.n === 0 ? null : [s.encode(), s.n];
  }
  decode(v: unknown) {
    if (v === null) return new ExactSum();
    if (!Array.isArray(v) || v.length !== 2 || !isCount(v[1])) return MALFORMED;
    return ExactSum.decode(v[0], v[1]) ?? MALFORMED;
  }
}

/** Σx and Σx² for stddev, both exact. */
export class Moments {
  s1 = new ExactSum();
  s2 = new ExactSum();
}

// |m| below this keeps m*m under 2^53.
const SQUARE_SAFE = 94906265;

export class MomentsSlot extends Slot<Moments> {
  override readonly numeric = true;
  init() {
    return new Moments();
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups } = b;
    const { kind, m, sc, d } = b.cols.get(this.field!)!;
    for (let i = 0; i < b.n; i++) {
      const k = kind[i];
      if (skip[i] || k === NULL) continue;
      const st = groups[i].s[j] as Moments;
      if (k === FAST) {
        const x = m[i];
        st.s1.add(x, sc[i]);
        if (x < SQUARE_SAFE && x > -SQUARE_SAFE) st.s2.add(x * x, 2 * sc[i]);
        else st.s2.addDecimal(new Decimal(BigInt(x) * BigInt(x), 2 * sc[i]));
      } else {
        const x = d[i]!;
        st.s1.addDecimal(x);
        st.s2.addDecimal(x.mul(x));
      }
      st.s1.n++;
    }
    return 0;
  }
  override addScan(g: Group, j: number, sc: LineScan, f: number) {
    if (sc.numKind[f] !== N_FAST) return 0;
    const st = g.s[j] as Moments;
    const x = sc.m[f];
    st.s1.add(x, sc.sc[f]);
    if (x < SQUARE_SAFE && x > -SQUARE_SAFE) st.s2.add(x * x, 2 * sc.sc[f]);
    else st.s2.addDecimal(new Decimal(BigInt(x) * BigInt(x), 2 * sc.sc[f]));
    st.s1.n++;
    return 0;
  }
  merge(a: Moments, b: Moments) {
    a.s1.merge(b.s1);
    a.s2.merge(b.s2);
    return a;
  }
  encode(s: Moments) {
    return s.s1.n === 0 ? null : [s.s1.n, s.s1.encode(), s.s2.encode()];
  }
  decode(v: unknown) {
    if (v === null) return new Moments();
    if (!Array.isArray(v) || v.length !== 3 || !isCount(v[0])) return MALFORMED;
    const s1 = ExactSum.decode(v[1], v[0]);
    const s2 = ExactSum.decode(v[2], v[0]);
    if (!s1 || !s2) return MALFORMED;
    return Object.assign(new Moments(), { s1, s2 });
  }
}

/** min (sign 1) or max (sign -1) in the total order of values.ts. */
export class ExtremeSlot extends Slot<unknown> {
  constructor(
    id: string,
    field: string,
    private readonly sign: 1 | -1,
  ) {
    super(id, field);
  }
  init() {
    return undefined;
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups, recs } = b;
    const f = this.field!;
    const sign = this.sign;
    for (let i = 0; i < b.n; i++) {
      const v = recs[i][f];
      if (skip[i] || isNull(v)) continue;
      const s = groups[i].s;
      const cur = s[j];
      if (cur === undefined || sign * valueCmp(v, cur) < 0) s[j] = v;
    }
    return 0;
  }
  override addScan(g: Group, j: number, sc: LineScan, f: number) {
    if (sc.isNull(f)) return 0;
    const v = sc.value(f);
    const s = g.s;
    const cur = s[j];
    if (cur === undefined || this.sign * valueCmp(v, cur) < 0) s[j] = v;
    return 0;
  }
  merge(a: unknown, b: unknown) {
    if (a === undefined) return b;
    if (b === undefined) return a;
    return this.sign * valueCmp(b, a) < 0 ? b : a;
  }
  encode(s: unknown) {
    return s === undefined ? null : s;
  }
  decode(v: unknown) {
    return v === null ? undefined : v;
  }
}

/** A first/last value and where its record came from. */
export class Placed {
  constructor(
    public v: unknown,
    public file: string,
    public line: number,
  ) {}
}

/** Position order: file name, then line, then the value itself, so no two entries tie. */
function placeCmp(a: Placed, file: string, line: number, v: unknown): number {
  if (a.file !== file) return a.file < file ? -1 : 1;
  if (a.line !== line) return a.line - line;
  return valueCmp(a.v, v);
}

/**
 * first (last = false) or last non-null value by position: the record's `_file`/`_line` lineage
 * when it has them, else its input stream and line. A position, not arrival order, decides, so
 * a merge of partial states in any order gives what one process gives.
 */
export class EndSlot extends Slot<Placed | undefined> {
  // Needs the record's _file/_line lineage: the object path.
  override readonly scans = false;
  constructor(
    id: string,
    field: string,
    private readonly last: boolean,
  ) {
    super(id, field);
  }
  init() {
    return undefined;
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups, recs, lines, name } = b;
    const f = this.field!;
    const sign = this.last ? -1 : 1;
    for (let i = 0; i < b.n; i++) {
      const rec = recs[i];
      const v = rec[f];
      if (skip[i] || isNull(v)) continue;
      const at = lineageOf(rec);
      const file = at ? at.file : name;
      const line = at ? at.line : lines[i];
      const s = groups[i].s;
      const cur = s[j] as Placed | undefined;
      if (cur === undefined) s[j] = new Placed(v, file, line);
      else if (sign * placeCmp(cur, file, line, v) > 0) {
        cur.v = v;
        cur.file = file;
        cur.line = line;
      }
    }
    return 0;
  }
  merge(a: Placed | undefined, b: Placed | undefined) {
    if (a === undefined) return b;
    if (b === undefined) return a;
    const c = placeCmp(a, b.file, b.line, b.v);
    return (this.last ? c < 0 : c > 0) ? b : a;
  }
  encode(s: Placed | undefined) {
    return s === undefined ? null : [s.v, s.file, s.line];
  }
  decode(v: unknown) {
    if (v === null) return undefined;
    if (!Array.isArray(v) || v.length !== 3 || typeof v[1] !== 'string' || !Number.isSafeInteger(v[2]))
      return MALFORMED;
    return new Placed(v[0], v[1], v[2]);
  }
}

/** Distinct values are compared by their text: 1 and "1" are one value, "1.0" another. */
const distinctText = (v: unknown) =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);

export class DistinctSlot extends Slot<Set<string>> {
  init() {
    return new Set<string>();
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups, recs } = b;
    const f = this.field!;
    let bytes = 0;
    for (let i = 0; i < b.n; i++) {
      const v = recs[i][f];
      if (skip[i] || isNull(v)) continue;
      const set = groups[i].s[j] as Set<string>;
      const t = distinctText(v);
      if (!set.has(t)) {
        set.add(t);
        bytes += 64 + 2 * t.length;
      }
    }
    return bytes;
  }
  override addScan(g: Group, j: number, sc: LineScan, f: number) {
    if (sc.isNull(f)) return 0;
    const set = g.s[j] as Set<string>;
    const t = distinctText(sc.value(f));
    if (set.has(t)) return 0;
    set.add(t);
    return 64 + 2 * t.length;
  }
  merge(a: Set<string>, b: Set<string>) {
    const [big, small] = a.size >= b.size ? [a, b] : [b, a];
    for (const t of small) big.add(t);
    return big;
  }
  encode(s: Set<string>) {
    return [...s].sort();
  }
  decode(v: unknown) {
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) return MALFORMED;
    return new Set<string>(v);
  }
  override grow(s: Set<string>) {
    let bytes = 0;
    for (const t of s) bytes += 64 + 2 * t.length;
    return bytes;
  }
}

/** Every value, for exact percentiles. */
export class ValuesSlot extends Slot<unknown[]> {
  override readonly numeric = true;
  override readonly scans = false;
  init() {
    return [];
  }
  addBatch(b: BatchView, j: number) {
    const { skip, groups, recs } = b;
    const f = this.field!;
    const kind = b.cols.get(f)!.kind;
    let bytes = 0;
    for (let i = 0; i < b.n; i++) {
      if (skip[i] || kind[i] === NULL) continue;
      const v = recs[i][f];
      (groups[i].s[j] as unknown[]).push(v);
      bytes += typeof v === 'number' ? 16 : 48 + 2 * (v as string).length;
    }
    return bytes;
  }
  merge(a: unknown[], b: unknown[]) {
    for (let i = 0; i < b.length; i++) a.push(b[i]);
    return a;
  }
  encode(s: unknown[]) {
    return s;
  }
  decode(v: unknown) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' || (typeof x === 'string' && isNumericText(x))))
      return MALFORMED;
    return v;
  }
  override grow(s: unknown[]) {
    return 32 * s.length;
  }
}
