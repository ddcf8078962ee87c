// Values as bx-agg sees them: the numeric scan of the hot path and the one total order used for
// min/max, group keys, --sort and the k-way merge of spilled runs.
import { Decimal, parseDecimal, toDecimal } from '../lib/decimal.js';

export const NULL = 0;
export const FAST = 1;
export const BIG = 2;
export const BAD = 3;
export type NumKind = typeof NULL | typeof FAST | typeof BIG | typeof BAD;

/** Where scanNumber() leaves a FAST value (m / 10^s) or a BIG one (d). Reused: no allocation. */
export interface Scanned {
  m: number;
  s: number;
  d: Decimal | undefined;
}

/** Skipped by every aggregate, as SQL skips NULL: null, a missing field, and "" (an empty CSV field). */
export const isNull = (v: unknown) => v === null || v === undefined || v === '';

/**
 * Classifies a value for a numeric aggregate. Numbers and numeric strings of at most ~15 digits
 * land in out.m/out.s as a scaled integer (FAST: no BigInt, no allocation for strings); anything
 * longer or with an exponent goes through parseDecimal (BIG); the rest is BAD.
 */
export function scanNumber(v: unknown, out: Scanned): NumKind {
  if (v === null || v === undefined || v === '') return NULL;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) {
      out.m = v;
      out.s = 0;
      return FAST;
    }
    return scanText(String(v), out); // shortest round-trip text: 0.1 is 0.1
  }
  if (typeof v === 'string') return scanText(v, out);
  return BAD;
}

function scanText(t: string, out: Scanned): NumKind {
  const n = t.length;
  let i = 0;
  let neg = false;
  let c = t.charCodeAt(0);
  if (c === 45) {
    neg = true;
    i = 1;
  } else if (c === 43) i = 1;
  let m = 0;
  let scale = 0;
  let dot = false;
  let digits = false;
  for (; i < n; i++) {
    c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // Past 9e14 the next digit could leave the exact range of a double.
      if (m > 9e14) return scanSlow(t, out);
      m = m * 10 + (c - 48);
      digits = true;
      if (dot) scale++;
    } else if (c === 46 && !dot) dot = true;
    else return scanSlow(t, out);
  }
  if (!digits) return BAD;
  out.m = neg ? -m : m;
  out.s = scale;
  return FAST;
}

function scanSlow(t: string, out: Scanned): NumKind {
  const d = parseDecimal(t);
  if (!d) return BAD;
  out.d = d;
  return BIG;
}

const NUMERIC_TEXT = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?\s*$/;
export const isNumericText = (s: string) => NUMERIC_TEXT.test(s);

/** 0 numbers (and numeric strings), 1 strings, 2 booleans, 3 objects/arrays, 4 null/missing. */
function rank(v: unknown): number {
  switch (typeof v) {
    case 'number':
      return 0;
    case 'string':
      return NUMERIC_TEXT.test(v) ? 0 : 1;
    case 'boolean':
      return 2;
    case 'object':
      return v === null ? 4 : 3;
    default:
      return 4;
  }
}

/**
 * The total order of values: numbers and numeric strings by value, then strings (UTF-16 code
 * unit order), false, true, objects and arrays by their JSON text, null and missing last.
 * Values that are equal but written differently (1 and "1.0") are ordered by their JSON text,
 * so the order never depends on arrival: a merge of partial results picks the same value as one
 * process does.
 */
export function valueCmp(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: {
      const na = typeof a === 'number' ? a : Number(a);
      const nb = typeof b === 'number' ? b : Number(b);
      if (na < nb) return -1;
      if (na > nb) return 1;
      // Doubles hold at most ~15 digits: only equal doubles need the exact comparison.
      const c = toDecimal(a)!.cmp(toDecimal(b)!);
      return c !== 0 ? c : textCmp(JSON.stringify(a), JSON.stringify(b));
    }
    case 1:
      return textCmp(a as string, b as string);
    case 2:
      return a ? 1 : -1;
    case 3:
      return textCmp(JSON.stringify(a), JSON.stringify(b));
    default:
      return 0;
  }
}

const textCmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Group keys compare field by field. */
export function keyCmp(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = valueCmp(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/** A numeric value as output: exact, normalised (a number when a double holds it, else a string). */
export function outputValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'number' || (typeof v === 'string' && NUMERIC_TEXT.test(v))) {
    const d = toDecimal(v);
    if (d) return d.toJSONValue();
  }
  return v;
}
