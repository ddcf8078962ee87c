import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../run/cli.js';
import { ConfigError, ExitCode, UsageError } from '../lib/errors.js';
import { parseTableName, type TableName } from '../lib/ident.js';
import { openInput, type Io } from '../lib/io.js';
import { readRecordBatches } from '../lib/records.js';
import { createTableSql, parseSchema, SchemaInferrer, type TableSchema } from '../lib/schema.js';
import { decodeText } from '../lib/text.js';

export const describe =
  'Infer a Frictionless Table Schema (JSON) from NDJSON records, or print the PostgreSQL CREATE TABLE a schema implies (--sql). bx-load --create uses the same schema model.';

export interface SchemaOptions {
  input: string;
  sample: number | undefined;
  sql: boolean;
  table: TableName | undefined;
  ifNotExists: boolean;
  copyCompatible: boolean;
  primaryKey: boolean;
}

export const options = (y: Argv) =>
  y
    .strict(false)
    .strictOptions(true)
    .positional('input', { describe: 'NDJSON records, or with --sql a Table Schema JSON; - or nothing for stdin' })
    .option('sample', { alias: 'n', type: 'number', describe: 'infer from the first N records only (default: all)' })
    .option('sql', {
      type: 'boolean',
      describe: 'print CREATE TABLE for the schema read (or inferred) instead of the schema',
    })
    .option('table', {
      type: 'string',
      describe: 'with --sql: the table, name or schema.name ("…" keeps dots, case, spaces)',
    })
    .option('if-not-exists', { type: 'boolean', describe: 'with --sql: CREATE TABLE IF NOT EXISTS' })
    .option('copy-compatible', {
      type: 'boolean',
      describe:
        'infer only types PostgreSQL COPY reads from the values as they are (what bx-load --create infers): non-ISO dates stay strings, "" is text',
    })
    .option('primary-key', {
      type: 'boolean',
      default: true,
      describe: 'propose a primary key: the first required, unique integer or string field (--no-primary-key: none)',
    });

export function normalize(a: RawArgs): SchemaOptions {
  const inputs = (a._ as (string | number)[]).map(String);
  if (inputs.length > 1) throw new UsageError(`expected one input, got ${inputs.length}: ${inputs.join(' ')}`);
  const sample = a.sample as number | undefined;
  if (sample !== undefined && (!Number.isInteger(sample) || sample < 1))
    throw new UsageError(`--sample: expected a positive integer, got ${a.sample}`);
  if (a.table !== undefined && !a.sql) throw new UsageError('--table goes with --sql');
  if (a.sql && a.table === undefined) throw new UsageError('--sql needs --table NAME');
  if (a['if-not-exists'] && !a.sql) throw new UsageError('--if-not-exists goes with --sql');
  return {
    input: inputs[0] ?? '-',
    sample,
    sql: Boolean(a.sql),
    table: a.table !== undefined ? parseTableName(String(a.table)) : undefined,
    ifNotExists: Boolean(a['if-not-exists']),
    copyCompatible: Boolean(a['copy-compatible']),
    primaryKey: a['primary-key'] !== false,
  };
}

/**
 * The input is either NDJSON records or one Table Schema document (pretty-printed or not). A
 * schema is told apart by its first line: not a complete JSON object, or an object with a
 * "fields" array and nothing after it.
 */
async function readInput(io: Io, opts: SchemaOptions): Promise<TableSchema> {
  const input = await openInput(io, opts.input);
  const chunks = decodeText(input.stream, input.name)[Symbol.asyncIterator]();
  let head = '';
  let done = false;
  while (!done && !/\S[^\n]*\n/.test(head)) {
    const r = await chunks.next();
    if (r.done) done = true;
    else head += r.value;
  }
  const first = head.trimStart().split('\n', 1)[0];
  let firstObj: unknown;
  try {
    firstObj = JSON.parse(first);
  } catch {
    firstObj = undefined;
  }
  const isSchemaLine =
    firstObj !== null && typeof firstObj === 'object' && Array.isArray((firstObj as { fields?: unknown }).fields);
  if (head.trim() === '' && done)
    throw new UsageError(`${input.name}: no input: expected NDJSON records or a Table Schema`);
  // A first line that is not JSON but ends like an object is a broken record, not a schema:
  // the record reader reports it (exit 65, with its line).
  // A schema is an object: a document starts with "{". Any other first line that is not JSON
  // is a broken record too (exit 65 at line 1), not a schema to refuse with 78.
  const document = firstObj === undefined && first.replace(/^\uFEFF/, '').startsWith('{') && !/}\s*$/.test(first);
  if (document || isSchemaLine) {
    let text = head;
    for (let r = await chunks.next(); !r.done; r = await chunks.next()) {
      text += r.value;
      if (text.length > 64 * 1024 * 1024)
        throw new UsageError(
          `${input.name}: a Table Schema larger than 64 MiB? this looks like neither a schema nor NDJSON records`,
        );
    }
    if (document || text.trim().split('\n').length === 1) {
      checkJsonSyntax(text, input.name);
      return parseSchema(text, input.name);
    }
    head = text;
  }
  // records: the part already read, then the rest of the stream
  async function* rest() {
    yield head;
    for (let r = await chunks.next(); !r.done; r = await chunks.next()) yield r.value;
  }
  const inf = new SchemaInferrer({ copyCompatible: opts.copyCompatible, primaryKey: opts.primaryKey });
  const limit = opts.sample ?? Infinity;
  // A sample stops reading early: the end-of-stream mark is never reached, so it is not required.
  const expectSealed = io.seal.expectSealed && opts.sample === undefined;
  outer: for await (const batch of readRecordBatches(rest(), input.name, { expectSealed })) {
    for (const rec of batch.records) {
      if (inf.records >= limit) break outer;
      inf.add(rec);
    }
  }
  io.stats.rowsIn = inf.records;
  if (inf.records === 0) throw new UsageError(`${input.name}: no records to infer a schema from`);
  const schema = inf.result();
  for (const w of inf.warnings) io.log.warn(w);
  if (opts.sample !== undefined && inf.records >= limit)
    io.log.info(`inferred from the first ${inf.records} records (--sample)`);
  return schema;
}

/**
 * A document that starts as a schema ("{" on a line of its own) but is not JSON stays a
 * ConfigError (78), as for any schema file, and now names the line where the JSON breaks.
 */
function checkJsonSyntax(text: string, name: string): void {
  const body = text.replace(/^\uFEFF/, '');
  try {
    JSON.parse(body);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /at position (\d+)/.exec(msg);
    const upTo = pos ? Number(pos[1]) : body.trimEnd().length;
    let line = 1;
    for (let i = body.indexOf('\n'); i !== -1 && i < upTo; i = body.indexOf('\n', i + 1)) line++;
    throw new ConfigError(
      `${name}: not valid JSON at line ${line}: ${msg.replace(/ in JSON at position \d+.*$/, '').slice(0, 120)}`,
    );
  }
}

export async function run(io: Io, opts: SchemaOptions): Promise<ExitCode> {
  const schema = await readInput(io, opts);
  const text = opts.sql
    ? `${createTableSql(schema, opts.table!, { ifNotExists: opts.ifNotExists })};\n`
    : `${JSON.stringify(schema, null, 2)}\n`;
  await new Promise<void>((resolve, reject) => io.stdout.write(text, (err) => (err ? reject(err) : resolve())));
  io.stats.note = `${schema.fields.length} fields`;
  return ExitCode.Ok;
}

export const main = (argv: string[]) =>
  cli(
    'bx-schema',
    {
      describe,
      usage: '[options] [FILE|-]',
      examples: [
        ['bx-schema superstore.ndjson > superstore.schema.json', 'infer types, formats, nullability and a primary key'],
        ['bx-schema --sql --table sales.orders < superstore.schema.json', 'the CREATE TABLE the schema implies'],
        ['bx-extract superstore.csv | bx-schema --sql --table orders', 'infer, then print the DDL'],
        ['bx-extract big.csv | bx-schema --sample 10000', 'infer from the first 10000 records'],
      ],
      options,
      normalize,
      run,
      stream: 'in',
    },
    argv,
  );
