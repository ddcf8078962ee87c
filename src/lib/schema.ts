// One schema model for the family (DESIGN.md "Schemas"): Frictionless Table Schema JSON, with
// bx extensions for what the standard lacks. bx-schema infers it, bx-clean enforces it,
// bx-load --create makes the table from it.
//
// Extensions (valid Table Schema: unknown properties are allowed on a field):
//   "bx:scale":     integer ≥ 0. On a "number" field: a decimal with that many fraction digits,
//                   computed exactly (never a double) and rounded half away from zero by bx-clean;
//                   numeric(P,S) in PostgreSQL (numeric when no precision is given).
//   "bx:precision": integer ≥ 1, total digits of such a decimal: numeric(P,S).
//   "bx:pgType":    the PostgreSQL column type, verbatim (bigint, numeric(12,2), timestamp, …);
//                   letters, digits, spaces, underscores, one (p[,s]) and [] only, so it can be
//                   put into DDL text as written. A number field whose pgType is numeric/decimal is
//                   a decimal too.
import { promises as fsp } from 'node:fs';
import { ConfigError, InputMissingError } from './errors.js';
import { patternInfo, temporalCandidates, hasZone, swapsDayMonth, type Candidate } from './dates.js';
import { DigestSet, valueText } from './dedupe.js';
import { qualified, quoteIdent, type TableName } from './ident.js';
import { keyOrderOf } from './json.js';

export const FIELD_TYPES = [
  'string',
  'integer',
  'number',
  'boolean',
  'date',
  'datetime',
  'time',
  'year',
  'yearmonth',
  'duration',
  'object',
  'array',
  'geopoint',
  'geojson',
  'any',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface Constraints {
  required?: boolean;
  unique?: boolean;
  minimum?: number | string;
  maximum?: number | string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
}

export interface Field {
  name: string;
  type: FieldType;
  /** Dates and times: "default" (ISO 8601), "any" (the same, in bx) or a strptime pattern such as "%d/%m/%y". */
  format?: string;
  title?: string;
  description?: string;
  constraints?: Constraints;
  /** Booleans: texts read as true/false (Frictionless defaults: true/True/TRUE/1, false/False/FALSE/0). */
  trueValues?: string[];
  falseValues?: string[];
  /** Numbers: the decimal mark and the thousands separator of the text ("1.234,50"). */
  decimalChar?: string;
  groupChar?: string;
  'bx:scale'?: number;
  'bx:precision'?: number;
  'bx:pgType'?: string;
}

export interface TableSchema {
  fields: Field[];
  primaryKey?: string[];
  /** Texts that mean null in every field of the schema; Frictionless' default is [""]. */
  missingValues?: string[];
}

export const DEFAULT_MISSING_VALUES = [''];

/** A number field with a scale or a numeric pgType is an exact decimal. */
export function isDecimal(f: Field): boolean {
  return f.type === 'number' && (f['bx:scale'] !== undefined || /^\s*(numeric|decimal)\b/i.test(f['bx:pgType'] ?? ''));
}

/** The scale a decimal is rounded to: bx:scale, else the s of a numeric(p,s) pgType. */
export function scaleOf(f: Field): number | undefined {
  if (f['bx:scale'] !== undefined) return f['bx:scale'];
  const m = /^\s*(?:numeric|decimal)\s*\(\s*\d+\s*,\s*(\d+)\s*\)/i.exec(f['bx:pgType'] ?? '');
  return m ? Number(m[1]) : undefined;
}

const PG_TYPE_RE =
  /^[a-z_][a-z0-9_]*(?: [a-z_][a-z0-9_]*)*(?: ?\(\d+(?:, ?-?\d+)?\))?(?: [a-z_][a-z0-9_]*)*(?:\[\])*$/i;

// ---- validation ----

function fail(name: string, where: string, what: string): never {
  throw new ConfigError(`${name}: ${where}${where ? ': ' : ''}${what}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNat = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Checks a parsed schema and returns it typed. `name` (a file name, or "stdin") starts every
 * message; a bad schema is a ConfigError (exit 78): it is configuration, not data.
 */
export function validateSchema(obj: unknown, name: string): TableSchema {
  if (!isObj(obj)) fail(name, '', 'a Table Schema must be a JSON object with "fields"');
  if (!Array.isArray(obj.fields)) fail(name, '', '"fields" must be an array of field descriptors');
  const seen = new Set<string>();
  const fields: Field[] = obj.fields.map((f: unknown, i: number) => {
    const at = isObj(f) && typeof f.name === 'string' ? `fields[${i}] (${JSON.stringify(f.name)})` : `fields[${i}]`;
    if (!isObj(f)) fail(name, at, 'must be an object');
    if (typeof f.name !== 'string' || f.name.length === 0) fail(name, at, '"name" must be a non-empty string');
    if (seen.has(f.name)) fail(name, at, 'duplicate field name');
    seen.add(f.name);
    const type = f.type ?? 'string';
    if (type === 'decimal') fail(name, at, 'unknown type "decimal"; write "type": "number" with "bx:scale": N');
    if (typeof type !== 'string' || !(FIELD_TYPES as readonly string[]).includes(type)) {
      fail(name, at, `unknown type ${JSON.stringify(type)}; known: ${FIELD_TYPES.join(', ')}`);
    }
    if (f.format !== undefined) {
      if (typeof f.format !== 'string') fail(name, at, '"format" must be a string');
      if ((type === 'date' || type === 'datetime' || type === 'time') && f.format !== 'default' && f.format !== 'any') {
        const info = patternInfo(f.format);
        if (typeof info === 'string') fail(name, at, info);
        if (type === 'date' && !info.date) fail(name, at, `date format "${f.format}" has no date directives`);
        if (type === 'time' && info.date) fail(name, at, `time format "${f.format}" holds date directives`);
      }
    }
    if (f.constraints !== undefined) checkConstraints(f.constraints, name, at);
    for (const k of ['trueValues', 'falseValues'] as const) {
      if (f[k] !== undefined && !(Array.isArray(f[k]) && (f[k] as unknown[]).every((v) => typeof v === 'string')))
        fail(name, at, `"${k}" must be an array of strings`);
    }
    for (const k of ['decimalChar', 'groupChar'] as const) {
      if (f[k] !== undefined && (typeof f[k] !== 'string' || (f[k] as string).length !== 1))
        fail(name, at, `"${k}" must be one character`);
    }
    if (f['bx:scale'] !== undefined) {
      if (!isNat(f['bx:scale']) || (f['bx:scale'] as number) > 1000)
        fail(name, at, '"bx:scale" must be an integer from 0 to 1000');
      if (type !== 'number') fail(name, at, '"bx:scale" applies to "number" fields only');
    }
    if (
      f['bx:precision'] !== undefined &&
      (!isNat(f['bx:precision']) || (f['bx:precision'] as number) < 1 || (f['bx:precision'] as number) > 1000)
    ) {
      fail(name, at, '"bx:precision" must be an integer from 1 to 1000');
    }
    if (f['bx:precision'] !== undefined && ((f['bx:scale'] as number | undefined) ?? 0) > (f['bx:precision'] as number))
      fail(name, at, '"bx:scale" exceeds "bx:precision"');
    if (f['bx:pgType'] !== undefined && (typeof f['bx:pgType'] !== 'string' || !PG_TYPE_RE.test(f['bx:pgType']))) {
      fail(
        name,
        at,
        `"bx:pgType" ${JSON.stringify(f['bx:pgType'])} is not a plain PostgreSQL type name (letters, digits, spaces, one (p,s), [])`,
      );
    }
    return { ...f, type } as Field;
  });
  if (fields.length === 0) fail(name, '', '"fields" is empty');
  const schema: TableSchema = { fields };
  if (obj.primaryKey !== undefined) {
    const pk = typeof obj.primaryKey === 'string' ? [obj.primaryKey] : obj.primaryKey;
    if (!Array.isArray(pk) || pk.length === 0 || !pk.every((k) => typeof k === 'string'))
      fail(name, 'primaryKey', 'must be a field name or an array of field names');
    for (const k of pk as string[])
      if (!seen.has(k)) fail(name, 'primaryKey', `names ${JSON.stringify(k)}, which is not a field`);
    schema.primaryKey = pk as string[];
  }
  if (obj.missingValues !== undefined) {
    if (!Array.isArray(obj.missingValues) || !obj.missingValues.every((v) => typeof v === 'string'))
      fail(name, 'missingValues', 'must be an array of strings');
    schema.missingValues = obj.missingValues as string[];
  }
  // keep other top-level properties (title, description, foreignKeys…) as they were
  for (const [k, v] of Object.entries(obj))
    if (!(k in schema) && k !== 'fields') (schema as unknown as Record<string, unknown>)[k] = v;
  return schema;
}

function checkConstraints(c: unknown, name: string, at: string) {
  if (!isObj(c)) fail(name, at, '"constraints" must be an object');
  for (const [k, v] of Object.entries(c)) {
    switch (k) {
      case 'required':
      case 'unique':
        if (typeof v !== 'boolean') fail(name, at, `constraint "${k}" must be true or false`);
        break;
      case 'minimum':
      case 'maximum':
        if (typeof v !== 'number' && typeof v !== 'string')
          fail(name, at, `constraint "${k}" must be a number or a string`);
        break;
      case 'minLength':
      case 'maxLength':
        if (!isNat(v)) fail(name, at, `constraint "${k}" must be a non-negative integer`);
        break;
      case 'pattern':
        if (typeof v !== 'string') fail(name, at, 'constraint "pattern" must be a string');
        try {
          new RegExp(v, 'u');
        } catch (err) {
          fail(name, at, `constraint "pattern" is not a valid regular expression: ${(err as Error).message}`);
        }
        break;
      case 'enum':
        if (!Array.isArray(v) || v.length === 0) fail(name, at, 'constraint "enum" must be a non-empty array');
        break;
      default:
        fail(
          name,
          at,
          `unknown constraint "${k}" (known: required, unique, minimum, maximum, minLength, maxLength, pattern, enum)`,
        );
    }
  }
}

/** Parses schema JSON text; `name` starts every error message. */
export function parseSchema(text: string, name: string): TableSchema {
  let obj: unknown;
  try {
    obj = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    fail(name, '', `not valid JSON: ${(err as Error).message.replace(/^.*?: /, '').slice(0, 160)}`);
  }
  return validateSchema(obj, name);
}

/**
 * Reads and checks a Table Schema file. A missing file is exit 66; a file that is not a valid
 * schema is a ConfigError (exit 78) whose one line names the file, the field and what is wrong.
 */
export async function readSchemaFile(path: string): Promise<TableSchema> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputMissingError(`${path}: no such schema file`);
    if (code === 'EISDIR') throw new InputMissingError(`${path}: is a directory, not a schema file`);
    throw new InputMissingError(`${path}: cannot read the schema file: ${(err as Error).message}`);
  }
  return parseSchema(text, path);
}

// ---- PostgreSQL ----

/** The PostgreSQL type of a field's column. */
export function pgType(f: Field): string {
  if (f['bx:pgType']) return f['bx:pgType'];
  switch (f.type) {
    case 'integer':
      return 'integer';
    case 'number': {
      if (!isDecimal(f)) return 'double precision';
      const p = f['bx:precision'];
      return p !== undefined ? `numeric(${p},${f['bx:scale'] ?? 0})` : 'numeric';
    }
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime': {
      // A pattern says whether the text holds a zone; ISO text may, so keep the instant.
      const info = f.format && f.format !== 'default' && f.format !== 'any' ? patternInfo(f.format) : undefined;
      return typeof info === 'object' && !info.zone ? 'timestamp' : 'timestamptz';
    }
    case 'time':
      return 'time';
    case 'year':
      return 'integer';
    case 'duration':
      return 'interval';
    case 'object':
    case 'array':
    case 'geojson':
      return 'jsonb';
    default:
      return 'text';
  }
}

/**
 * `CREATE TABLE [IF NOT EXISTS] "schema"."table" (…)`, without a trailing semicolon. Every
 * identifier is quoted; required fields and primary-key fields are NOT NULL; unique ones UNIQUE.
 */
export function createTableSql(schema: TableSchema, table: TableName, opts: { ifNotExists?: boolean } = {}): string {
  const pk = new Set(schema.primaryKey ?? []);
  const cols = schema.fields.map((f) => {
    let col = `  ${quoteIdent(f.name)} ${pgType(f)}`;
    if (f.constraints?.required || pk.has(f.name)) col += ' NOT NULL';
    if (f.constraints?.unique && !(pk.size === 1 && pk.has(f.name))) col += ' UNIQUE';
    return col;
  });
  if (schema.primaryKey?.length) cols.push(`  PRIMARY KEY (${schema.primaryKey.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE ${opts.ifNotExists ? 'IF NOT EXISTS ' : ''}${qualified(table)} (\n${cols.join(',\n')}\n)`;
}

// ---- inference ----

export interface InferOptions {
  /**
   * Infer only types whose text PostgreSQL's COPY reads as it is (what bx-load --create uses on
   * raw records): JSON numbers/booleans/objects, integer and decimal strings, true/false, ISO
   * dates and timestamps. "" is text there, not null, and non-ISO dates stay strings.
   */
  copyCompatible?: boolean;
  /** Propose a primary key: the first field that is required, unique and an integer or string. Default false. */
  primaryKey?: boolean;
}

const INT_RE = /^-?(?:0|[1-9]\d*)$/;
const DEC_RE = /^-?(?:0|[1-9]\d*)\.(\d+)$/;
const EXP_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?[eE][+-]?\d+$/;
const BOOL_RE = /^(?:true|false)$/i;
const INT32 = 2147483647n;
const INT64 = 9223372036854775807n;
// Above 15 fraction digits a value is a measurement, not money: a double.
const MAX_DECIMAL_SCALE = 15;

class FieldStats {
  present = 0;
  nulls = 0;
  values = 0;
  int = true;
  dec = true;
  double = false;
  bool = true;
  obj = true;
  arr = true;
  /** Texts seen, so that "5" and 5 are both integers but 5 alone is not a date. */
  strings = 0;
  scale = 0;
  /** 0 int32, 1 int64, 2 beyond */
  intRange = 0;
  temporal: Candidate[] | undefined;
  zone = false;
  unique: DigestSet | undefined;

  constructor(
    readonly name: string,
    trackUnique: boolean,
  ) {
    if (trackUnique) this.unique = new DigestSet(1 << 10);
  }
}

/**
 * Infers a Table Schema from records: `add()` each one, then `result()`. Types: integer (with
 * bx:pgType bigint or numeric beyond 32/64 bits), number (a decimal with bx:scale when the
 * values are plain decimals), boolean, date/datetime/time with the detected format, object,
 * array, string; `required` when a field is never missing or null; optionally a primary key.
 */
export class SchemaInferrer {
  private readonly stats = new Map<string, FieldStats>();
  private readonly order: FieldStats[] = [];
  records = 0;
  private readonly copy: boolean;
  private readonly pk: boolean;
  private readonly candidates: Candidate[];
  /** Notes for the user, e.g. an ambiguous day/month order. */
  readonly warnings: string[] = [];

  constructor(opts: InferOptions = {}) {
    this.copy = Boolean(opts.copyCompatible);
    this.pk = Boolean(opts.primaryKey);
    this.candidates = this.copy ? temporalCandidates().filter((c) => c.format === 'default') : temporalCandidates();
  }

  add(rec: Record<string, unknown>): void {
    this.records++;
    // Fields in the record's own key order (an integer-like name such as "2019" keeps its place).
    const order = keyOrderOf(rec);
    if (order) {
      const done = new Set<string>();
      for (const key of [...order, ...Object.keys(rec)]) {
        if (done.has(key) || !Object.hasOwn(rec, key)) continue;
        done.add(key);
        this.see(key, rec[key]);
      }
      return;
    }
    for (const key in rec) {
      if (!Object.hasOwn(rec, key)) continue;
      this.see(key, rec[key]);
    }
  }

  private see(key: string, v: unknown) {
    let s = this.stats.get(key);
    if (!s) {
      s = new FieldStats(key, this.pk);
      // a field first seen late was missing (null) in the records before
      s.present = 0;
      this.stats.set(key, s);
      this.order.push(s);
    }
    this.value(s, v);
  }

  private value(s: FieldStats, v: unknown) {
    s.present++;
    if (v === null || v === undefined || (v === '' && !this.copy)) {
      s.nulls++;
      return;
    }
    s.values++;
    if (s.unique) {
      if (!s.unique.add(valueText(v))) s.unique = undefined;
    }
    switch (typeof v) {
      case 'string':
        this.text(s, v);
        break;
      case 'number':
        s.bool = s.obj = s.arr = false;
        s.temporal = [];
        if (Number.isInteger(v)) {
          if (!Number.isSafeInteger(v)) s.intRange = Math.max(s.intRange, Math.abs(v) > 9.2e18 ? 2 : 1);
          else if (v > 2147483647 || v < -2147483648) s.intRange = Math.max(s.intRange, 1);
        } else {
          s.int = false;
          this.fraction(s, String(v));
        }
        break;
      case 'boolean':
        s.int = s.dec = s.obj = s.arr = false;
        s.temporal = [];
        break;
      default:
        s.int = s.dec = s.bool = false;
        s.temporal = [];
        if (Array.isArray(v)) s.obj = false;
        else s.arr = false;
        if (s.unique) s.unique = undefined;
    }
  }

  private text(s: FieldStats, v: string) {
    s.strings++;
    s.obj = s.arr = false;
    if (s.int || s.dec) {
      if (INT_RE.test(v)) {
        if (v.length > 10) {
          const n = BigInt(v);
          const a = n < 0n ? -n : n;
          if (a > INT64) s.intRange = 2;
          else if (a > INT32) s.intRange = Math.max(s.intRange, 1);
        } else {
          const n = Number(v);
          if (n > 2147483647 || n < -2147483648) s.intRange = Math.max(s.intRange, 1);
        }
      } else {
        s.int = false;
        if (s.dec) this.fraction(s, v);
      }
    }
    if (s.bool && !BOOL_RE.test(v)) s.bool = false;
    if (s.temporal === undefined) {
      s.temporal = this.candidates.filter((c) => c.parse(v) !== undefined);
      if (s.temporal.length && s.temporal[0].type === 'datetime' && hasZone(s.temporal[0].parse(v)!)) s.zone = true;
    } else if (s.temporal.length) {
      let keep = 0;
      for (const c of s.temporal) if (c.parse(v) !== undefined) keep++;
      if (keep !== s.temporal.length) s.temporal = s.temporal.filter((c) => c.parse(v) !== undefined);
      if (
        !s.zone &&
        s.temporal.length &&
        s.temporal[0].type === 'datetime' &&
        s.temporal[0].format === 'default' &&
        hasZone(s.temporal[0].parse(v)!)
      )
        s.zone = true;
    }
    // keys are integers or strings: stop remembering values of decimal or date columns
    if (s.unique && !s.int && (s.dec || s.temporal.length > 0)) s.unique = undefined;
  }

  private fraction(s: FieldStats, t: string) {
    const m = DEC_RE.exec(t);
    if (m) {
      if (m[1].length > MAX_DECIMAL_SCALE) s.double = true;
      else if (m[1].length > s.scale) s.scale = m[1].length;
    } else if (EXP_RE.test(t)) s.double = true;
    else s.dec = false;
  }

  result(): TableSchema {
    const fields: Field[] = this.order.map((s) => this.field(s));
    const schema: TableSchema = { fields };
    if (this.pk && this.records > 1) {
      const key = this.order.find(
        (s, i) =>
          s.unique &&
          s.nulls === 0 &&
          s.present === this.records &&
          (fields[i].type === 'integer' || fields[i].type === 'string'),
      );
      if (key) schema.primaryKey = [key.name];
    }
    if (!this.copy) schema.missingValues = [...DEFAULT_MISSING_VALUES];
    return schema;
  }

  private field(s: FieldStats): Field {
    const f: Field = { name: s.name, type: 'string' };
    if (s.values === 0) {
      // only nulls: nothing to go on
    } else if (s.int && s.dec && !s.bool) {
      f.type = 'integer';
      if (s.intRange === 1) f['bx:pgType'] = 'bigint';
      if (s.intRange === 2) f['bx:pgType'] = 'numeric';
    } else if (s.dec) {
      f.type = 'number';
      if (!s.double) f['bx:scale'] = s.scale;
    } else if (s.bool) {
      f.type = 'boolean';
    } else if (s.temporal && s.temporal.length) {
      const c = s.temporal[0];
      f.type = c.type;
      f.format = c.format;
      const twin = s.temporal.find((o) => swapsDayMonth(c.format, o.format));
      if (twin)
        this.warnings.push(
          `field ${JSON.stringify(s.name)}: day/month order is ambiguous (no day above 12 seen); chose "${c.format}" over "${twin.format}"`,
        );
      if (c.type === 'datetime' && c.format === 'default' && !s.zone) f['bx:pgType'] = 'timestamp';
    } else if (s.obj && s.strings === 0) {
      f.type = 'object';
    } else if (s.arr && s.strings === 0) {
      f.type = 'array';
    }
    if (s.nulls === 0 && s.present === this.records) f.constraints = { required: true };
    return f;
  }
}
