// What the PostgreSQL and MySQL sources share (docs/design.md "Database sources"): the exact
// JSON text of a value, the incremental watermark rule, the checkpoint key, and batches of
// NDJSON bytes built straight from the server's text, with no object per row.
import { createHash } from 'node:crypto';
import { ConfigError, DataError, UsageError } from '../lib/errors.js';
import { parseJson } from '../lib/json.js';
import type { Batch, Rec, StageContext } from '../lib/stream.js';

/** Rows per batch: one write() of roughly this many lines (STYLE.md "Streams"). */
export const BATCH_ROWS = 2000;

/** The user's query without a trailing `;`, so it can sit inside `SELECT * FROM (…) bx`. */
export function bareQuery(q: string): string {
  const t = q.replace(/[\s;]+$/, '');
  if (t.trim() === '') throw new UsageError('--query: the query is empty');
  return t;
}

/** Stable part of a checkpoint key: the table as written, or a hash of the query text. */
export function sourceId(sql: { query?: string; table?: string }): string {
  if (sql.table !== undefined) return sql.table;
  const h = createHash('sha256')
    .update(bareQuery(sql.query ?? '').trim())
    .digest('hex')
    .slice(0, 16);
  return `query:${h}`;
}

/** A query that names one column twice cannot become a record: refuse it (exit 64), naming the columns. */
export function refuseDuplicateColumns(names: string[], what: string): void {
  const seen = new Map<string, number>();
  const dups: string[] = [];
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) dups.push(`"${n}" (columns ${first + 1} and ${i + 1})`);
    else seen.set(n, i);
  });
  if (dups.length)
    throw new UsageError(
      `${what} returns the column name ${dups.join(', ')} more than once; a record cannot hold two fields of one name: give each a distinct name with AS`,
    );
}

// ---- exact JSON text of values -------------------------------------------------------------

/** An integer's digits: a JSON number when a double holds it exactly, else a JSON string. */
export function intJson(s: string): string {
  // Leading zeros (a MySQL ZEROFILL column) are not JSON: the number's own digits.
  const c = s.charCodeAt(s.charCodeAt(0) === 45 ? 1 : 0);
  if (c === 48 && s.length > 1 && /^-?\d+$/.test(s)) s = BigInt(s).toString();
  // 15 digits are always below 2^53; longer ones are checked.
  if (s.length <= 15) return s;
  return Number.isSafeInteger(Number(s)) ? s : `"${s}"`;
}

/**
 * A decimal's text, by Decimal.toJSONValue()'s rule (src/lib/decimal.ts): a number when it has
 * at most 15 significant digits (written as JavaScript writes that double, so trailing zeros
 * go: 10.50 → 10.5), else the digits as a JSON string. NaN and ±Infinity are JSON strings.
 */
export function decimalJson(s: string): string {
  const fast = plainDecimal(s);
  if (fast !== undefined) return fast;
  const c = s.charCodeAt(0);
  if (c === 78 /* N */ || c === 73 /* I */ || (c === 45 && s.charCodeAt(1) === 73)) return `"${s}"`;
  if (s.indexOf('.') < 0 && s.indexOf('e') < 0 && s.indexOf('E') < 0) return intJson(s);
  let digits = 0;
  let started = false;
  let trailingZeros = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i);
    if (d < 48 || d > 57) {
      if (d === 101 || d === 69) break; // exponent
      continue;
    }
    if (!started && d === 48) continue;
    started = true;
    digits++;
    trailingZeros = d === 48 ? trailingZeros + 1 : 0;
  }
  if (digits - trailingZeros <= 15) {
    const n = Number(s);
    return n === 0 ? '0' : String(n);
  }
  return `"${s}"`;
}

/**
 * The common case without a Number round trip (13 % of a 1 M-row extract): plain digits, at
 * most 15 of them, and not below 1e-6 (where JavaScript would switch to an exponent). What
 * String(Number(s)) gives then is the text without its trailing fractional zeros.
 */
function plainDecimal(s: string): string | undefined {
  const n = s.length;
  if (n > 17) return undefined;
  let digits = 0;
  let dot = -1;
  for (let i = s.charCodeAt(0) === 45 ? 1 : 0; i < n; i++) {
    const d = s.charCodeAt(i);
    if (d >= 48 && d <= 57) digits++;
    else if (d === 46 && dot < 0) dot = i;
    else return undefined;
  }
  if (digits > 15 || digits === 0) return undefined;
  if (dot < 0) return s.length > 1 && s.charCodeAt(s[0] === '-' ? 1 : 0) === 48 ? undefined : s;
  let end = n;
  while (end > dot + 1 && s.charCodeAt(end - 1) === 48) end--;
  if (end === dot + 1) end = dot;
  const intZero = dot === (s[0] === '-' ? 2 : 1) && s.charCodeAt(dot - 1) === 48;
  if (end === dot) {
    // a whole number: "0.00" → "0", "-0.0" → "0"
    const whole = s.slice(0, dot);
    return whole === '-0' ? '0' : whole;
  }
  if (intZero && s.startsWith('000000', dot + 1)) return undefined;
  if (!intZero && s.charCodeAt(s[0] === '-' ? 1 : 0) === 48) return undefined; // leading zeros: let Number() decide
  return end === n ? s : s.slice(0, end);
}

/** A float as the server wrote it (shortest exact text); NaN and ±Infinity as JSON strings. */
export function floatJson(s: string): string {
  const c = s.charCodeAt(0);
  if (
    c === 78 ||
    c === 73 ||
    (c === 45 && (s.charCodeAt(1) === 73 || s.charCodeAt(1) === 105)) ||
    c === 105 ||
    c === 110
  )
    return `"${s}"`;
  // "1e+100" and ".5" are not both JSON: let JavaScript write it.
  if (c === 46 || (c === 45 && s.charCodeAt(1) === 46)) return String(Number(s));
  return s;
}

const TS = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-]\d\d(?::?\d\d)?(?::\d\d)?)?$/;

/**
 * `2026-11-23 10:00:00.5` → `2026-11-23T10:00:00.500000`; with an offset (timestamptz, MySQL
 * TIMESTAMP read in a +00:00 session) `…+00:00`. Wall-clock digits are never shifted. Text that
 * is not a plain timestamp (infinity, BC dates) is kept as the server wrote it.
 */
export function timestampText(s: string, zoned: boolean): string {
  // The shape PostgreSQL and MySQL write (YYYY-MM-DD HH:MM:SS[.f…][+zz]) without a regex: a fifth of the time of a timestamp-heavy extract.
  const n = s.length;
  if (
    n >= 19 &&
    s.charCodeAt(4) === 45 &&
    s.charCodeAt(10) === 32 &&
    s.charCodeAt(13) === 58 &&
    s.charCodeAt(n - 1) !== 67 /* …BC */
  ) {
    let i = 19;
    let frac = '000000';
    if (s.charCodeAt(19) === 46) {
      let j = 20;
      while (j < n && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
      if (j - 20 <= 6) {
        frac = s.slice(20, j).padEnd(6, '0');
        i = j;
      } else i = -1;
    }
    if (i > 0) {
      const base = s.slice(0, 10) + 'T' + s.slice(11, 19) + '.' + frac;
      if (!zoned) return i === n ? base : s;
      const o = s.slice(i);
      if (o === '+00' || o === '') return base + '+00:00';
      if (/^[+-]\d\d$/.test(o)) return `${base}${o}:00`;
    }
  }
  const m = TS.exec(s);
  if (!m) return s;
  const frac = (m[7] ?? '').padEnd(6, '0');
  let off = '';
  if (zoned) {
    const o = m[8] ?? '+00';
    off = o.length === 3 ? `${o}:00` : o.includes(':') ? o : `${o.slice(0, 3)}:${o.slice(3)}`;
  }
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac}${off}`;
}

/**
 * JSON text (from a json/jsonb column) on one line: whitespace outside strings removed. The
 * digits of numbers are kept as written, so a big number inside a document stays exact.
 */
export function compactJson(s: string): string {
  let ws = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) {
      ws = true;
      break;
    }
  }
  if (!ws) return s;
  let out = '';
  let from = 0;
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inStr) {
      if (c === 92) i++;
      else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 32 || c === 10 || c === 13 || c === 9) {
      out += s.slice(from, i);
      from = i + 1;
    }
  }
  return out + s.slice(from);
}

/** src[a, z) into dst at o; returns the new o. A loop: Buffer.copy's own overhead was 22 % of an extract of short fields. */
export function copyBytes(src: Uint8Array, a: number, z: number, dst: Uint8Array, o: number): number {
  if (z - a > 64) {
    dst.set(src.subarray(a, z), o);
    return o + z - a;
  }
  for (let i = a; i < z; i++) dst[o++] = src[i];
  return o;
}

/** decimalJson's rule on bytes: ≤ 15 digits, not below 1e-6, trailing fractional zeros dropped; -1: the slow path. */
export function plainDecimalBytes(b: Buffer, a: number, z: number, out: Buffer, o: number): number {
  if (z - a > 17) return -1;
  const neg = b[a] === 45;
  let digits = 0;
  let dot = -1;
  for (let i = neg ? a + 1 : a; i < z; i++) {
    const d = b[i];
    if (d >= 48 && d <= 57) digits++;
    else if (d === 46 && dot < 0) dot = i;
    else return -1;
  }
  if (digits === 0 || digits > 15) return -1;
  const first = neg ? a + 1 : a;
  if (dot < 0) {
    if (z - first > 1 && b[first] === 48) return -1;
    return copyBytes(b, a, z, out, o);
  }
  let end = z;
  while (end > dot + 1 && b[end - 1] === 48) end--;
  if (end === dot + 1) end = dot;
  const intZero = dot === first + 1 && b[first] === 48;
  if (end === dot) {
    if (intZero) {
      out[o] = 48; // 0.00 and -0.0 are 0
      return o + 1;
    }
    return copyBytes(b, a, dot, out, o);
  }
  if (!intZero && b[first] === 48) return -1;
  if (
    intZero &&
    end - dot > 6 &&
    b[dot + 1] === 48 &&
    b[dot + 2] === 48 &&
    b[dot + 3] === 48 &&
    b[dot + 4] === 48 &&
    b[dot + 5] === 48 &&
    b[dot + 6] === 48
  )
    return -1;
  return copyBytes(b, a, end, out, o);
}

/** base64 of raw bytes: how bx writes binary values. */
export const bytesJson = (b: Buffer) => `"${b.toString('base64')}"`;

// ---- incremental ---------------------------------------------------------------------------

export interface Incremental {
  column: string;
  key: string[];
}

/** A committed position: the column's value as exact text, and the key's values at that value. */
export interface Watermark {
  value: string;
  key?: string[];
}

/** The position bx_state or the state file holds, checked against this run's --key. */
export function watermarkOf(position: unknown, inc: Incremental, stateKey: string): Watermark | undefined {
  if (position === undefined || position === null) return undefined;
  const p = position as Partial<Watermark>;
  if (typeof p !== 'object' || typeof p.value !== 'string')
    throw new ConfigError(
      `stored position for ${stateKey} is not a bx watermark (${JSON.stringify(position)}); delete it to start from the beginning`,
    );
  if (inc.key.length === 0) return { value: p.value };
  if (!Array.isArray(p.key) || p.key.length !== inc.key.length || p.key.some((k) => typeof k !== 'string')) {
    throw new ConfigError(
      `stored position for ${stateKey} has no values for --key ${inc.key.join(',')} (was it stored without --key?); run once more without --key, or delete the stored position`,
    );
  }
  return { value: p.value, key: p.key };
}

/** The key a checkpoint is stored under: `postgres://host:5432/db#public.sales@updated_at`. */
export const checkpointKey = (scheme: string, host: string, port: number, db: string, id: string, column: string) =>
  `${scheme}://${host}:${port}/${db}#${id}@${column}`;

/**
 * The WHERE clause of an incremental read (the rule in docs/design.md "Incremental reads"):
 * rows after the committed watermark and up to the end fixed when the run started. With --key
 * the comparison is on the row value (col, k1, …), so rows that share the last column value
 * are neither lost nor read twice.
 */
export function incrementalWhere(
  col: string,
  keys: string[],
  lit: (v: string, i: number) => string,
  from: Watermark | undefined,
  to: Watermark,
): string {
  const parts = [`${col} IS NOT NULL`, rowCompare(col, keys, lit, '<=', to)];
  if (from) parts.push(rowCompare(col, keys, lit, '>', from));
  return parts.join(' AND ');
}

/** `col > 'v'`, or with keys the row comparison `(col, k) > ('v', 'k')`. */
export function rowCompare(
  col: string,
  keys: string[],
  lit: (v: string, i: number) => string,
  op: '>' | '<=',
  w: Watermark,
): string {
  if (keys.length === 0) return `${col} ${op} ${lit(w.value, 0)}`;
  return `(${[col, ...keys].join(', ')}) ${op} (${[w.value, ...(w.key ?? [])].map((v, i) => lit(v, i)).join(', ')})`;
}

// ---- batches -------------------------------------------------------------------------------

/** Collects NDJSON lines (already JSON text) and hands them on as batches of UTF-8 bytes. */
export class LineBatcher {
  // Rows are encoded into one buffer as they come: joining many small strings and encoding the
  // result cost 14 % of a 1 M-row extract.
  private buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private n = 0;
  private rows = 0;
  readonly lineage: string;

  constructor(
    readonly name: string,
    private readonly ctx: StageContext,
  ) {
    this.lineage = ctx.json?.lineage ? `,"_file":${JSON.stringify(name)},"_line":` : '';
  }

  /** `body` is a record's JSON text without its closing brace. */
  push(body: string): void {
    this.rows++;
    this.n++;
    const line = this.lineage ? `${body}${this.lineage}${this.rows}}\n` : `${body}}\n`;
    // 3 bytes per UTF-16 unit at most.
    if (this.used + line.length * 3 > this.buf.length) {
      const need = this.used + line.length * 3;
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    this.used += this.buf.write(line, this.used, 'utf8');
  }

  get size() {
    return this.n;
  }

  get total() {
    return this.rows;
  }

  /** A batch of `rows` NDJSON lines encoded elsewhere (the PostgreSQL transcoder): they count as pushed. */
  bytes(b: { bytes: Buffer; rows: number }): Batch {
    const first = this.rows + 1;
    this.rows += b.rows;
    const lines = new Array<number>(b.rows);
    for (let i = 0; i < b.rows; i++) lines[i] = first + i;
    if (this.ctx.json) return { name: this.name, lines, records: [], ndjson: b.bytes };
    const parts = b.bytes.toString('utf8').split('\n');
    const records: Rec[] = [];
    for (let i = 0; i < b.rows; i++) records.push(parseJson(parts[i], { file: this.name, line: first + i }) as Rec);
    return { name: this.name, lines, records };
  }

  take(): Batch {
    const first = this.rows - this.n + 1;
    const lines = new Array<number>(this.n);
    for (let i = 0; i < lines.length; i++) lines[i] = first + i;
    const bytes = Buffer.from(this.buf.subarray(0, this.used));
    const n = this.n;
    this.used = 0;
    this.n = 0;
    if (this.ctx.json) return { name: this.name, lines, records: [], ndjson: bytes };
    // A consumer that wants objects: parsed exactly (big numbers inside json stay strings).
    const records: Rec[] = [];
    const parts = bytes.toString('utf8').split('\n');
    for (let i = 0; i < n; i++) records.push(parseJson(parts[i], { file: this.name, line: first + i }) as Rec);
    return { name: this.name, lines, records };
  }
}

/** The new watermark travels only in a sealed stream's trailer: say so when nothing will store it. */
export function unsealedWarning(io: { seal?: { seal: boolean } }, ctx: StageContext): void {
  if (!io.seal?.seal)
    ctx.log.warn(
      '--incremental: the new watermark travels in the sealed trailer; without BX_SEAL=1 (or --seal) bx-load cannot store it, and the next run starts from the same place',
    );
}

/** A zero date: refused with the column and row (exit 65), unless --zero-dates null. */
export function zeroDate(
  name: string,
  row: number,
  column: string,
  value: string,
  mode: 'error' | 'null' | undefined,
): string {
  if (mode === 'null') return 'null';
  throw new DataError(
    { file: name, line: row },
    column,
    `zero date "${value}" is not a date; give --zero-dates null to read such values as null`,
  );
}

/**
 * A server's `YYYY-MM-DD HH:MM:SS[.f…]` (from `a`; the fraction, if any, ends at `fracEnd`, at
 * most 6 digits, checked by the caller) as a JSON string in ISO 8601 with microseconds, and
 * `+00:00` when `zoned` (the session runs in UTC): `"2026-11-23T08:15:00.120000+00:00"`. Both
 * sources' byte paths write timestamps through this. Returns the offset after it.
 */
export function putIsoTimestamp(b: Buffer, a: number, fracEnd: number, zoned: boolean, out: Buffer, o: number): number {
  out[o++] = 34;
  for (let k = a; k < a + 10; k++) out[o++] = b[k];
  out[o++] = 84; // T
  for (let k = a + 11; k < a + 19; k++) out[o++] = b[k];
  out[o++] = 46;
  let n = 0;
  for (let k = a + 20; k < fracEnd; k++, n++) out[o++] = b[k];
  for (; n < 6; n++) out[o++] = 48;
  if (zoned) for (let k = 0; k < 6; k++) out[o++] = UTC_OFFSET[k];
  out[o++] = 34;
  return o;
}
const UTC_OFFSET = Buffer.from('+00:00');
