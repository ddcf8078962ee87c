// A Table Schema compiled once into one converter and one checker per field, so the hot path
// is a loop over plain functions: no type switch, no regex building, no schema walk per record.
import { Decimal, parseDecimal, toDecimal } from './decimal.js';
import { temporalParser, type TemporalParser } from './dates.js';
import { DigestSet, keyText, valueText } from './dedupe.js';
import type { RuleFailure } from './rejects.js';
import { setKey } from './json.js';
import type { Rec } from './records.js';
import { DEFAULT_MISSING_VALUES, isDecimal, scaleOf, type Field, type TableSchema } from './schema.js';

/** A value that failed its type: the rule (the type's name) and why. */
export class Bad {
  constructor(
    readonly rule: string,
    readonly message: string,
  ) {}
}

export type Converter = (v: unknown) => unknown;

/** CompiledSchema.typeOne's answer for a value some rule refuses. */
export const FAILED: unique symbol = Symbol('bx.failed');

const show = (v: unknown) => {
  const s =
    typeof v === 'string'
      ? JSON.stringify(v)
      : typeof v === 'object' && v !== null
        ? Array.isArray(v)
          ? 'an array'
          : 'an object'
        : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
};
const bad = (rule: string, expected: string, v: unknown) => new Bad(rule, `expected ${expected}, got ${show(v)}`);

const INT_TEXT = /^[+-]?\d+$/;

function integer(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? v : bad('integer', 'an integer', v);
  if (typeof v === 'string' && INT_TEXT.test(v)) {
    // INT_TEXT has no room for white space: " 1" is refused here as by number().
    const n = Number(v);
    // beyond 2^53 an integer travels as its digits (DESIGN.md "Exact numbers")
    return Number.isSafeInteger(n) ? n : BigInt(v).toString();
  }
  if (
    typeof v === 'string' &&
    v.length > 0 &&
    (v.charCodeAt(0) <= 0x20 || v.charCodeAt(v.length - 1) <= 0x20 || /^\s|\s$/.test(v))
  ) {
    return new Bad('integer', `expected an integer, got ${show(v)} (white space around it; --trim strips it)`);
  }
  return bad('integer', 'an integer', v);
}

/** Text of a number in a field's own notation ("1.234,50") as plain decimal text. */
function numberText(f: Field): (s: string) => string {
  const g = f.groupChar;
  const d = f.decimalChar;
  if (!g && (!d || d === '.')) return (s) => s;
  return (s) => {
    if (g) s = s.split(g).join('');
    if (d && d !== '.') s = s.split(d).join('.');
    return s;
  };
}

function decimalOf(v: unknown, text: (s: string) => string): Decimal | undefined {
  if (typeof v === 'number') return toDecimal(v);
  if (typeof v === 'string') return parseDecimal(text(v));
  return undefined;
}

// Plain decimal text of at most 15 digits: a double holds it exactly, and Number() gives what
// Decimal.toJSONValue() would, without building a BigInt (a third of the typing time on money).
const SHORT_DECIMAL = /^-?\d{1,15}(?:\.\d{1,14})?$/;
function shortDecimal(s: string, scale: number): number | undefined {
  if (s.length > 17 || !SHORT_DECIMAL.test(s)) return undefined;
  const dot = s.indexOf('.');
  const frac = dot < 0 ? 0 : s.length - dot - 1;
  if (frac > scale || s.length - (dot < 0 ? 0 : 1) - (s[0] === '-' ? 1 : 0) > 15) return undefined;
  const n = Number(s);
  return n === 0 ? 0 : n; // never -0
}

/**
 * Frictionless allows NaN, INF and -INF (in any case) as number values. JSON has no such
 * numbers; they travel as PostgreSQL spells them, text that COPY reads into double precision
 * and numeric: NaN, Infinity, -Infinity.
 */
const SPECIAL_NUMBERS: ReadonlyMap<string, string> = new Map([
  ['nan', 'NaN'],
  ['inf', 'Infinity'],
  ['-inf', '-Infinity'],
]);

/**
 * A number that is not a plain decimal: NaN/INF/-INF, or a Bad for text with white space
 * around it (integer refuses " 1" too; --trim strips it before typing), or undefined to go on.
 */
function specialNumber(v: unknown, rule: string, expected: string): unknown {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0) return undefined;
  if (v.length <= 4) {
    const sp = SPECIAL_NUMBERS.get(v.toLowerCase());
    if (sp !== undefined) return sp;
  }
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  if (first <= 0x20 || last <= 0x20 || /^\s|\s$/.test(v))
    return new Bad(rule, `expected ${expected}, got ${show(v)} (white space around it; --trim strips it)`);
  return undefined;
}

function number(f: Field): Converter {
  const text = numberText(f);
  const plain = !f.groupChar && (!f.decimalChar || f.decimalChar === '.');
  if (isDecimal(f)) {
    const scale = scaleOf(f);
    const fast = plain ? (scale ?? 1000) : -1;
    return (v) => {
      if (typeof v === 'string' && fast >= 0) {
        const n = shortDecimal(v, fast);
        if (n !== undefined) return n;
      }
      const sp = specialNumber(v, 'decimal', 'a decimal number');
      if (sp !== undefined) return sp;
      const d = decimalOf(v, text);
      if (d === undefined) return bad('decimal', 'a decimal number', v);
      // exact throughout; rounded half away from zero, as numeric(p,s) rounds on input
      return (scale === undefined ? d : d.round(scale)).toJSONValue();
    };
  }
  return (v) => {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (plain && typeof v === 'string') {
      const n = shortDecimal(v, 1000);
      if (n !== undefined) return n;
    }
    const sp = specialNumber(v, 'number', 'a number');
    if (sp !== undefined) return sp;
    const d = decimalOf(v, text);
    return d === undefined ? bad('number', 'a number', v) : d.toJSONValue();
  };
}

function boolean(f: Field): Converter {
  const t = new Set(f.trueValues ?? ['true', 'True', 'TRUE', '1']);
  const fa = new Set(f.falseValues ?? ['false', 'False', 'FALSE', '0']);
  return (v) => {
    if (typeof v === 'boolean') return v;
    const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
    if (s !== undefined) {
      if (t.has(s)) return true;
      if (fa.has(s)) return false;
    }
    return bad('boolean', `one of ${[...t, ...fa].join(', ')}`, v);
  };
}

function temporal(f: Field, type: 'date' | 'datetime' | 'time'): Converter {
  const parse: TemporalParser = temporalParser(type, f.format);
  // An ISO value is accepted whatever the pattern: cleaning cleaned records changes nothing.
  const iso = f.format && f.format !== 'default' && f.format !== 'any' ? temporalParser(type, 'default') : undefined;
  const expected = `a valid ${type}${f.format && f.format !== 'default' ? ` in the format ${f.format}` : ' (ISO 8601)'}`;
  return (v) => {
    if (typeof v !== 'string') return bad(type, expected, v);
    const r = parse(v) ?? iso?.(v);
    return r === undefined ? bad(type, expected, v) : r;
  };
}

function json(kind: 'object' | 'array'): Converter {
  const ok = (v: unknown) => v !== null && typeof v === 'object' && Array.isArray(v) === (kind === 'array');
  return (v) => {
    if (ok(v)) return v;
    if (typeof v === 'string') {
      try {
        const p = JSON.parse(v);
        if (ok(p)) return p;
      } catch {
        // not JSON: the failure below
      }
    }
    return bad(kind, kind === 'array' ? 'a JSON array' : 'a JSON object', v);
  };
}

function string(v: unknown): unknown {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return bad('string', 'a string', v);
}

/** The converter for one field's type. */
export function converterFor(f: Field): Converter {
  switch (f.type) {
    case 'integer':
      return integer;
    case 'number':
      return number(f);
    case 'boolean':
      return boolean(f);
    case 'date':
    case 'datetime':
    case 'time':
      return temporal(f, f.type);
    case 'year':
      return (v) => {
        const n = integer(v);
        return typeof n === 'number' && n >= 0 && n <= 9999 ? n : bad('year', 'a year', v);
      };
    case 'yearmonth':
      return (v) =>
        typeof v === 'string' && /^\d{4}-(0[1-9]|1[0-2])$/.test(v)
          ? v
          : bad('yearmonth', 'a year and month (YYYY-MM)', v);
    case 'duration':
      return (v) =>
        typeof v === 'string' && /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/.test(v)
          ? v
          : bad('duration', 'an ISO 8601 duration', v);
    case 'object':
    case 'geojson':
      return json('object');
    case 'array':
      return json('array');
    case 'string':
    case 'geopoint':
      return string;
    default:
      return (v) => v;
  }
}

// ---- constraints ----

/** A checker adds its failures for a non-null, already converted value. */
export type Check = (v: unknown, field: string, out: RuleFailure[]) => void;

function comparable(f: Field): ((v: unknown) => Decimal | string | number | undefined) | undefined {
  if (f.type === 'integer' || f.type === 'number' || f.type === 'year') return (v) => toDecimal(v);
  if (f.type === 'date' || f.type === 'time') return (v) => (typeof v === 'string' ? v : undefined);
  if (f.type === 'datetime') return (v) => (typeof v === 'string' ? Date.parse(v) : undefined);
  // untyped fields (flags on fields without a type): numbers when both sides are numbers
  return (v) => toDecimal(v) ?? (typeof v === 'string' ? v : undefined);
}

function order(a: Decimal | string | number, b: Decimal | string | number): number | undefined {
  if (a instanceof Decimal && b instanceof Decimal) return a.cmp(b);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function limitCheck(f: Field, kind: 'minimum' | 'maximum', limit: unknown, convert: Converter): Check {
  const key = comparable(f)!;
  const conv = convert(limit);
  const lim = conv instanceof Bad ? undefined : key(conv);
  if (lim === undefined || (typeof lim === 'number' && Number.isNaN(lim))) {
    throw new Error(`constraint ${kind} ${JSON.stringify(limit)} does not suit a ${f.type} field`);
  }
  const shown = typeof limit === 'string' ? limit : String(limit);
  // Decimals of at most 15 digits keep their order as doubles: typed numbers compare without
  // a BigInt (parsing one per value was 7% of a typed run).
  const limNum =
    lim instanceof Decimal && lim.normalize().coef.toString().replace('-', '').length <= 15
      ? lim.toNumber()
      : undefined;
  return (v, field, out) => {
    let c: number | undefined;
    if (limNum !== undefined && typeof v === 'number') c = v - limNum;
    else {
      const k = key(v);
      c = k === undefined ? undefined : order(k, lim);
    }
    if (c === undefined || Number.isNaN(c)) {
      out.push({ field, rule: kind, value: v, message: `cannot compare ${show(v)} with the ${kind} ${shown}` });
    } else if (kind === 'minimum' ? c < 0 : c > 0) {
      out.push({
        field,
        rule: kind,
        value: v,
        message: `${show(v)} is ${kind === 'minimum' ? 'below the minimum' : 'above the maximum'} ${shown}`,
      });
    }
  };
}

const lengthOf = (v: unknown) =>
  typeof v === 'string'
    ? /[\uD800-\uDFFF]/.test(v)
      ? [...v].length
      : v.length
    : Array.isArray(v)
      ? v.length
      : typeof v === 'object' && v
        ? Object.keys(v).length
        : String(v).length;

function checksFor(f: Field, convert: Converter): Check[] {
  const c = f.constraints ?? {};
  const checks: Check[] = [];
  if (c.minimum !== undefined) checks.push(limitCheck(f, 'minimum', c.minimum, convert));
  if (c.maximum !== undefined) checks.push(limitCheck(f, 'maximum', c.maximum, convert));
  if (c.minLength !== undefined) {
    const n = c.minLength;
    checks.push((v, field, out) => {
      if (lengthOf(v) < n) out.push({ field, rule: 'minLength', value: v, message: `${show(v)} is shorter than ${n}` });
    });
  }
  if (c.maxLength !== undefined) {
    const n = c.maxLength;
    checks.push((v, field, out) => {
      if (lengthOf(v) > n) out.push({ field, rule: 'maxLength', value: v, message: `${show(v)} is longer than ${n}` });
    });
  }
  if (c.pattern !== undefined) {
    const p = c.pattern;
    const re = new RegExp(`^(?:${p})$`, 'u');
    checks.push((v, field, out) => {
      if (!re.test(typeof v === 'string' ? v : JSON.stringify(v)))
        out.push({ field, rule: 'pattern', value: v, message: `${show(v)} does not match the pattern ${p}` });
    });
  }
  if (c.enum !== undefined) {
    // compared as typed: enum ["1","2"] on an integer field allows 1 and 2
    const allowed = new Set(
      c.enum.map((e) => {
        const k = convert(e);
        return valueText(k instanceof Bad ? e : k);
      }),
    );
    const list = c.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join(', ');
    checks.push((v, field, out) => {
      if (!allowed.has(valueText(v)))
        out.push({ field, rule: 'enum', value: v, message: `${show(v)} is not one of ${list}` });
    });
  }
  if (c.unique) {
    const seen = new DigestSet();
    checks.push((v, field, out) => {
      if (!seen.add(valueText(v)))
        out.push({ field, rule: 'unique', value: v, message: `${show(v)} is not unique (seen in an earlier record)` });
    });
  }
  return checks;
}

/**
 * Types and checks records against a schema. apply() converts every schema field of a record
 * and checks its constraints; when all pass it writes the typed values into the record (a
 * field missing from the record becomes null) and returns undefined; else it leaves the
 * record untouched and returns every failure, so a rejected record can be fixed and fed in again.
 */
export class CompiledSchema {
  private readonly names: string[];
  private readonly convert: Converter[];
  private readonly required: boolean[];
  private readonly checks: Check[][];
  private readonly missing: Set<string>;
  private readonly onlyEmpty: boolean;
  private readonly vals: unknown[];

  /** The schema's fields, in its order (bx-clean's byte path plans its work from them). */
  readonly fields: readonly Field[];

  constructor(schema: TableSchema) {
    const fields = schema.fields;
    this.fields = fields;
    const pk = new Set(schema.primaryKey ?? []);
    this.names = fields.map((f) => f.name);
    this.convert = fields.map(converterFor);
    this.required = fields.map((f) => Boolean(f.constraints?.required) || pk.has(f.name));
    this.checks = fields.map((f, i) => {
      try {
        return checksFor(f, this.convert[i]);
      } catch (err) {
        throw new Error(`field ${JSON.stringify(f.name)}: ${(err as Error).message}`);
      }
    });
    const mv = schema.missingValues ?? DEFAULT_MISSING_VALUES;
    this.missing = new Set(mv);
    this.onlyEmpty = mv.length === 1 && mv[0] === '';
    this.vals = new Array(fields.length);
    if (schema.primaryKey?.length) {
      this.pkIndex = schema.primaryKey.map((k) => this.names.indexOf(k));
      this.pkSeen = new DigestSet(1 << 16);
    }
  }

  /** The primary key is unique, as Frictionless says: a repeat is rule "primaryKey". */
  private readonly pkIndex: number[] = [];
  private readonly pkSeen: DigestSet | undefined;

  /**
   * Whether a record's outcome depends on the records before it (unique, primaryKey): the
   * byte path leaves such schemas to apply(), which keeps the seen values.
   */
  get stateful(): boolean {
    return this.pkSeen !== undefined || this.fields.some((f) => f.constraints?.unique);
  }

  /** Field i's checks and whether it is required, for a value typed without convert(). */
  checksOf(i: number): readonly Check[] {
    return this.checks[i];
  }
  requiredAt(i: number): boolean {
    return this.required[i];
  }
  /** Whether text `v` is a missing value of the schema (a null). */
  isMissing(v: string): boolean {
    return this.onlyEmpty ? v === '' : this.missing.has(v);
  }
  /** The schema's missing values. */
  missingValues(): string[] {
    return [...this.missing];
  }

  private readonly scratch: RuleFailure[] = [];

  /**
   * What apply() makes of field i's value `v` when every rule passes (the typed value, null
   * for a missing one), else FAILED: one field of one stateless schema, for the byte path,
   * which leaves a failing record to apply() to say why.
   */
  typeOne(i: number, v: unknown): unknown {
    if (typeof v === 'string' && (this.onlyEmpty ? v === '' : this.missing.has(v))) v = null;
    if (v === undefined || v === null) return this.required[i] ? FAILED : null;
    const c = this.convert[i](v);
    if (c instanceof Bad) return FAILED;
    return this.passes(i, c) ? c : FAILED;
  }

  /** Whether field i's already typed, non-null value `c` passes its checks. */
  passes(i: number, c: unknown): boolean {
    const checks = this.checks[i];
    if (checks.length === 0) return true;
    const out = this.scratch;
    const name = this.names[i];
    for (let k = 0; k < checks.length; k++) checks[k](c, name, out);
    if (out.length === 0) return true;
    out.length = 0;
    return false;
  }

  /**
   * When field i's one check is an enum: the texts it allows (a text value passes exactly when
   * it is one of them), so that the byte path can compare bytes. Else undefined.
   */
  enumTexts(i: number): string[] | undefined {
    const c = this.fields[i].constraints;
    if (!c || c.enum === undefined || this.checks[i].length !== 1) return undefined;
    const convert = this.convert[i];
    return c.enum.flatMap((e) => {
      const k = convert(e);
      const v = k instanceof Bad ? e : k;
      return typeof v === 'string' ? [v] : [];
    });
  }

  apply(rec: Rec): RuleFailure[] | undefined {
    const names = this.names;
    const vals = this.vals;
    let fails: RuleFailure[] | undefined;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      let v = Object.hasOwn(rec, name) ? rec[name] : undefined;
      const given = v;
      if (typeof v === 'string' && (this.onlyEmpty ? v === '' : this.missing.has(v))) v = null;
      if (v === undefined || v === null) {
        if (this.required[i]) {
          (fails ??= []).push({
            field: name,
            rule: 'required',
            value: given ?? null,
            message:
              given === undefined
                ? 'required field is missing'
                : given === null
                  ? 'required field is null'
                  : given === ''
                    ? 'required field is empty'
                    : `required field is ${JSON.stringify(given)}, a missing value`,
          });
        }
        vals[i] = null;
        continue;
      }
      const c = this.convert[i](v);
      if (c instanceof Bad) {
        (fails ??= []).push({ field: name, rule: c.rule, value: v, message: c.message });
        continue;
      }
      vals[i] = c;
      const checks = this.checks[i];
      if (checks.length) {
        const out = fails ?? [];
        for (let k = 0; k < checks.length; k++) checks[k](c, name, out);
        if (out.length) fails = out;
      }
    }
    if (fails) return fails;
    if (this.pkSeen) {
      const key = this.pkIndex.map((k) => vals[k]);
      if (!this.pkSeen.add(keyText(key))) {
        const field = this.pkIndex.map((k) => names[k]).join(',');
        return [
          {
            field,
            rule: 'primaryKey',
            value: key.length === 1 ? key[0] : key,
            message: `primary key (${key.map((v) => show(v)).join(', ')}) repeats an earlier record's`,
          },
        ];
      }
    }
    for (let i = 0; i < names.length; i++) {
      if (names[i] === '__proto__') setKey(rec, names[i], vals[i]);
      else rec[names[i]] = vals[i];
    }
    return undefined;
  }
}
