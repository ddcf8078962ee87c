import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../run/cli.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { parseTableName, qualified, type TableName } from '../lib/ident.js';
import type { Io } from '../lib/io.js';
import { oneChar } from '../lib/size.js';
import { Rejects, rejectsArgs, type MaxRejects } from '../lib/rejects.js';
import { runStage } from '../run/stage.js';
import { NdjsonSource } from '../sources/ndjson.js';
import { FILE_FORMATS, type FileFormat, type SinkRequest } from '../sinks/index.js';

export const describe =
  'Load NDJSON records into a PostgreSQL table with COPY, in one transaction, or write them to files (CSV, TSV, NDJSON, XML, a Parquet lake), atomically';

import { MODES as MODE_NAMES, SSL_MODES, type Mode as ModeName } from '../pg/modes.js';

export interface LoadOptions {
  input: string;
  /** --to FORMAT --path P: a file sink instead of PostgreSQL. */
  sink?: SinkRequest;
  table: TableName;
  db?: string;
  sslmode?: string;
  mode: ModeName;
  key?: string[];
  replaceWhere?: string;
  create: boolean;
  schema?: string;
  inferRows: number;
  ignoreExtra: boolean;
  allowEmpty?: boolean;
  /** --rejects FILE: rows the server refuses go there, the rest loads. */
  rejects?: string;
  maxRejects?: MaxRejects;
}

export const options = (y: Argv) =>
  y
    // The action/file is positional: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)

    .positional('input', { default: '-', describe: 'NDJSON file, - for stdin' })
    .option('table', {
      alias: 't',
      type: 'string',
      describe: 'target table: name or schema.name ("…" keeps dots, case, spaces); needed unless --to writes files',
    })
    .option('db', {
      type: 'string',
      describe:
        'postgres:// URL or key=value string (else DATABASE_URL, else PG* variables and ~/.pgpass); never put a password here',
    })
    .option('sslmode', {
      type: 'string',
      choices: [...SSL_MODES],
      describe: 'TLS as libpq: verify-full checks the server certificate against sslrootcert / PGSSLROOTCERT',
    })
    .option('mode', {
      type: 'string',
      choices: [...MODE_NAMES],
      default: 'append',
      describe: 'append rows; replace the whole table; upsert on --key; replace-where one partition',
    })
    .option('key', {
      type: 'string',
      describe: 'upsert: the conflict key columns, comma-separated (a primary key or unique index)',
    })
    .option('replace-where', {
      type: 'string',
      describe:
        'replace one partition, COLUMN=VALUE (implies --mode replace-where): delete it and load it in one transaction',
    })
    .option('create', {
      type: 'boolean',
      default: false,
      describe: 'create the table when it does not exist (from --schema, else inferred)',
    })
    .option('schema', {
      type: 'string',
      describe: 'Table Schema JSON file for --create, or the column types of --to parquet',
    })
    .option('infer-rows', {
      type: 'number',
      default: 10000,
      describe: '--create without --schema: infer column types over this many records',
    })
    .option('allow-empty', {
      type: 'boolean',
      default: false,
      describe: '--mode replace: let an input with no records empty the table (default: refused, exit 65)',
    })
    .option('rejects', {
      type: 'string',
      describe:
        'rows the server refuses (a constraint, a value the column type refuses) go to FILE with the reason; the rest loads in the same transaction',
    })
    .option('max-rejects', {
      type: 'string',
      describe: 'with --rejects: fail (exit 65, nothing loaded) past N refused rows or a percentage such as 0.5%',
    })
    .option('ignore-extra', {
      type: 'boolean',
      default: false,
      describe: 'skip record fields that are no column of the table (default: an error)',
    })
    .option('to', {
      type: 'string',
      choices: ['postgres', ...FILE_FORMATS],
      default: 'postgres',
      describe:
        'where the records go: PostgreSQL (default), or files: csv, tsv, ndjson, xml, parquet (a lake directory)',
    })
    .option('path', {
      type: 'string',
      describe:
        'with --to: the file (- for stdout; .gz compresses) or, for parquet, the lake directory; s3://BUCKET/KEY for S3',
    })
    .option('partition-by', {
      type: 'string',
      describe:
        'parquet: hive partition fields, comma-separated (sale_date=2026-11-23/); a re-run replaces exactly those partitions',
    })
    .option('row-group-size', { type: 'number', describe: 'parquet: rows per row group', defaultDescription: '100000' })
    .option('codec', {
      type: 'string',
      choices: ['snappy', 'gzip', 'zstd', 'uncompressed'],
      default: 'snappy',
      describe: 'parquet: compression',
    })
    .option('header', { type: 'boolean', default: true, describe: 'csv/tsv: write a header line (--no-header: none)' })
    .option('delimiter', {
      type: 'string',
      describe: 'csv: field delimiter, one character or \\t',
      defaultDescription: ', (tab for tsv)',
    })
    .option('bom', {
      type: 'boolean',
      describe: 'csv/tsv: start with a UTF-8 byte order mark (for spreadsheet programs)',
    })
    .option('csv-safe', {
      type: 'boolean',
      describe:
        "csv/tsv: prefix cells starting with = + - @ tab or CR with ' so spreadsheets never run them as formulas",
    })
    .option('xml-root', { type: 'string', default: 'records', describe: 'xml: the root element name' })
    .option('xml-record', { type: 'string', default: 'record', describe: 'xml: the element name of one record' })
    .option('state', {
      type: 'string',
      describe: "with --to: write the input's checkpoints to this state file once the output is in place",
    });

export function normalize(a: RawArgs): LoadOptions {
  const inputs = a._.map(String);
  // `--path -` reaches us as --path '' and a positional "-" (yargs-parser reads a lone - as an argument).
  if (a.to !== undefined && a.to !== 'postgres' && a.path === '' && inputs.includes('-')) {
    a.path = '-';
    inputs.splice(inputs.indexOf('-'), 1);
  }
  if (inputs.length > 1) throw new UsageError(`bx-load reads one input; got ${inputs.length}: ${inputs.join(' ')}`);
  if (a.to !== undefined && a.to !== 'postgres') return { ...fileSinkOptions(a), input: inputs[0] ?? '-' };
  const fileOnly = ['path', 'partition-by', 'row-group-size', 'bom', 'csv-safe', 'state', 'delimiter'].filter(
    (k) => a[k] !== undefined,
  );
  if (fileOnly.length)
    throw new UsageError(`--${fileOnly[0]} goes with --to FORMAT (files); bx-load writes PostgreSQL without it`);
  if (a.table === undefined) throw new UsageError('--table is needed (or --to FORMAT --path P to write files)');
  let mode = a.mode as ModeName;
  if (a['replace-where'] !== undefined) {
    if (a.mode !== 'append' && a.mode !== 'replace-where')
      throw new UsageError(`--replace-where goes with --mode replace-where, not --mode ${a.mode}`);
    mode = 'replace-where';
  }
  if (mode === 'replace-where' && !a['replace-where'])
    throw new UsageError('--mode replace-where needs --replace-where COLUMN=VALUE');
  const key =
    a.key === undefined
      ? undefined
      : String(a.key)
          .split(',')
          .map((k) => k.trim());
  if (key && key.some((k) => k === '')) throw new UsageError(`--key ${JSON.stringify(a.key)}: an empty column name`);
  if (mode === 'upsert' && !key) throw new UsageError('--mode upsert needs --key COLUMN[,COLUMN…]');
  if (key && mode !== 'upsert') throw new UsageError('--key goes with --mode upsert');
  if (a.schema !== undefined && !a.create) throw new UsageError('--schema is for --create');
  const inferRows = Number(a['infer-rows']);
  if (!Number.isInteger(inferRows) || inferRows < 1)
    throw new UsageError(`--infer-rows ${JSON.stringify(a['infer-rows'])}: expected a positive whole number`);
  return {
    input: inputs[0] ?? '-',
    table: parseTableName(String(a.table)),
    db: a.db,
    sslmode: a.sslmode,
    mode,
    key,
    replaceWhere: a['replace-where'],
    create: Boolean(a.create),
    schema: a.schema,
    inferRows,
    ignoreExtra: Boolean(a['ignore-extra']),
    allowEmpty: Boolean(a['allow-empty']),
    ...(() => {
      const r = rejectsArgs(a);
      return { rejects: r.rejects, maxRejects: r.maxRejects };
    })(),
  };
}

export async function run(io: Io, opts: LoadOptions): Promise<ExitCode> {
  if (opts.sink) return loadFiles(io, opts, opts.sink);
  // pg and the load code are loaded here, not at start-up: --help stays fast.
  const [{ connectFrom, targetLabel }, { parsePartition, tableCreator }, { pgError }, { PostgresSink }] =
    await Promise.all([
      import('../pg/connect.js'),
      import('../pg/load.js'),
      import('../pg/errors.js'),
      import('../sinks/postgres.js'),
    ]);
  const partition = opts.replaceWhere !== undefined ? parsePartition(opts.replaceWhere) : undefined;
  const source = new NdjsonSource(io, opts.input, { bytes: true });
  // The input is opened (exit 66 for a missing file) before the connection.
  await source.open();
  const { client, target } = await connectFrom({ db: opts.db, sslmode: opts.sslmode, appName: 'bx-load' }, io.env);
  io.log.debug(`connected to ${targetLabel(target)} (from ${target.source})`);
  // A signal must also stop a wait for input that may never come.
  const onAbort = () => source.stop();
  io.signal.addEventListener('abort', onAbort, { once: true });
  let committed = false;
  // One rejects file for the reader's refusals and the server's, put in place by runStage after COMMIT.
  const rejects = opts.rejects ? await Rejects.open(opts.rejects, opts.maxRejects) : undefined;
  try {
    const sink = new PostgresSink(
      client,
      {
        table: opts.table,
        mode: opts.mode,
        key: opts.key,
        partition,
        ignoreExtra: opts.ignoreExtra,
        create: opts.create ? tableCreator(opts.table, opts.schema) : undefined,
        inferRows: opts.inferRows,
        allowEmpty: opts.allowEmpty,
        runId: io.stats.runId || undefined,
        rejects: rejects && {
          add(record, failures, at) {
            rejects.add(record, failures, at);
            io.stats.rejected++;
          },
          checkRatio: (rowsIn) => rejects.checkRatio(rowsIn),
        },
      },
      io.log,
      io.signal,
      () => source.stop(),
    );
    await runStage(io, { sources: [source], sink, rejects: { path: opts.rejects, open: rejects } });
    committed = true;
    return ExitCode.Ok;
  } catch (err) {
    if (io.signal.aborted) throw io.signal.reason;
    throw pgError(err, {});
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    if (!committed) {
      source.stop();
      io.stats.note = `nothing loaded into ${qualified(opts.table)} (rolled back)`;
    }
    // Closing without COMMIT makes the server roll back, whatever state the COPY was in.
    await closeClient(client);
  }
}

/** --to FORMAT: the records go to files (a sink), through the stage runner. */
async function loadFiles(io: Io, opts: LoadOptions, req: SinkRequest): Promise<ExitCode> {
  const { openSink } = await import('../sinks/index.js');
  // A Parquet lake reads the record lines as bytes (its byte path, formats/parquet-bytes.ts).
  const source = new NdjsonSource(io, opts.input, { bytes: req.to === 'parquet' });
  await source.open();
  // A signal must also stop a wait for input that may never come.
  const onAbort = () => source.stop();
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await runStage(io, { sources: [source], sink: await openSink(req, io), rejects: {} });
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
  if (io.signal.aborted) throw io.signal.reason;
  return ExitCode.Ok;
}

function fileSinkOptions(a: RawArgs): Omit<LoadOptions, 'input'> {
  const to = String(a.to) as FileFormat;
  if (a.path === undefined)
    throw new UsageError(
      `--to ${to} needs --path (${to === 'parquet' ? 'the lake directory' : 'a file, or - for stdout'})`,
    );
  const pgOnly = ['table', 'db', 'sslmode', 'key', 'replace-where', 'create', 'rejects', 'max-rejects'].filter(
    (k) => a[k] !== undefined && a[k] !== false,
  );
  if (pgOnly.length) throw new UsageError(`--${pgOnly[0]} is for PostgreSQL, not --to ${to}`);
  if (a.mode !== 'append')
    throw new UsageError(
      `--mode is for PostgreSQL; --to ${to} ${to === 'parquet' ? 'replaces the partitions it writes' : 'writes the file anew'}`,
    );
  const parquetOnly = ['partition-by', 'row-group-size'].filter((k) => a[k] !== undefined);
  if (to !== 'parquet' && (parquetOnly.length || a.codec !== 'snappy'))
    throw new UsageError(`--${parquetOnly[0] ?? 'codec'} is for --to parquet`);
  if (to === 'parquet' && a.path === '-')
    throw new UsageError(
      '--to parquet writes a lake directory, not stdout (Parquet needs its footer at the end of a file)',
    );
  const rowGroupSize = a['row-group-size'] === undefined ? undefined : Number(a['row-group-size']);
  if (rowGroupSize !== undefined && (!Number.isInteger(rowGroupSize) || rowGroupSize < 1))
    throw new UsageError(`--row-group-size ${JSON.stringify(a['row-group-size'])}: expected a positive whole number`);
  const inferRows = Number(a['infer-rows']);
  if (!Number.isInteger(inferRows) || inferRows < 1)
    throw new UsageError(`--infer-rows ${JSON.stringify(a['infer-rows'])}: expected a positive whole number`);
  const partitionBy =
    a['partition-by'] === undefined
      ? undefined
      : String(a['partition-by'])
          .split(',')
          .map((s) => s.trim());
  if (partitionBy && partitionBy.some((p) => p === ''))
    throw new UsageError(`--partition-by ${JSON.stringify(a['partition-by'])}: an empty field name`);
  const sink: SinkRequest = {
    to,
    path: String(a.path),
    schemaFile: a.schema as string | undefined,
    inferRows,
    header: a.header !== false,
    delimiter: oneChar('delimiter', a.delimiter, false),
    bom: Boolean(a.bom),
    csvSafe: Boolean(a['csv-safe']),
    xmlRoot: String(a['xml-root']),
    xmlRecord: String(a['xml-record']),
    partitionBy,
    rowGroupSize,
    codec: a.codec as SinkRequest['codec'],
    stateFile: a.state as string | undefined,
  };
  return {
    sink,
    table: { name: '' },
    mode: 'append',
    create: false,
    inferRows,
    ignoreExtra: Boolean(a['ignore-extra']),
  };
}

async function closeClient(client: import('pg').Client) {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        // The server is not answering: drop the socket; it rolls back when it notices.
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
        resolve();
      }, 2000);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

export const main = (argv: string[]) =>
  cli(
    'bx-load',
    {
      describe,
      usage: '--table [schema.]name [options] [FILE|-]',
      examples: [
        ['bx-extract sales.csv | bx-load --table sales --create', 'load a CSV file into a new table'],
        [
          'bx-extract day.csv | bx-load --table sales --replace-where sale_date=2026-11-23',
          're-load one day: a re-run replaces it, never duplicates it',
        ],
        [
          'bx-extract fix.csv | bx-load --table sales --mode upsert --key sale_id',
          'insert new rows and update existing ones by key',
        ],
        ['bx-extract all.csv | bx-load --table sales --mode replace', 'swap in a fresh copy of the whole table'],
        [
          'bx-extract day.csv | bx-load --to parquet --path s3://acme-lake/sales --partition-by sale_date',
          'replace that day in a Parquet lake on S3, atomically (one manifest PUT per partition)',
        ],
      ],
      options,
      normalize,
      run,
      stream: 'in',
      handlesSignals: true,
    },
    argv,
  );
