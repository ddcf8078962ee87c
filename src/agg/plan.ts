// What to compute: --by, --agg and --sort parsed into slots (accumulators) and aggregates
// (the output fields, each a final value computed from one slot).
import { createHash } from 'node:crypto';
import { Decimal, pow10, toDecimal } from '../lib/decimal.js';
import { UsageError } from '../lib/errors.js';
import { isIndexKey, setKey, setKeyOrder } from '../lib/json.js';
import { ExactSum } from './exact-sum.js';
import {
  DistinctSlot,
  EndSlot,
  ExtremeSlot,
  Moments,
  MomentsSlot,
  NonNullSlot,
  Placed,
  RowsSlot,
  Slot,
  SumSlot,
  ValuesSlot,
} from './slots.js';
import { outputValue, valueCmp } from './values.js';

export const FUNCS = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'count_distinct',
  'first',
  'last',
  'median',
  'p50',
  'p90',
  'p95',
  'p99',
  'pNN',
  'stddev',
];

export interface Aggregate {
  name: string;
  slot: number;
  final: (state: any) => unknown;
}

export interface SortKey {
  field: string;
  desc: boolean;
}

/** Splits a list flag (`--by a,b --by c`) into its items. */
export { listItems } from '../lib/size.js';

export class Plan {
  readonly slots: Slot[] = [];
  readonly aggs: Aggregate[] = [];
  /** Names the --by/slot layout; a partial state from another layout cannot be merged. */
  readonly sig: string;

  constructor(
    readonly by: string[],
    aggSpecs: string[],
    readonly extraDigits: number,
  ) {
    if (new Set(by).size !== by.length) throw new UsageError(`--by: a field is named twice in "${by.join(',')}"`);
    for (const spec of aggSpecs.length ? aggSpecs : ['count']) this.addAgg(spec);
    const names = [...by, ...this.aggs.map((a) => a.name)];
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined)
      throw new UsageError(`--agg: two output fields are named "${dup}"; rename one with --agg NAME=FUNC:FIELD`);
    this.sig = createHash('sha1')
      .update(JSON.stringify([by, this.slots.map((s) => s.id)]))
      .digest('hex')
      .slice(0, 12);
  }

  /** `[name=]func[:field]`, e.g. `count`, `sum:Sales`, `revenue=sum:Sales`, `p90:Sales`. */
  private addAgg(spec: string) {
    const m = /^(?:([^=:]+)=)?([A-Za-z_][A-Za-z0-9_.]*)(?::(.+))?$/.exec(spec);
    if (!m) throw new UsageError(`--agg: expected [NAME=]FUNC[:FIELD], got "${spec}"`);
    const [, alias, fn, field] = m;
    const func = fn.toLowerCase();
    const name = alias?.trim() || (field === undefined ? func : `${func}_${field}`);
    const need = () => {
      if (field === undefined) throw new UsageError(`--agg: ${func} needs a field, e.g. ${func}:Sales`);
      return field;
    };
    const extra = this.extraDigits;
    switch (func) {
      case 'count':
        if (field === undefined)
          this.add(
            name,
            `rows`,
            () => new RowsSlot('rows', undefined),
            (n: number) => n,
          );
        else
          this.add(
            name,
            `nonnull:${field}`,
            (id) => new NonNullSlot(id, field),
            (n: number) => n,
          );
        return;
      case 'sum':
        this.add(
          name,
          `sum:${need()}`,
          (id) => new SumSlot(id, field),
          (s: ExactSum) => (s.n === 0 ? null : s.value().toJSONValue()),
        );
        return;
      case 'avg':
        this.add(
          name,
          `sum:${need()}`,
          (id) => new SumSlot(id, field),
          (s: ExactSum) => (s.n === 0 ? null : avg(s, extra).toJSONValue()),
        );
        return;
      case 'stddev':
        this.add(
          name,
          `moments:${need()}`,
          (id) => new MomentsSlot(id, field),
          (s: Moments) => stddev(s, extra)?.toJSONValue() ?? null,
        );
        return;
      case 'min':
      case 'max':
        this.add(name, `${func}:${need()}`, (id) => new ExtremeSlot(id, field!, func === 'min' ? 1 : -1), outputValue);
        return;
      case 'first':
      case 'last':
        this.add(
          name,
          `${func}:${need()}`,
          (id) => new EndSlot(id, field!, func === 'last'),
          (p: Placed | undefined) => (p === undefined ? null : p.v),
        );
        return;
      case 'count_distinct':
        this.add(
          name,
          `distinct:${need()}`,
          (id) => new DistinctSlot(id, field),
          (s: Set<string>) => s.size,
        );
        return;
    }
    const p = func === 'median' ? '50' : /^p(100|\d{1,2}(?:\.\d+)?)$/.exec(func)?.[1];
    if (p === undefined) throw new UsageError(`--agg: unknown function "${fn}"; known: ${FUNCS.join(', ')}`);
    const q = toDecimal(p)!
      .div(new Decimal(100n, 0), p.length + 2)
      .normalize();
    this.add(
      name,
      `values:${need()}`,
      (id) => new ValuesSlot(id, field),
      (v: unknown[]) => percentile(v, q)?.toJSONValue() ?? null,
    );
  }

  private add(name: string, id: string, make: (id: string) => Slot, final: (s: any) => unknown) {
    let slot = this.slots.findIndex((s) => s.id === id);
    if (slot < 0) slot = this.slots.push(make(id)) - 1;
    this.aggs.push({ name, slot, final });
  }

  /** Fields whose values numeric slots scan, once per batch. */
  numericFields(): string[] {
    return [...new Set(this.slots.filter((s) => s.numeric).map((s) => s.field!))];
  }

  /** The output record of a group: key fields, then the aggregates in --agg order. */
  row(key: unknown[], states: unknown[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.by.length; i++) setKey(out, this.by[i], key[i]);
    for (const a of this.aggs) setKey(out, a.name, a.final(states[a.slot]));
    // An integer-like name ("2019") would be listed first by the object: keep this order.
    if (this.order === null) {
      const names = [...this.by, ...this.aggs.map((a) => a.name)];
      this.order = names.some(isIndexKey) ? names : undefined;
    }
    if (this.order) setKeyOrder(out, this.order);
    return out;
  }

  /** The output key order, when an object would not keep it by itself (null: not yet known). */
  private order: string[] | undefined | null = null;
}

/** avg = sum / count, rounded half away from zero to the inputs' largest scale + `extra` digits. */
function avg(s: ExactSum, extra: number): Decimal {
  return s.value().div(new Decimal(BigInt(s.n), 0), s.scale + extra);
}

/**
 * Sample standard deviation (PostgreSQL's stddev), sqrt((nΣx² − (Σx)²) / (n(n−1))), computed
 * exactly and rounded half away from zero to the inputs' largest scale + `extra` digits.
 */
function stddev(m: Moments, extra: number): Decimal | undefined {
  const n = m.s1.n;
  if (n < 2) return undefined;
  const N = new Decimal(BigInt(n), 0);
  const s1 = m.s1.value();
  const num = m.s2.value().mul(N).sub(s1.mul(s1)); // ≥ 0 exactly
  const t = m.s1.scale + extra;
  let a = num.coef;
  let den = BigInt(n) * BigInt(n - 1);
  const shift = 2 * t - num.scale;
  if (shift >= 0) a *= pow10(shift);
  else den *= pow10(-shift);
  let r = isqrt(a / den);
  // round half away from zero: sqrt(a/den) ≥ r + 1/2  ⇔  4a ≥ den(2r+1)²
  if (4n * a >= den * (2n * r + 1n) * (2n * r + 1n)) r += 1n;
  return new Decimal(r, t);
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  // Start above the root (the double's guess plus a margin, or a power of two past the double
  // range): integer Newton then falls monotonically to floor(sqrt(n)) in a few steps.
  const f = Math.sqrt(Number(n));
  let x = Number.isFinite(f)
    ? BigInt(Math.ceil(f * (1 + 1e-12))) + 1n
    : 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

const sortedCache = new WeakMap<unknown[], unknown[]>();

/** Values in the total order (by double first, the exact comparison only for equal doubles). */
function sortedValues(vals: unknown[]): unknown[] {
  let sorted = sortedCache.get(vals);
  if (sorted) return sorted;
  const n = vals.length;
  const dbl = new Float64Array(n);
  for (let i = 0; i < n; i++) dbl[i] = Number(vals[i]);
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => dbl[a] - dbl[b] || valueCmp(vals[a], vals[b]));
  sorted = idx.map((i) => vals[i]);
  sortedCache.set(vals, sorted);
  return sorted;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) with linear interpolation between the closest ranks, as
 * PostgreSQL's percentile_cont, but in exact decimals: v[k] + (v[k+1] − v[k])·f, where k + f = q(n−1).
 */
function percentile(vals: unknown[], q: Decimal): Decimal | undefined {
  if (vals.length === 0) return undefined;
  const v = sortedValues(vals);
  const pos = q.mul(new Decimal(BigInt(v.length - 1), 0));
  const unit = pow10(pos.scale);
  const k = Number(pos.coef / unit);
  const f = new Decimal(pos.coef % unit, pos.scale);
  const lo = toDecimal(v[k])!;
  if (f.isZero()) return lo;
  const hi = toDecimal(v[k + 1])!;
  return lo.add(hi.sub(lo).mul(f));
}

/** `--sort field[:asc|:desc],…` over output fields. */
export function parseSort(items: string[], plan: Plan): SortKey[] {
  const names = new Set([...plan.by, ...plan.aggs.map((a) => a.name)]);
  return items.map((item) => {
    const m = /^(.*):(asc|desc)$/i.exec(item);
    const field = m ? m[1] : item;
    if (!names.has(field))
      throw new UsageError(`--sort: "${field}" is not an output field; output fields: ${[...names].join(', ')}`);
    return { field, desc: m ? m[2].toLowerCase() === 'desc' : false };
  });
}
