// Parquet ⇄ bx record values, exactly (docs/lake.md "Types"). hyparquet turns DECIMAL into a JS
// double and drops the µs of TIMESTAMP (NEXT-STACK.md §1, measured), so the reader strips those
// annotations from the metadata it hands to hyparquet and converts the raw physical values here:
// INT64 as bigint, DECIMAL as unscaled bigint or big-endian bytes, DATE as days, TIMESTAMP/TIME
// as integers in their unit. The writer maps a Table Schema field to a Parquet column the same way
// back: DECIMAL(p,s) from the decimal text (bigint unscaled), TIMESTAMP(MICROS) from ISO text.
import type { SchemaElement } from 'hyparquet';
import { DataError, type Origin } from '../lib/errors.js';
import { Decimal, pow10, toDecimal } from '../lib/decimal.js';
import { parseJson } from '../lib/json.js';
import { isDecimal, pgType, scaleOf, type Field } from '../lib/schema.js';

// ---------------------------------------------------------------- calendar (no Date objects)

/** Days since 1970-01-01 → YYYY-MM-DD (Howard Hinnant's civil_from_days; proleptic Gregorian). */
export function dateFromDays(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${y < 0 ? '-' + pad(-y, 4) : pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`;
}

/** YYYY-MM-DD → days since 1970-01-01 (days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

const UNIT_DIGITS = { MILLIS: 3, MICROS: 6, NANOS: 9 } as const;
export type TimeUnit = keyof typeof UNIT_DIGITS;

/** A fraction of a second without trailing zeros: ".5", ".123456", or "" (DuckDB prints them the same way). */
function fraction(sub: bigint, digits: number): string {
  if (sub === 0n) return '';
  return `.${sub.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** An integer count of `unit` since the epoch → `YYYY-MM-DDTHH:MM:SS[.f]`, plus `Z` when UTC-adjusted. */
export function timestampText(v: bigint, unit: TimeUnit, utc: boolean): string {
  const digits = UNIT_DIGITS[unit];
  const per = pow10(digits);
  let secs = v / per;
  let sub = v % per;
  if (sub < 0n) {
    sub += per;
    secs -= 1n;
  }
  let days = secs / 86400n;
  let rem = secs % 86400n;
  if (rem < 0n) {
    rem += 86400n;
    days -= 1n;
  }
  const r = Number(rem);
  const hms = `${pad(Math.floor(r / 3600), 2)}:${pad(Math.floor(r / 60) % 60, 2)}:${pad(r % 60, 2)}`;
  return `${dateFromDays(Number(days))}T${hms}${fraction(sub, digits)}${utc ? 'Z' : ''}`;
}

/** Time of day in `unit` → `HH:MM:SS[.f]`. */
export function timeText(v: bigint, unit: TimeUnit): string {
  const per = pow10(UNIT_DIGITS[unit]);
  const r = Number(v / per);
  return `${pad(Math.floor(r / 3600), 2)}:${pad(Math.floor(r / 60) % 60, 2)}:${pad(r % 60, 2)}${fraction(v % per, UNIT_DIGITS[unit])}`;
}

const ISO_DATE = /^(-?\d{4,})-(\d{2})-(\d{2})$/;
const ISO_DATETIME =
  /^(-?\d{4,})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const ISO_TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?$/;
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function validYmd(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1 || d > MONTH_DAYS[m - 1]) return false;
  return !(m === 2 && d === 29 && !((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0));
}

/** Days since the epoch of an ISO date, or undefined. */
export function parseDateDays(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  return validYmd(y, mo, d) ? daysFromCivil(y, mo, d) : undefined;
}

const CANON = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z?$/;
const dd = (s: string, i: number) => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
const dayCache = new Map<string, number>();

/** The common form (`2026-11-02T17:23:13[.ffffff][Z]`) by digit arithmetic: measured 3× the regex path. */
function canonicalMicros(text: string): { us: bigint; zone: boolean } | undefined {
  const n = canonicalMicrosNumber(text);
  if (n !== undefined) return { us: BigInt(n), zone: text.endsWith('Z') };
  if (!CANON.test(text)) return undefined;
  const days = parseDateDays(text.slice(0, 10));
  if (days === undefined) return undefined;
  const H = dd(text, 11);
  const M = dd(text, 14);
  const S = dd(text, 17);
  if (H > 23 || M > 59 || S > 59) return undefined;
  const zone = text.endsWith('Z');
  const frac = text.length > 20 && text[19] === '.' ? text.slice(20, zone ? -1 : undefined) : '';
  const secs = days * 86400 + H * 3600 + M * 60 + S;
  return { us: BigInt(secs) * 1000000n + BigInt(frac.padEnd(6, '0') || '0'), zone };
}

/**
 * The common form as a number of µs when a double holds it exactly (before the year 2255), else
 * undefined (the caller takes the exact path). The column buffer stores it without a BigInt.
 */
export function canonicalMicrosNumber(text: string): number | undefined {
  if (!CANON.test(text)) return undefined;
  const ymd = text.slice(0, 10);
  let days = dayCache.get(ymd);
  if (days === undefined) {
    days = parseDateDays(ymd);
    if (days === undefined) return undefined;
    if (dayCache.size > 4096) dayCache.clear();
    dayCache.set(ymd, days);
  }
  const H = dd(text, 11);
  const M = dd(text, 14);
  const S = dd(text, 17);
  if (H > 23 || M > 59 || S > 59) return undefined;
  const zone = text.charCodeAt(text.length - 1) === 90;
  const frac = text.length > 20 && text[19] === '.' ? text.slice(20, zone ? -1 : undefined) : '';
  const secs = days * 86400 + H * 3600 + M * 60 + S;
  const us = secs * 1e6 + (frac ? Number(frac.padEnd(6, '0')) : 0);
  return Number.isSafeInteger(us) ? us : undefined;
}

/** Microseconds since the epoch of an ISO datetime (an offset is applied: the result is UTC), or a reason. */
export function parseTimestampMicros(text: string): { us: bigint; zone: boolean } | string {
  const fast = canonicalMicros(text);
  if (fast !== undefined) return fast;
  const m = ISO_DATETIME.exec(text);
  if (!m) return 'expected an ISO 8601 datetime (YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])';
  const [y, mo, d, H, M] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const S = Number(m[6] ?? 0);
  if (!validYmd(y, mo, d) || H > 23 || M > 59 || S > 59) return 'not a valid date and time';
  const frac = m[7] ?? '';
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6)))
    return `more than 6 fraction digits ("${frac}"): Parquet TIMESTAMP(MICROS) would round it`;
  let us =
    (BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(H * 3600 + M * 60 + S)) * 1000000n +
    BigInt(frac.slice(0, 6).padEnd(6, '0') || '0');
  const z = m[8];
  if (z && z !== 'Z' && z !== 'z') {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(z)!;
    const off = (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60 * 1000000;
    us -= BigInt(zm[1] === '-' ? -off : off);
  }
  return { us, zone: z !== undefined };
}

// ---------------------------------------------------------------- reading

/** A JS value hyparquet gave for one column (raw, after the shim) → the record's JSON value. */
export type ReadConverter = (v: unknown) => unknown;

interface SchemaNode {
  element: SchemaElement;
  children: SchemaNode[];
}

/** Annotations the reader takes over from hyparquet, so that raw physical values reach convertLeaf. */
const TAKEN = new Set([
  'DECIMAL',
  'DATE',
  'TIMESTAMP_MILLIS',
  'TIMESTAMP_MICROS',
  'TIME_MILLIS',
  'TIME_MICROS',
  'JSON',
]);
const TAKEN_LOGICAL = new Set(['DECIMAL', 'DATE', 'TIMESTAMP', 'TIME', 'JSON']);

/**
 * The metadata hyparquet is given: the same, with the annotations bx converts itself removed from
 * the schema elements. The original elements are kept (converters are built from them).
 */
export function shimSchema(schema: SchemaElement[]): SchemaElement[] {
  return schema.map((e) => {
    const ct = e.converted_type;
    const lt = e.logical_type?.type;
    if ((ct && TAKEN.has(ct)) || (lt && TAKEN_LOGICAL.has(lt))) {
      const copy = { ...e };
      delete copy.converted_type;
      delete copy.logical_type;
      return copy;
    }
    return e;
  });
}

/** Builds the tree of the flat schema list (element 0 is the root). */
export function schemaTree(schema: SchemaElement[]): SchemaNode {
  let i = 0;
  const build = (): SchemaNode => {
    const element = schema[i++];
    const children: SchemaNode[] = [];
    for (let c = 0; c < (element.num_children ?? 0); c++) children.push(build());
    return { element, children };
  };
  return build();
}

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');

/** A big-endian two's-complement integer (Parquet DECIMAL bytes). */
export function bigintFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let v = 0n;
  // 6 bytes at a time stays inside a double's exact range.
  let i = 0;
  for (; i + 6 <= bytes.length; i += 6) {
    v =
      (v << 48n) |
      BigInt(
        bytes[i] * 2 ** 40 +
          bytes[i + 1] * 2 ** 32 +
          bytes[i + 2] * 2 ** 24 +
          ((bytes[i + 3] << 16) | (bytes[i + 4] << 8) | bytes[i + 5]),
      );
  }
  for (; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[0] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

/** An integer for a JSON record: a number when a double holds it exactly, else its digits as a string. */
export function intValue(v: bigint): number | string {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
}

function floatValue(v: number): number | string {
  // JSON has no NaN or infinities; JSON.stringify would turn them into null and lose them.
  return Number.isFinite(v) ? v : String(v);
}

function leafConverter(e: SchemaElement, at: string): ReadConverter {
  const ct = e.converted_type;
  const lt = e.logical_type;
  if (ct === 'DECIMAL' || lt?.type === 'DECIMAL') {
    const scale = e.scale ?? (lt?.type === 'DECIMAL' ? lt.scale : 0) ?? 0;
    return (v) => {
      if (v === null || v === undefined) return null;
      const coef = typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : bigintFromBytes(v as Uint8Array);
      return new Decimal(coef, scale).toJSONValue();
    };
  }
  if (ct === 'DATE' || lt?.type === 'DATE')
    return (v) => (v === null || v === undefined ? null : dateFromDays(Number(v)));
  if (lt?.type === 'TIMESTAMP' || ct === 'TIMESTAMP_MILLIS' || ct === 'TIMESTAMP_MICROS') {
    const unit: TimeUnit = lt?.type === 'TIMESTAMP' ? lt.unit : ct === 'TIMESTAMP_MILLIS' ? 'MILLIS' : 'MICROS';
    // The legacy converted types are UTC instants (parquet-format LogicalTypes.md).
    const utc = lt?.type === 'TIMESTAMP' ? lt.isAdjustedToUTC : true;
    return (v) => (v === null || v === undefined ? null : timestampText(BigInt(v as number | bigint), unit, utc));
  }
  if (lt?.type === 'TIME' || ct === 'TIME_MILLIS' || ct === 'TIME_MICROS') {
    const unit: TimeUnit = lt?.type === 'TIME' ? lt.unit : ct === 'TIME_MILLIS' ? 'MILLIS' : 'MICROS';
    const utc = lt?.type === 'TIME' ? lt.isAdjustedToUTC : false;
    return (v) =>
      v === null || v === undefined ? null : timeText(BigInt(v as number | bigint), unit) + (utc ? 'Z' : '');
  }
  if (ct === 'JSON' || lt?.type === 'JSON') {
    // bx's exact parser: a big number inside the JSON stays its digits.
    return (v) => {
      if (v === null || v === undefined) return null;
      const text = typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('utf8');
      return parseJson(text, { file: at, line: 0 });
    };
  }
  switch (e.type) {
    case 'INT64':
      return (v) => (v === null || v === undefined ? null : typeof v === 'bigint' ? intValue(v) : v);
    case 'INT96':
      // hyparquet gives INT96 (legacy Spark/Impala nanosecond instants) through parsers.timestampFromNanoseconds.
      return (v) => (v === null || v === undefined ? null : v);
    case 'FLOAT':
    case 'DOUBLE':
      return (v) => (v === null || v === undefined ? null : typeof v === 'number' ? floatValue(v) : v);
    case 'FIXED_LEN_BYTE_ARRAY':
    case 'BYTE_ARRAY':
      // Strings come decoded; binary without a string annotation (FLBA, UUID aside) goes out as base64.
      return (v) =>
        v === null || v === undefined
          ? null
          : v instanceof Uint8Array
            ? b64(v)
            : typeof v === 'bigint'
              ? intValue(v)
              : v;
    default:
      return (v) => (v === undefined ? null : typeof v === 'bigint' ? intValue(v) : v);
  }
}

const isList = (e: SchemaElement) => e.converted_type === 'LIST' || e.logical_type?.type === 'LIST';
const isMap = (e: SchemaElement) =>
  e.converted_type === 'MAP' || e.converted_type === 'MAP_KEY_VALUE' || e.logical_type?.type === 'MAP';

/** A converter for a whole column (a leaf, or a nested list/map/struct as hyparquet assembles it). */
export function columnConverter(node: SchemaNode, at: string): ReadConverter {
  const e = node.element;
  const inner = nodeConverter(node, at);
  // A repeated field outside a LIST annotation (the legacy form) is an array of its elements.
  if (e.repetition_type === 'REPEATED')
    return (v) => (Array.isArray(v) ? v.map(inner) : v === undefined ? null : inner(v));
  return inner;
}

function nodeConverter(node: SchemaNode, at: string): ReadConverter {
  const e = node.element;
  if (node.children.length === 0) return leafConverter(e, at);
  if (isList(e)) {
    // Three levels (LIST → repeated group → element), or the two-level legacy form.
    const rep = node.children[0];
    const elem =
      rep.children.length === 1 &&
      !isList(rep.element) &&
      rep.element.name !== 'array' &&
      !rep.element.name.endsWith('_tuple')
        ? rep.children[0]
        : rep;
    const conv = elem === rep ? nodeConverter(rep, at) : columnConverter(elem, at);
    return (v) => (Array.isArray(v) ? v.map(conv) : v === undefined ? null : v);
  }
  if (isMap(e)) {
    const kv = node.children[0];
    const valueNode = kv.children[1];
    const conv = valueNode ? columnConverter(valueNode, at) : (x: unknown) => x;
    return (v) => {
      if (v === null || v === undefined) return null;
      if (v instanceof Map) v = Object.fromEntries(v);
      if (typeof v !== 'object') return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = conv(x);
      return out;
    };
  }
  const fields = node.children.map((c) => [c.element.name, columnConverter(c, at)] as const);
  return (v) => {
    if (v === null || v === undefined) return null;
    const out: Record<string, unknown> = {};
    for (const [name, conv] of fields) out[name] = conv((v as Record<string, unknown>)[name]);
    return out;
  };
}

// ---------------------------------------------------------------- writing

/** One field of a record → one Parquet column: its schema element and the encoder of a value. */
export interface ColumnPlan {
  name: string;
  element: SchemaElement;
  /** The bx type, for the partition key's text and the hive metadata. */
  type: string;
  /** A record value → the physical value hyparquet-writer takes (null for a null). Throws DataError. */
  encode(v: unknown, at: Origin): unknown;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Bytes a two's-complement integer of `precision` decimal digits needs. */
export const decimalBytes = (precision: number) => Math.ceil((Math.log2(10) * precision + 1) / 8);

const bad = (at: Origin, field: string, what: string, v: unknown): never => {
  throw new DataError(at, field, `${what}, got ${JSON.stringify(v)?.slice(0, 80)}`);
};

/** Up to 15 digits, optionally signed: a double holds it exactly (the common case, no BigInt). */
function shortInteger(v: string): number | undefined {
  const n = v.length;
  if (n === 0 || n > 16) return undefined;
  let i = v.charCodeAt(0) === 45 ? 1 : 0;
  if (i === n || n - i > 15) return undefined;
  let x = 0;
  for (; i < n; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    x = x * 10 + c;
  }
  return v.charCodeAt(0) === 45 ? -x : x;
}

function integerText(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
  if (typeof v === 'bigint') return v;
  return undefined;
}

/** The Parquet column for a Table Schema field (the same choices as PostgreSQL's type: pgType()). */
export function planColumn(f: Field): ColumnPlan {
  const name = f.name;
  const opt = { name, repetition_type: 'OPTIONAL' } as const;
  const pg = pgType(f).toLowerCase().trim();
  if (f.type === 'integer' || f.type === 'year') {
    if (/^(integer|int|int4|smallint|int2)$/.test(pg)) {
      const element: SchemaElement = { ...opt, type: 'INT32' };
      return {
        name,
        element,
        type: 'integer',
        encode(v, at) {
          if (v === null || v === undefined) return null;
          const s =
            typeof v === 'string' ? shortInteger(v) : typeof v === 'number' && Number.isInteger(v) ? v : undefined;
          if (s !== undefined && s >= INT32_MIN && s <= INT32_MAX) return s;
          const n = integerText(v);
          if (n === undefined) return bad(at, name, 'expected an integer', v);
          if (n < INT32_MIN || n > INT32_MAX)
            return bad(
              at,
              name,
              'an integer outside INT32 (the schema says integer; give bx:pgType bigint for INT64)',
              v,
            );
          return Number(n);
        },
      };
    }
    if (/^(bigint|int8)$/.test(pg)) {
      return {
        name,
        element: { ...opt, type: 'INT64' },
        type: 'integer',
        encode(v, at) {
          if (v === null || v === undefined) return null;
          // Within 15 digits a number (the column buffer stores it without a BigInt); else a bigint.
          const s =
            typeof v === 'string' ? shortInteger(v) : typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
          if (s !== undefined) return s;
          const n = integerText(v);
          if (n === undefined) return bad(at, name, 'expected an integer', v);
          if (n < INT64_MIN || n > INT64_MAX)
            return bad(at, name, 'an integer outside INT64 (give bx:pgType numeric for DECIMAL(38,0))', v);
          return n;
        },
      };
    }
    // numeric: integers beyond 64 bits as DECIMAL(38,0).
    return decimalPlan(name, 38, 0, 'integer');
  }
  if (f.type === 'number') {
    if (isDecimal(f)) {
      const scale = scaleOf(f) ?? 0;
      const m = /^\s*(?:numeric|decimal)\s*\(\s*(\d+)/i.exec(f['bx:pgType'] ?? '');
      const precision = f['bx:precision'] ?? (m ? Number(m[1]) : 38);
      return decimalPlan(name, Math.max(precision, scale, 1), scale, 'number');
    }
    return {
      name,
      element: { ...opt, type: 'DOUBLE' },
      type: 'number',
      encode(v, at) {
        if (v === null || v === undefined) return null;
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
        if (Number.isNaN(n) && v !== 'NaN') return bad(at, name, 'expected a number', v);
        return n;
      },
    };
  }
  if (f.type === 'boolean') {
    return {
      name,
      element: { ...opt, type: 'BOOLEAN' },
      type: 'boolean',
      encode(v, at) {
        if (v === null || v === undefined) return null;
        if (typeof v === 'boolean') return v;
        if (v === 'true') return true;
        if (v === 'false') return false;
        return bad(at, name, 'expected a boolean', v);
      },
    };
  }
  if (f.type === 'date') {
    const cache = new Map<string, number>();
    return {
      name,
      element: { ...opt, type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } },
      type: 'date',
      encode(v, at) {
        if (v === null || v === undefined) return null;
        // Dates repeat (a day's sales share one): remember the last few hundred.
        let d = typeof v === 'string' ? cache.get(v) : undefined;
        if (d === undefined && typeof v === 'string') {
          d = parseDateDays(v);
          if (d !== undefined) {
            if (cache.size > 512) cache.clear();
            cache.set(v, d);
          }
        }
        return d === undefined ? bad(at, name, 'expected an ISO date (YYYY-MM-DD)', v) : d;
      },
    };
  }
  if (f.type === 'datetime') {
    const utc = !/^timestamp( without time zone)?$/.test(pg);
    return {
      name,
      element: {
        ...opt,
        type: 'INT64',
        ...(utc ? { converted_type: 'TIMESTAMP_MICROS' as const } : {}),
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: utc, unit: 'MICROS' },
      },
      type: 'datetime',
      encode(v, at) {
        if (v === null || v === undefined) return null;
        if (typeof v !== 'string') return bad(at, name, 'expected an ISO datetime', v);
        const fast = canonicalMicrosNumber(v);
        if (fast !== undefined && (utc || v.charCodeAt(v.length - 1) !== 90)) return fast;
        const r = parseTimestampMicros(v);
        if (typeof r === 'string') return bad(at, name, r, v);
        // A naive time in a column of instants is taken as UTC (as PostgreSQL with TimeZone=UTC).
        if (!utc && r.zone)
          return bad(
            at,
            name,
            'a datetime with a zone in a column without one (bx:pgType timestamp); drop the zone or use timestamptz',
            v,
          );
        return r.us;
      },
    };
  }
  if (f.type === 'time') {
    return {
      name,
      element: {
        ...opt,
        type: 'INT64',
        converted_type: 'TIME_MICROS',
        logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' },
      },
      type: 'time',
      encode(v, at) {
        if (v === null || v === undefined) return null;
        const m = typeof v === 'string' ? ISO_TIME.exec(v) : null;
        if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59)
          return bad(at, name, 'expected a time of day (HH:MM:SS[.ffffff])', v);
        const frac = m[4] ?? '';
        if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) return bad(at, name, 'more than 6 fraction digits', v);
        return (
          BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1000000n +
          BigInt(frac.slice(0, 6).padEnd(6, '0') || '0')
        );
      },
    };
  }
  if (f.type === 'object' || f.type === 'array' || f.type === 'geojson') {
    return {
      name,
      element: { ...opt, type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' } },
      type: f.type,
      // hyparquet-writer JSON-encodes the value itself.
      encode: (v) => (v === undefined ? null : v),
    };
  }
  return {
    name,
    element: { ...opt, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
    type: 'string',
    encode(v) {
      if (v === null || v === undefined) return null;
      if (typeof v === 'string') return v;
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    },
  };
}

const SHORT_DEC = /^(-?\d+)(?:\.(\d+))?$/;

function decimalPlan(name: string, precision: number, scale: number, type: string): ColumnPlan {
  const physical = precision <= 9 ? 'INT32' : precision <= 18 ? 'INT64' : 'FIXED_LEN_BYTE_ARRAY';
  const element: SchemaElement = {
    name,
    repetition_type: 'OPTIONAL',
    type: physical,
    converted_type: 'DECIMAL',
    logical_type: { type: 'DECIMAL', precision, scale },
    precision,
    scale,
  };
  if (physical === 'FIXED_LEN_BYTE_ARRAY') element.type_length = decimalBytes(precision);
  const limit = pow10(precision);
  // INT32 and INT64 take the unscaled value as a number when a double holds it exactly (no
  // BigInt per value: the column buffer stores numbers); DECIMAL beyond 18 digits as a bigint.
  const asNumber = physical !== 'FIXED_LEN_BYTE_ARRAY';
  const numLimit = Number(limit);
  const exact = (coef: bigint) =>
    asNumber && coef >= -9007199254740991n && coef <= 9007199254740991n ? Number(coef) : coef;
  return {
    name,
    element,
    type,
    encode(v, at) {
      if (v === null || v === undefined) return null;
      if (typeof v === 'string' && v.length <= 16) {
        // Money as text ("387.61"): the digits with the point dropped and zeros padded.
        const m = SHORT_DEC.exec(v);
        if (m && (m[2]?.length ?? 0) <= scale) {
          const digits = m[1] + (m[2] ?? '').padEnd(scale, '0');
          if (asNumber && digits.length <= 16) {
            const x = Number(digits);
            if (Number.isSafeInteger(x) && x < numLimit && x > -numLimit) return x === 0 ? 0 : x;
          }
          const coef = BigInt(digits);
          if (coef < limit && coef > -limit) return exact(coef);
        }
      }
      const d: Decimal | undefined = toDecimal(v);
      if (!d) return bad(at, name, 'expected a decimal number', v);
      const n = d.normalize();
      if (n.scale > scale)
        return bad(
          at,
          name,
          `more fraction digits than the column's scale ${scale} (bx:scale); round it first (bx-clean)`,
          v,
        );
      const coef = n.coef * pow10(scale - n.scale);
      if (coef >= limit || coef <= -limit)
        return bad(at, name, `more digits than DECIMAL(${precision},${scale}) holds`, v);
      return exact(coef);
    },
  };
}

/** The bx type recorded for a partition field, so a reader gives back numbers as numbers. */
export function partitionValue(type: string, text: string): unknown {
  if (type === 'integer') {
    const n = BigInt(text);
    return intValue(n);
  }
  if (type === 'number') return toDecimal(text)?.toJSONValue() ?? text;
  if (type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}
