import type { Argv } from 'yargs';
import { cli, type CommandSpec, type RawArgs } from '../run/cli.js';
import { CompiledSchema } from '../lib/convert.js';
import { DigestSet, keyText } from '../lib/dedupe.js';
import { DataError, ExitCode, UsageError, type Origin } from '../lib/errors.js';
import { compileAssignment, compileExpr, evalJson, ExprError, test, type Expression } from '../lib/expr.js';
import { Hasher, mask } from '../lib/hash.js';
import { openInput, type Io } from '../lib/io.js';
import { isIndexKey, keyOrderOf, setKey, setKeyOrder } from '../lib/json.js';
import { readRecordBatches, type Rec } from '../lib/records.js';
import { Rejects, rejectsArgs, type MaxRejects, type RuleFailure } from '../lib/rejects.js';
import { FIELD_TYPES, readSchemaFile, validateSchema, type Field, type FieldType, type TableSchema } from '../lib/schema.js';
import { LineWriter } from '../lib/write.js';
import { originOfRecord } from '../lib/lineage.js';

export const describe =
  'Type, validate, normalise, derive, filter, dedupe and mask records. Records that fail a rule go to the rejects file with every failed rule listed; without --rejects the first one stops the run (exit 65).';

export interface CleanOptions {
  inputs: string[];
  schemaFile: string | undefined;
  types: Field[];
  trim: boolean;
  nullValues: string[] | undefined;
  rename: Map<string, string>;
  keep: string[] | undefined;
  drop: string[];
  defaults: [string, string][];
  lower: string[];
  upper: string[];
  rules: { required: string[]; min: [string, string][]; max: [string, string][]; pattern: [string, string][]; enum: [string, string[]][] };
  where: Expression[];
  set: (Expression & { target: string })[];
  dedupe: string[] | undefined;
  hash: string[];
  mask: string[];
  redact: string[];
  rejects: string | undefined;
  maxRejects: MaxRejects | undefined;
}

export const options = (y: Argv) =>
  y
    .strict(false)
    .strictOptions(true)
    .positional('input', { describe: 'NDJSON files; - or nothing for stdin' })
    .option('schema', { alias: 's', type: 'string', describe: 'Table Schema JSON file: field types, formats, constraints, missingValues' })
    .option('type', { alias: 't', type: 'string', array: true, describe: 'FIELD:TYPE[:FORMAT], repeatable; TYPE: string, integer, number, decimal[:SCALE], boolean, date, datetime, time, year, object, array, any; FORMAT e.g. %d/%m/%y' })
    .option('trim', { type: 'boolean', describe: 'strip leading and trailing white space from every text value' })
    .option('null-values', { type: 'string', describe: 'comma-separated texts that mean null in every field, e.g. "NA,null," (the trailing comma lists "")' })
    .option('rename', { type: 'string', array: true, describe: 'OLD=NEW, repeatable: rename a field in place (before every other step)' })
    .option('keep', { type: 'string', array: true, describe: 'output only these fields, in this order (comma-separated, repeatable)' })
    .option('drop', { type: 'string', array: true, describe: 'leave these fields out of the output (comma-separated, repeatable)' })
    .option('default', { type: 'string', array: true, describe: 'FIELD=VALUE, repeatable: the value (as text, typed like input) where the field is missing or null' })
    .option('lower', { type: 'string', array: true, describe: 'lower-case these text fields (comma-separated, repeatable)' })
    .option('upper', { type: 'string', array: true, describe: 'upper-case these text fields (comma-separated, repeatable)' })
    .option('required', { type: 'string', array: true, describe: 'these fields must be present and not null (comma-separated, repeatable)' })
    .option('min', { type: 'string', array: true, describe: 'FIELD=VALUE, repeatable: the smallest allowed value (numbers exactly, dates as ISO)' })
    .option('max', { type: 'string', array: true, describe: 'FIELD=VALUE, repeatable: the largest allowed value' })
    .option('pattern', { type: 'string', array: true, describe: 'FIELD=REGEX, repeatable: the whole value must match' })
    .option('enum', { type: 'string', array: true, describe: 'FIELD=A,B,C, repeatable: the allowed values' })
    .option('set', { type: 'string', array: true, describe: "'FIELD = EXPRESSION', repeatable, in order: derive a field (exact decimal arithmetic; see EXPRESSIONS in bx-clean(1))" })
    .option('where', { type: 'string', array: true, describe: "keep only records for which the expression is true (after --set), e.g. 'qty > 0 and category != \"Test\"'; repeatable: all must hold" })
    .option('dedupe', { type: 'string', describe: 'KEY1,KEY2: the first record per key wins; later ones are rejects (rule duplicate)' })
    .option('hash', { type: 'string', array: true, describe: 'replace these fields by HMAC-SHA-256 (hex) keyed with BX_HASH_KEY: stable, so joins still work' })
    .option('mask', { type: 'string', array: true, describe: 'replace all but the last 4 characters of these fields with *' })
    .option('redact', { type: 'string', array: true, describe: 'set these fields to null' })
    .option('rejects', { type: 'string', describe: 'write failing records here (NDJSON, mode 0600) with every failed rule, instead of stopping at the first' })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage such as 0.5%' });

const list = (vals: unknown): string[] =>
  ((vals as string[] | undefined) ?? [])
    .flatMap((v) => String(v).split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** `FIELD=VALUE` pairs; the value keeps any further "=" and commas. */
function pairs(flag: string, vals: unknown): [string, string][] {
  return ((vals as string[] | undefined) ?? []).map((v) => {
    const s = String(v);
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag}: expected FIELD=VALUE, got "${s}"`);
    return [s.slice(0, eq).trim(), s.slice(eq + 1)];
  });
}

const TYPE_ALIASES: Record<string, Partial<Field> & { type: FieldType }> = {
  int: { type: 'integer' },
  bigint: { type: 'integer', 'bx:pgType': 'bigint' },
  float: { type: 'number' },
  double: { type: 'number' },
  text: { type: 'string' },
  bool: { type: 'boolean' },
  timestamp: { type: 'datetime' },
  json: { type: 'object' },
};

/** `--type "Order Date:date:%d/%m/%y"`, `--type Sales:decimal:2`, `--type qty:integer`. */
export function parseTypeFlag(text: string): Field {
  const a = text.indexOf(':');
  if (a <= 0) throw new UsageError(`--type: expected FIELD:TYPE[:FORMAT], got "${text}"`);
  const name = text.slice(0, a);
  const rest = text.slice(a + 1);
  const b = rest.indexOf(':');
  const type = (b < 0 ? rest : rest.slice(0, b)).trim().toLowerCase();
  const format = b < 0 ? undefined : rest.slice(b + 1);
  if (type === 'decimal' || type === 'numeric') {
    if (format === undefined || format === '') return { name, type: 'number', 'bx:pgType': 'numeric' };
    if (!/^\d+$/.test(format) || Number(format) > 1000) throw new UsageError(`--type ${text}: a decimal's scale is a number of fraction digits, e.g. ${name}:decimal:2`);
    return { name, type: 'number', 'bx:scale': Number(format) };
  }
  const alias = TYPE_ALIASES[type];
  if (!alias && !(FIELD_TYPES as readonly string[]).includes(type)) {
    throw new UsageError(`--type ${text}: unknown type "${type}"; known: ${FIELD_TYPES.join(', ')}, decimal`);
  }
  const f: Field = { name, ...(alias ?? { type: type as FieldType }) };
  if (format !== undefined && format !== '') f.format = format;
  return f;
}

export function normalize(a: RawArgs): CleanOptions {
  const inputs = (a._ as (string | number)[]).map(String);
  const hasFlag = (k: string) => a[k] !== undefined;
  const opts: CleanOptions = {
    inputs: inputs.length ? inputs : ['-'],
    schemaFile: a.schema,
    types: ((a.type as string[] | undefined) ?? []).map((t) => parseTypeFlag(String(t))),
    trim: Boolean(a.trim),
    nullValues: hasFlag('null-values') ? String(a['null-values']).split(',') : undefined,
    rename: new Map(pairs('rename', a.rename).map(([o, n]) => [o, n.trim()])),
    keep: hasFlag('keep') ? list(a.keep) : undefined,
    drop: list(a.drop),
    defaults: pairs('default', a.default),
    lower: list(a.lower),
    upper: list(a.upper),
    rules: {
      required: list(a.required),
      min: pairs('min', a.min),
      max: pairs('max', a.max),
      pattern: pairs('pattern', a.pattern),
      enum: pairs('enum', a.enum).map(([f, v]) => [f, v.split(',')]),
    },
    where: ((a.where as string[] | undefined) ?? []).map((w) => compileExpr(String(w), '--where')),
    set: ((a.set as string[] | undefined) ?? []).map((s) => compileAssignment(String(s), '--set')),
    dedupe: hasFlag('dedupe') ? list([a.dedupe]) : undefined,
    hash: list(a.hash),
    mask: list(a.mask),
    redact: list(a.redact),
    ...rejectsArgs(a),
  };
  if (opts.dedupe && opts.dedupe.length === 0) throw new UsageError('--dedupe: name at least one key field');
  if (opts.keep && opts.keep.length === 0) throw new UsageError('--keep: name at least one field');
  for (const [f] of opts.rules.pattern) {
    const p = opts.rules.pattern.find(([g]) => g === f)![1];
    try {
      new RegExp(p, 'u');
    } catch (err) {
      throw new UsageError(`--pattern ${f}=${p}: not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return opts;
}

/** The schema bx-clean enforces: --schema, then --type fields, then the rule flags on top. */
function buildSchema(base: TableSchema | undefined, opts: CleanOptions): TableSchema | undefined {
  const fields: Field[] = base ? base.fields.map((f) => ({ ...f, constraints: f.constraints && { ...f.constraints } })) : [];
  const field = (name: string): Field => {
    let f = fields.find((x) => x.name === name);
    if (!f) fields.push((f = { name, type: 'any' }));
    return f;
  };
  for (const t of opts.types) {
    const f = field(t.name);
    for (const k of ['format', 'bx:scale', 'bx:pgType', 'bx:precision'] as const) delete f[k];
    Object.assign(f, t);
  }
  const c = (name: string) => (field(name).constraints ??= {});
  for (const n of opts.rules.required) c(n).required = true;
  for (const [n, v] of opts.rules.min) c(n).minimum = v;
  for (const [n, v] of opts.rules.max) c(n).maximum = v;
  for (const [n, v] of opts.rules.pattern) c(n).pattern = v;
  for (const [n, v] of opts.rules.enum) c(n).enum = v;
  if (fields.length === 0) return undefined;
  const schema: TableSchema = { fields };
  if (base?.primaryKey) schema.primaryKey = base.primaryKey;
  if (base?.missingValues) schema.missingValues = base.missingValues;
  return validateSchema(schema, 'the command line');
}


const describeKey = (vals: unknown[]) => vals.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v ?? null))).join(', ');

export async function run(io: Io, opts: CleanOptions): Promise<ExitCode> {
  const hasher = opts.hash.length ? Hasher.fromEnv(io.env) : undefined;
  const base = opts.schemaFile ? await readSchemaFile(opts.schemaFile) : undefined;
  let compiled: CompiledSchema | undefined;
  const schema = buildSchema(base, opts);
  if (schema) {
    try {
      compiled = new CompiledSchema(schema);
    } catch (err) {
      throw new UsageError(`${opts.schemaFile ?? 'the command line'}: ${(err as Error).message}`);
    }
  }

  const rename = opts.rename.size ? opts.rename : undefined;
  const nulls = opts.nullValues ? new Set(opts.nullValues) : undefined;
  const trim = opts.trim;
  const defaults = opts.defaults;
  const lower = opts.lower;
  const upper = opts.upper;
  const sets = opts.set;
  const wheres = opts.where;
  const dedupeKeys = opts.dedupe;
  const seen = dedupeKeys ? new DigestSet(1 << 16) : undefined;
  const keyVals: unknown[] = dedupeKeys ? new Array(dedupeKeys.length) : [];
  const drop = opts.drop.length ? new Set(opts.drop) : undefined;
  const keep = opts.keep;
  const privacy = opts.hash.length + opts.mask.length + opts.redact.length > 0;
  // Keys keep source order (DESIGN.md), also integer-like ones such as "2019", which an object
  // lists first: a record that holds one is written in the order it came in (KEY_ORDER, set by
  // the parser), renamed, dropped or kept as asked, with --default and --set fields after.
  const added = [...new Set([...defaults.map(([k]) => k), ...sets.map((e) => e.target)])];
  const indexNames = [...added, ...(keep ?? []), ...opts.rename.values()].some(isIndexKey);
  const orderOut = (src: string[]): string[] => {
    if (keep) return keep;
    let base = src;
    if (rename) base = base.map((k) => rename.get(k) ?? k);
    if (drop) base = base.filter((k) => !drop.has(k));
    return [...base, ...added];
  };
  let filtered = 0;
  // A typed or checked field that no record of the first batch holds is most likely misspelt.
  let unseen: string[] | undefined = schema ? schema.fields.map((f) => f.name) : undefined;
  const warnUnseen = (names: string[], recs: Rec[]) => {
    const before = new Map([...opts.rename].map(([o, n]) => [n, o]));
    const defaulted = new Set(opts.defaults.map(([n]) => n));
    const missing = names.filter((n) => !defaulted.has(n) && !recs.some((r) => Object.hasOwn(r, n) || Object.hasOwn(r, before.get(n) ?? n)));
    for (const n of missing) io.log.warn(`field ${JSON.stringify(n)} (from ${opts.schemaFile && base?.fields.some((f) => f.name === n) ? opts.schemaFile : 'the command line'}) is in none of the first ${recs.length} records; is the name right?`);
    return undefined;
  };

  const writer = new LineWriter(io.stdout, io.seal.seal);
  const rejects = await Rejects.open(opts.rejects, opts.maxRejects);
  try {
    for (const path of opts.inputs) {
      const input = await openInput(io, path);
      for await (const batch of readRecordBatches(input.stream, input.name, { expectSealed: io.seal.expectSealed })) {
        const recs = batch.records;
        if (unseen) unseen = warnUnseen(unseen, recs);
        const out: Rec[] = [];
        io.stats.rowsIn += recs.length;
        for (let i = 0; i < recs.length; i++) {
          let rec = recs[i];
          // The key order it came in, when it will matter (taken before --default/--set add keys).
          const srcOrder = keyOrderOf(rec) ?? (indexNames ? Object.keys(rec) : undefined);
          if (rename) {
            const r: Rec = {};
            for (const k in rec) setKey(r, rename.get(k) ?? k, rec[k]);
            rec = r;
          }
          if (trim || nulls) {
            for (const k in rec) {
              let v = rec[k];
              if (typeof v !== 'string') continue;
              if (trim) v = v.trim();
              if (nulls && nulls.has(v as string)) v = null;
              if (v !== rec[k]) setKey(rec, k, v);
            }
          }
          for (let d = 0; d < defaults.length; d++) {
            const [k, v] = defaults[d];
            if (rec[k] === undefined || rec[k] === null || !Object.hasOwn(rec, k)) setKey(rec, k, v);
          }
          for (let k = 0; k < lower.length; k++) {
            const v = rec[lower[k]];
            if (typeof v === 'string' && Object.hasOwn(rec, lower[k])) setKey(rec, lower[k], v.toLowerCase());
          }
          for (let k = 0; k < upper.length; k++) {
            const v = rec[upper[k]];
            if (typeof v === 'string' && Object.hasOwn(rec, upper[k])) setKey(rec, upper[k], v.toUpperCase());
          }
          if (compiled) {
            const fails = compiled.apply(rec);
            if (fails) {
              reject(rec, fails, batch.name, batch.lines[i]);
              continue;
            }
          }
          if (sets.length || wheres.length) {
            const fail = derive(rec);
            if (fail === false) {
              filtered++;
              continue;
            }
            if (fail) {
              reject(rec, [fail], batch.name, batch.lines[i]);
              continue;
            }
          }
          if (seen) {
            for (let k = 0; k < keyVals.length; k++) keyVals[k] = Object.hasOwn(rec, dedupeKeys![k]) ? rec[dedupeKeys![k]] : null;
            if (!seen.add(keyText(keyVals))) {
              const field = dedupeKeys!.join(',');
              const value = keyVals.length === 1 ? keyVals[0] : [...keyVals];
              reject(rec, [{ field, rule: 'duplicate', value, message: `duplicate key (${describeKey(keyVals)}): an earlier record has it` }], batch.name, batch.lines[i]);
              continue;
            }
          }
          if (privacy) {
            for (const k of opts.hash) if (Object.hasOwn(rec, k)) setKey(rec, k, hasher!.hash(rec[k]));
            for (const k of opts.mask) if (Object.hasOwn(rec, k)) setKey(rec, k, mask(rec[k]));
            for (const k of opts.redact) if (Object.hasOwn(rec, k)) setKey(rec, k, null);
          }
          if (keep) {
            const r: Rec = {};
            for (const k of keep) setKey(r, k, Object.hasOwn(rec, k) ? rec[k] : null);
            rec = r;
          } else if (drop) {
            const r: Rec = {};
            for (const k in rec) if (!drop.has(k)) setKey(r, k, rec[k]);
            rec = r;
          }
          if (srcOrder !== undefined) setKeyOrder(rec, orderOut(srcOrder));
          out.push(rec);
        }
        await rejects.flush();
        if (out.length) await writer.records(out);
      }
    }
    rejects.checkRatio(io.stats.rowsIn);
    await writer.end();
    await rejects.close();
  } catch (err) {
    if (err instanceof DataError) await rejects.close();
    else await rejects.abort();
    throw err;
  } finally {
    io.stats.rejected = rejects.count;
    io.stats.rowsOut = writer.count;
    const notes: string[] = [];
    if (rejects.count) notes.push(`by rule: ${rejects.summary()}`);
    if (filtered) notes.push(`${filtered} filtered out by --where`);
    io.stats.note = notes.join('; ');
  }
  return ExitCode.Ok;

  function reject(rec: Rec, fails: RuleFailure[], name: string, line: number) {
    rejects.add(rec, fails, originOfRecord(rec, name, line));
  }

  /** --set in order, then --where: false when filtered out, a failure on an expression error. */
  function derive(rec: Rec): RuleFailure | false | undefined {
    let e: Expression | undefined;
    try {
      for (let k = 0; k < sets.length; k++) {
        e = sets[k];
        setKey(rec, sets[k].target, evalJson(sets[k], rec));
      }
      for (let k = 0; k < wheres.length; k++) {
        e = wheres[k];
        if (!test(wheres[k], rec)) return false;
      }
    } catch (err) {
      if (!(err instanceof ExprError)) throw err;
      const target = (e as { target?: string }).target;
      return { field: target, rule: 'expression', message: `${target !== undefined ? '--set' : '--where'} ${JSON.stringify(e!.source)}: ${err.message}` };
    }
    return undefined;
  }
}

export const spec: CommandSpec<CleanOptions> = {
  describe,
  usage: '[options] [FILE|-]...',
  examples: [
    ['bx-clean --schema sales.schema.json --rejects rejects.ndjson < sales.ndjson', 'type and check records against a schema, keeping failures aside'],
    ['bx-clean --type "Order Date:date:%d/%m/%y" --type Sales:decimal --trim --null-values "NA,"', 'type two fields, trim text, read NA and empty as null'],
    ["bx-clean --set 'revenue = qty * unit_price * (1 - discount)' --where 'qty > 0'", 'derive a field exactly and filter'],
    ['BX_HASH_KEY=… bx-clean --dedupe order_id --hash email --mask card --rejects dups.ndjson', 'drop repeated keys, pseudonymise and mask personal data'],
  ],
  options,
  normalize,
  run,
  stream: 'both',
};

export const main = (argv: string[]) => cli('bx-clean', spec, argv);
