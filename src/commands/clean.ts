import type { Argv } from 'yargs';
import { byteCleaner } from '../clean/bytes.js';
import { LineSource } from '../clean/line-source.js';
import { RecyclingSlab } from '../clean/out-slab.js';
import { cleanSteps, type CleanOptions } from '../clean/steps.js';
import { CompiledSchema } from '../lib/convert.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { compileAssignment, compileExpr } from '../lib/expr.js';
import { Hasher } from '../lib/hash.js';
import { checkZone } from '../lib/timezone.js';
import type { Io } from '../lib/io.js';
import { PIPE_QUEUE, PipeOut } from '../lib/pipe-out.js';
import { rejectsArgs } from '../lib/rejects.js';
import { parseSize, listItems } from '../lib/size.js';
import {
  FIELD_TYPES,
  readSchemaFile,
  validateSchema,
  type Field,
  type FieldType,
  type TableSchema,
} from '../lib/schema.js';
import { cli, type CommandSpec, type RawArgs } from '../run/cli.js';
import { runStage } from '../run/stage.js';
import { StdoutSink } from '../sinks/stdout.js';
import { NdjsonSource } from '../sources/ndjson.js';

export type { CleanOptions } from '../clean/steps.js';

export const describe =
  'Type, validate, normalise, derive, filter, dedupe and mask records. Records that fail a rule go to the rejects file with every failed rule listed; without --rejects the first one stops the run (exit 65).';

export const options = (y: Argv) =>
  y
    .strict(false)
    .strictOptions(true)
    .positional('input', { describe: 'NDJSON files; - or nothing for stdin' })
    .option('schema', {
      alias: 's',
      type: 'string',
      describe: 'Table Schema JSON file: field types, formats, constraints, missingValues',
    })
    .option('type', {
      alias: 't',
      type: 'string',
      array: true,
      describe:
        'FIELD:TYPE[:FORMAT], repeatable; TYPE: string, integer, number, decimal[:SCALE], boolean, date, datetime, time, year, object, array, any; FORMAT e.g. %d/%m/%y',
    })
    .option('trim', { type: 'boolean', describe: 'strip leading and trailing white space from every text value' })
    .option('timezone', {
      type: 'string',
      describe: 'typed datetimes without an offset are local times in this IANA zone (Europe/Paris): written in UTC',
    })
    .option('null-values', {
      type: 'string',
      describe: 'comma-separated texts that mean null in every field, e.g. "NA,null," (the trailing comma lists "")',
    })
    .option('rename', {
      type: 'string',
      array: true,
      describe: 'OLD=NEW, repeatable: rename a field in place (before every other step)',
    })
    .option('keep', {
      type: 'string',
      array: true,
      describe: 'output only these fields, in this order (comma-separated, repeatable)',
    })
    .option('drop', {
      type: 'string',
      array: true,
      describe: 'leave these fields out of the output (comma-separated, repeatable)',
    })
    .option('default', {
      type: 'string',
      array: true,
      describe: 'FIELD=VALUE, repeatable: the value (as text, typed like input) where the field is missing or null',
    })
    .option('lower', {
      type: 'string',
      array: true,
      describe: 'lower-case these text fields (comma-separated, repeatable)',
    })
    .option('upper', {
      type: 'string',
      array: true,
      describe: 'upper-case these text fields (comma-separated, repeatable)',
    })
    .option('required', {
      type: 'string',
      array: true,
      describe: 'these fields must be present and not null (comma-separated, repeatable)',
    })
    .option('min', {
      type: 'string',
      array: true,
      describe: 'FIELD=VALUE, repeatable: the smallest allowed value (numbers exactly, dates as ISO)',
    })
    .option('max', { type: 'string', array: true, describe: 'FIELD=VALUE, repeatable: the largest allowed value' })
    .option('pattern', { type: 'string', array: true, describe: 'FIELD=REGEX, repeatable: the whole value must match' })
    .option('enum', { type: 'string', array: true, describe: 'FIELD=A,B,C, repeatable: the allowed values' })
    .option('set', {
      type: 'string',
      array: true,
      describe:
        "'FIELD = EXPRESSION', repeatable, in order: derive a field (exact decimal arithmetic; see EXPRESSIONS in bx-clean(1))",
    })
    .option('where', {
      type: 'string',
      array: true,
      describe:
        'keep only records for which the expression is true (after --set), e.g. \'qty > 0 and category != "Test"\'; repeatable: all must hold',
    })
    .option('dedupe', {
      type: 'string',
      describe: 'KEY1,KEY2: the first record per key wins; later ones are rejects (rule duplicate)',
    })
    .option('memory', {
      type: 'string',
      default: '512MB',
      describe:
        '--dedupe: memory for the seen keys; past it, sorted runs of key digests go to temporary files (exact, slower)',
    })
    .option('temp-dir', { type: 'string', describe: '--dedupe: where spilled runs go (default: TMPDIR or /tmp)' })
    .option('hash', {
      type: 'string',
      array: true,
      describe: 'replace these fields by HMAC-SHA-256 (hex) keyed with BX_HASH_KEY: stable, so joins still work',
    })
    .option('mask', {
      type: 'string',
      array: true,
      describe: 'replace all but the last 4 characters of these fields with *',
    })
    .option('redact', { type: 'string', array: true, describe: 'set these fields to null' })
    .option('rejects', {
      type: 'string',
      describe:
        'write failing records here (NDJSON, mode 0600) with every failed rule, instead of stopping at the first',
    })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage such as 0.5%' });

const list = listItems;

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
    if (!/^\d+$/.test(format) || Number(format) > 1000)
      throw new UsageError(`--type ${text}: a decimal's scale is a number of fraction digits, e.g. ${name}:decimal:2`);
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

function zoneFlag(text: string): string {
  const zone = checkZone(text);
  if (!zone)
    throw new UsageError(
      `--timezone: unknown time zone "${text}" (an IANA name such as Europe/Paris or America/New_York)`,
    );
  return zone;
}

export function normalize(a: RawArgs): CleanOptions {
  const inputs = (a._ as (string | number)[]).map(String);
  const hasFlag = (k: string) => a[k] !== undefined;
  const opts: CleanOptions = {
    inputs: inputs.length ? inputs : ['-'],
    schemaFile: a.schema,
    types: ((a.type as string[] | undefined) ?? []).map((t) => parseTypeFlag(String(t))),
    trim: Boolean(a.trim),
    timezone: a.timezone === undefined ? undefined : zoneFlag(String(a.timezone)),
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
    memory: parseSize('memory', String(a.memory ?? '512MB')),
    tempDir: a['temp-dir'] as string | undefined,
    hash: list(a.hash),
    mask: list(a.mask),
    redact: list(a.redact),
    ...rejectsArgs(a),
  };
  if (opts.dedupe && opts.dedupe.length === 0) throw new UsageError('--dedupe: name at least one key field');
  if (opts.keep && opts.keep.length === 0) throw new UsageError('--keep: name at least one field');
  // Every pattern, not only the first given for a field (two --pattern for two fields used to check one).
  for (const [f, p] of opts.rules.pattern) {
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
  const fields: Field[] = base
    ? base.fields.map((f) => ({ ...f, constraints: f.constraints && { ...f.constraints } }))
    : [];
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
  // A field given two patterns must match both (each is anchored to the whole value).
  for (const [n, v] of opts.rules.pattern) {
    const prev = c(n).pattern;
    c(n).pattern = prev === undefined ? v : `(?=(?:${prev})$)(?:${v})`;
  }
  for (const [n, v] of opts.rules.enum) c(n).enum = v;
  if (fields.length === 0) return undefined;
  const schema: TableSchema = { fields };
  if (base?.primaryKey) schema.primaryKey = base.primaryKey;
  if (base?.missingValues) schema.missingValues = base.missingValues;
  return validateSchema(schema, 'the command line');
}

const describeKey = (vals: unknown[]) =>
  vals.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v ?? null))).join(', ');

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
  // The byte path (src/clean/bytes.ts) when the options allow it; BX_CLEAN_OBJECTS=1 forces the
  // object path, the reference the tests compare it with.
  const bytes = io.env.BX_CLEAN_OBJECTS === '1' ? undefined : byteCleaner(opts, compiled);
  // On a shell pipe, output slabs are used again once written (src/clean/out-slab.ts).
  const slab =
    io.stdout instanceof PipeOut ? new RecyclingSlab(PIPE_QUEUE + io.stdout.writableHighWaterMark) : undefined;
  const steps = cleanSteps(opts, schema, compiled, base, hasher, io.log, bytes, slab);
  await runStage(io, {
    sources: opts.inputs.map((path) => (bytes ? new LineSource(io, path) : new NdjsonSource(io, path))),
    sink: new StdoutSink(io.stdout, io.seal.seal),
    rejects: { path: opts.rejects, max: opts.maxRejects },
    each: (b, reject) => steps.batch(b, reject),
    finish: async function* () {
      const rest = steps.rest(opts.inputs.at(-1) ?? '-');
      if (rest) yield rest;
    },
    note: () => (steps.filtered() ? `${steps.filtered()} filtered out by --where` : undefined),
  });
  if (bytes)
    io.log.debug(
      `byte path: ${bytes.rows} lines (${bytes.repeated} in one pass)${slab ? `; ${slab.reused} output slabs used again` : ''}`,
    );
  return ExitCode.Ok;
}

export const spec: CommandSpec<CleanOptions> = {
  describe,
  usage: '[options] [FILE|-]...',
  examples: [
    [
      'bx-clean --schema sales.schema.json --rejects rejects.ndjson < sales.ndjson',
      'type and check records against a schema, keeping failures aside',
    ],
    [
      'bx-clean --type "Order Date:date:%d/%m/%y" --type Sales:decimal --trim --null-values "NA,"',
      'type two fields, trim text, read NA and empty as null',
    ],
    [
      "bx-clean --set 'revenue = qty * unit_price * (1 - discount)' --where 'qty > 0'",
      'derive a field exactly and filter',
    ],
    [
      'BX_HASH_KEY=… bx-clean --dedupe order_id --hash email --mask card --rejects dups.ndjson',
      'drop repeated keys, pseudonymise and mask personal data',
    ],
  ],
  options,
  normalize,
  run,
  stream: 'both',
};

export const main = (argv: string[]) => cli('bx-clean', spec, argv);
