import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../run/cli.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { parseTableName, qualified, type TableName } from '../lib/ident.js';
import { openInput, type Io } from '../lib/io.js';
import { readLineBatches, type LineRecordBatch } from '../lib/records.js';

export const describe = 'Load NDJSON records into a PostgreSQL table with COPY, in one transaction';

const MODE_NAMES = ['append', 'replace', 'upsert', 'replace-where'] as const;
type ModeName = (typeof MODE_NAMES)[number];

export interface LoadOptions {
  input: string;
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
}

export const options = (y: Argv) =>
  y
    // The action/file is positional: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)

    .positional('input', { default: '-', describe: 'NDJSON file, - for stdin' })
    .option('table', { alias: 't', type: 'string', demandOption: true, describe: 'target table: name or schema.name ("…" keeps dots, case, spaces)' })
    .option('db', { type: 'string', describe: 'postgres:// URL or key=value string (else DATABASE_URL, else PG* variables and ~/.pgpass); never put a password here' })
    .option('sslmode', { type: 'string', choices: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'], describe: 'TLS as libpq: verify-full checks the server certificate against sslrootcert / PGSSLROOTCERT' })
    .option('mode', { type: 'string', choices: [...MODE_NAMES], default: 'append', describe: 'append rows; replace the whole table; upsert on --key; replace-where one partition' })
    .option('key', { type: 'string', describe: 'upsert: the conflict key columns, comma-separated (a primary key or unique index)' })
    .option('replace-where', { type: 'string', describe: 'replace one partition, COLUMN=VALUE (implies --mode replace-where): delete it and load it in one transaction' })
    .option('create', { type: 'boolean', default: false, describe: 'create the table when it does not exist (from --schema, else inferred)' })
    .option('schema', { type: 'string', describe: 'Table Schema JSON file for --create' })
    .option('infer-rows', { type: 'number', default: 10000, describe: '--create without --schema: infer column types over this many records' })
    .option('ignore-extra', { type: 'boolean', default: false, describe: 'skip record fields that are no column of the table (default: an error)' });

export function normalize(a: RawArgs): LoadOptions {
  const inputs = a._.map(String);
  if (inputs.length > 1) throw new UsageError(`bx-load reads one input; got ${inputs.length}: ${inputs.join(' ')}`);
  let mode = a.mode as ModeName;
  if (a['replace-where'] !== undefined) {
    if (a.mode !== 'append' && a.mode !== 'replace-where') throw new UsageError(`--replace-where goes with --mode replace-where, not --mode ${a.mode}`);
    mode = 'replace-where';
  }
  if (mode === 'replace-where' && !a['replace-where']) throw new UsageError('--mode replace-where needs --replace-where COLUMN=VALUE');
  const key = a.key === undefined ? undefined : String(a.key).split(',').map((k) => k.trim());
  if (key && key.some((k) => k === '')) throw new UsageError(`--key ${JSON.stringify(a.key)}: an empty column name`);
  if (mode === 'upsert' && !key) throw new UsageError('--mode upsert needs --key COLUMN[,COLUMN…]');
  if (key && mode !== 'upsert') throw new UsageError('--key goes with --mode upsert');
  if (a.schema !== undefined && !a.create) throw new UsageError('--schema is for --create');
  const inferRows = Number(a['infer-rows']);
  if (!Number.isInteger(inferRows) || inferRows < 1) throw new UsageError(`--infer-rows ${JSON.stringify(a['infer-rows'])}: expected a positive whole number`);
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
  };
}

export async function run(io: Io, opts: LoadOptions): Promise<ExitCode> {
  // pg and the load code are loaded here, not at start-up: --help stays fast.
  const [{ connectFrom, targetLabel }, { loadBatches, parsePartition, tableCreator }, { pgError }] = await Promise.all([
    import('../pg/connect.js'),
    import('../pg/load.js'),
    import('../pg/errors.js'),
  ]);
  const partition = opts.replaceWhere !== undefined ? parsePartition(opts.replaceWhere) : undefined;
  const input = await openInput(io, opts.input);
  const { client, target } = await connectFrom({ db: opts.db, sslmode: opts.sslmode, appName: 'bx-load' }, io.env);
  io.log.debug(`connected to ${targetLabel(target)} (from ${target.source})`);
  const stats = io.stats;
  const reader = readLineBatches(input.stream, input.name, { expectSealed: io.seal.expectSealed });
  async function* counted(): AsyncGenerator<LineRecordBatch> {
    for await (const b of reader) {
      stats.rowsIn += b.lines.length;
      yield b;
    }
  }
  // A signal must also stop a wait for input that may never come.
  const onAbort = () => input.stream.destroy();
  io.signal.addEventListener('abort', onAbort, { once: true });
  let committed = false;
  try {
    const r = await loadBatches(
      client,
      counted(),
      {
        table: opts.table,
        mode: opts.mode,
        key: opts.key,
        partition,
        ignoreExtra: opts.ignoreExtra,
        create: opts.create ? tableCreator(opts.table, opts.schema) : undefined,
        inferRows: opts.inferRows,
      },
      io.log,
      io.signal,
      () => input.stream.destroy(),
    );
    committed = true;
    stats.rowsOut = r.rows;
    stats.note = `loaded into ${r.table}${r.note ? `, ${r.note}` : ''}`;
    return ExitCode.Ok;
  } catch (err) {
    if (io.signal.aborted) throw io.signal.reason;
    throw pgError(err, {});
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    if (!committed) {
      input.stream.destroy();
      stats.note = `nothing loaded into ${qualified(opts.table)} (rolled back)`;
    }
    // Closing without COMMIT makes the server roll back, whatever state the COPY was in.
    await closeClient(client);
  }
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
        ['bx-extract day.csv | bx-load --table sales --replace-where sale_date=2026-11-23', 're-load one day: a re-run replaces it, never duplicates it'],
        ['bx-extract fix.csv | bx-load --table sales --mode upsert --key sale_id', 'insert new rows and update existing ones by key'],
        ['bx-extract all.csv | bx-load --table sales --mode replace', 'swap in a fresh copy of the whole table'],
      ],
      options,
      normalize,
      run,
      stream: 'in',
      handlesSignals: true,
    },
    argv,
  );
