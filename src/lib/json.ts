import { DataError, type Origin } from './errors.js';

export const DEFAULT_MAX_DEPTH = 1000;

// A number a double cannot hold exactly travels as a JSON string (DESIGN.md "Exact numbers").
// JSON.parse would round it silently, so a line whose parsed value holds any number and whose
// text may hold a long one (a run of 16 digits or dots, or a 3-digit exponent) is parsed again
// by the slower exact parser. Records of strings only (all of bx-extract's CSV output) never
// pay for the regex: measured 1.3 µs a line, 40 % of JSON.parse itself.
const maybeInexact = /\d[\d.]{15}|[eE][+-]?\d{3}/;

/**
 * Parses one JSON text. Numbers that would lose precision become strings holding their digits;
 * nesting deeper than `maxDepth` is refused; `__proto__` stays a plain key.
 */
export function parseJson(text: string, at: Origin, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  if (text.length > 2 * maxDepth) checkDepth(text, at, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DataError(at, undefined, `not valid JSON: ${jsonErrorDetail(err)}`);
  }
  if (holdsNumber(value) && maybeInexact.test(text)) value = new ExactParser(text, at).parseAll();
  if (value !== null && typeof value === 'object' && !Array.isArray(value))
    keepKeyOrder(value as Record<string, unknown>, text);
  return value;
}

/**
 * On a record whose keys JavaScript would enumerate out of source order: the source order.
 * An object lists integer-like names ("2019", "1") first, whatever their place, so
 * JSON.stringify would move them; stringifyRecord writes them where they were (DESIGN.md:
 * keys keep source order). Only such records carry it, as a hidden (non-enumerable) property.
 */
export const KEY_ORDER = Symbol('bx.keyOrder');

/** Whether JavaScript takes `k` as an array index, and so enumerates it before other keys. */
export const isIndexKey = (k: string): boolean => /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) < 4294967295;

type Ordered = Record<string, unknown> & { [KEY_ORDER]?: string[] };

/** The key order a record is written in: the one it carries, else its own. */
export const keyOrderOf = (rec: Record<string, unknown>): string[] | undefined => (rec as Ordered)[KEY_ORDER];

/** Gives `rec` the key order `order` (keys it lacks are skipped when written; keys it has beyond them follow). */
export function setKeyOrder(rec: Record<string, unknown>, order: string[]): void {
  Object.defineProperty(rec, KEY_ORDER, { value: order, enumerable: false, writable: true, configurable: true });
}

function keepKeyOrder(obj: Record<string, unknown>, text: string) {
  for (const k in obj) {
    if (isIndexKey(k)) setKeyOrder(obj, topLevelKeys(text));
    return; // the first key enumerated tells: integer-like ones come first
  }
}

/** The keys of the JSON object `text`, in the order written (a repeated key where it first appears). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 92) j++;
        else if (d === 34) break;
      }
      if (depth === 1) {
        let k = j + 1;
        while (
          k < text.length &&
          (text.charCodeAt(k) === 32 ||
            text.charCodeAt(k) === 9 ||
            text.charCodeAt(k) === 13 ||
            text.charCodeAt(k) === 10)
        )
          k++;
        if (text.charCodeAt(k) === 58) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
  }
  return keys;
}

/** A record as one line of JSON: JSON.stringify, but in the key order the record carries, if any. */
export function stringifyRecord(rec: Record<string, unknown>): string {
  const order = (rec as Ordered)[KEY_ORDER];
  if (order === undefined) return JSON.stringify(rec);
  const parts: string[] = [];
  const done = new Set<string>();
  const add = (k: string) => {
    if (done.has(k) || !Object.hasOwn(rec, k)) return;
    done.add(k);
    const v = JSON.stringify(rec[k]);
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
  };
  for (const k of order) add(k);
  for (const k in rec) add(k);
  return `{${parts.join(',')}}`;
}

function holdsNumber(v: unknown): boolean {
  if (typeof v === 'number') return true;
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (holdsNumber(v[i])) return true;
    return false;
  }
  for (const k in v) if (holdsNumber((v as Record<string, unknown>)[k])) return true;
  return false;
}

function jsonErrorDetail(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  // V8 quotes a whole long line in its message; keep the part that says what is wrong.
  return m.replace(/ in JSON at position (\d+).*$/s, ' at column $1').replace(/^(.{160}).*$/s, '$1…');
}

function checkDepth(text: string, at: Origin, maxDepth: number) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth)
        throw new DataError(at, undefined, `JSON nested deeper than ${maxDepth} levels (the --max-depth limit)`);
    } else if (c === 125 || c === 93) depth--;
  }
}

/** Keeps a number token as a number when a double holds it exactly, else as its digits. */
export function exactNumber(token: string): number | string {
  const n = Number(token);
  if (!Number.isFinite(n)) return token;
  if (!/[.eE]/.test(token)) return Number.isSafeInteger(n) ? n : token;
  return significantDigits(token) <= 15 ? n : token;
}

function significantDigits(token: string): number {
  const mantissa = token
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '');
  return mantissa.replace(/^0+/, '').replace(/0+$/, '').length;
}

export function setKey(obj: Record<string, unknown>, key: string, value: unknown) {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

class ExactParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly at: Origin,
  ) {}

  parseAll(): unknown {
    const v = this.value();
    this.ws();
    if (this.i < this.s.length) this.fail('unexpected text after the JSON value');
    return v;
  }

  private fail(what: string): never {
    throw new DataError(this.at, undefined, `not valid JSON: ${what} at column ${this.i + 1}`);
  }

  private ws() {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++;
      else break;
    }
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === 't' && this.s.startsWith('true', this.i)) return ((this.i += 4), true);
    if (c === 'f' && this.s.startsWith('false', this.i)) return ((this.i += 5), false);
    if (c === 'n' && this.s.startsWith('null', this.i)) return ((this.i += 4), null);
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = this.i;
    const num = m.exec(this.s);
    if (!num || num[0] === '' || num[0] === '-') this.fail('unexpected character');
    this.i += num[0].length;
    return exactNumber(num[0]);
  }

  private object(): Record<string, unknown> {
    this.i++;
    const o: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.i] === '}') return (this.i++, o);
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a key');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected ":"');
      this.i++;
      setKey(o, k, this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return o;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  private array(): unknown[] {
    this.i++;
    const a: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') return (this.i++, a);
    for (;;) {
      a.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return a;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  private string(): string {
    const m = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) this.fail('bad string');
    this.i += r[0].length;
    return JSON.parse(r[0]) as string;
  }
}
