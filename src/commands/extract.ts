import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { formatNames, formatOfPath, type ReadOptions } from '../formats/index.js';
import { classify, ExitCode, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { DEFAULT_MAX_DEPTH } from '../lib/json.js';
import { DEFAULT_MAX_LINE } from '../lib/lines.js';
import { rejectsArgs, type MaxRejects } from '../lib/rejects.js';
import { oneChar, parseSize } from '../lib/size.js';
import { ENCODINGS, parseEncoding } from '../lib/text.js';
import { SSL_MODES } from '../pg/modes.js';
import { cli, type RawArgs } from '../run/cli.js';
import { runStage } from '../run/stage.js';
import { StdoutSink } from '../sinks/stdout.js';
import { checkFile, fileFormat } from '../sources/file.js';
import { kindOf, openSource, type SourceRequest } from '../sources/index.js';
import { checkS3Input, isS3, s3ReadTarget } from '../lib/s3.js';

export const describe =
  'Read files (CSV, TSV, NDJSON, JSON, XML plain or .gz; Parquet), database queries (PostgreSQL, MySQL/MariaDB) or streams (NATS, Redis, RabbitMQ) and write NDJSON records to stdout';

export interface ExtractOptions {
  inputs: SourceRequest[];
  lineage: boolean;
  rejects?: string;
  maxRejects?: MaxRejects;
}

export const options = (y: Argv) =>
  y
    // Files are positional: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)
    .positional('file', { describe: 'input files, read in order; - (or none) for stdin', type: 'string' })
    .option('format', {
      alias: 'f',
      type: 'string',
      describe: `input format: ${formatNames().join(', ')} (default: from the file extension)`,
    })
    .option('delimiter', {
      alias: 'd',
      type: 'string',
      describe: 'CSV/TSV field delimiter, one character or \\t',
      defaultDescription: ', for csv, \\t for tsv',
    })
    .option('quote', {
      type: 'string',
      describe: 'CSV/TSV quote character; "" turns quoting off',
      defaultDescription: '" for csv, none for tsv',
    })
    .option('escape', {
      type: 'string',
      describe: 'escape character inside quoted fields',
      defaultDescription: 'the quote (doubled "")',
    })
    .option('header', {
      type: 'boolean',
      default: true,
      describe: 'the first line names the fields; --no-header names them c1..cN or by --columns',
    })
    .option('columns', {
      type: 'string',
      describe:
        'comma-separated field names (replace the header, or name header-less fields); Parquet: read only these columns; streams with --payload csv: the fields of each message',
    })
    .option('skip-lines', { type: 'number', default: 0, describe: 'physical lines to drop before the header' })
    .option('comment', { type: 'string', describe: 'skip CSV/TSV lines starting with this character' })
    .option('encoding', {
      type: 'string',
      default: 'utf8',
      describe: `input encoding: ${ENCODINGS.join(', ')} (a UTF-16LE BOM is detected)`,
    })
    .option('record-path', {
      type: 'string',
      describe: 'JSON: dotted keys to the record array (a.b); XML: dotted element names to a record (rss.channel.item)',
    })
    .option('relax-quotes', {
      type: 'boolean',
      describe: 'CSV/TSV: a quote inside a quoted field that does not end it is text ("5\'11" tall")',
    })
    .option('strip-ns', { type: 'boolean', describe: 'XML: drop namespace prefixes and xmlns attributes' })
    .option('lineage', { type: 'boolean', describe: 'add _file and _line (where the record starts) to each record' })
    .option('rejects', {
      type: 'string',
      describe: 'write bad records (ragged rows, malformed lines) to this NDJSON file instead of stopping',
    })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage such as 0.5%' })
    .option('max-record-size', {
      type: 'string',
      default: '64M',
      describe: 'largest record held in memory, in characters (K, M, G suffixes)',
    })
    .option('max-depth', { type: 'number', default: DEFAULT_MAX_DEPTH, describe: 'JSON/XML nesting limit' })
    .option('query', {
      type: 'string',
      describe: 'read the rows of this SQL query (PostgreSQL, or MySQL/MariaDB with a mysql:// --db), streamed',
    })
    .option('query-file', { type: 'string', describe: 'read the SQL query from this file' })
    .option('table', {
      type: 'string',
      describe: 'read a whole table: SELECT * FROM it, the name quoted ([schema.]name)',
    })
    .option('db', {
      type: 'string',
      describe:
        'postgres:// or mysql:// URL, or a key=value string (else DATABASE_URL, PG* variables, ~/.pgpass; MYSQL_PWD); never put a password here',
    })
    .option('sslmode', { type: 'string', choices: [...SSL_MODES], describe: 'TLS for the source database, as libpq' })
    .option('incremental', {
      type: 'string',
      describe: 'COLUMN: only rows with COLUMN past the committed watermark, up to its maximum when the run starts',
    })
    .option('key', {
      type: 'string',
      describe: 'with --incremental: K1,K2 break ties among rows sharing the watermark value',
    })
    .option('zero-dates', {
      type: 'string',
      choices: ['error', 'null'],
      default: 'error',
      describe: 'MySQL 0000-00-00 dates: refuse them, or read them as null',
    })
    .option('from-state', {
      type: 'string',
      describe: 'URL of the database whose bx_state holds where to start (where bx-load commits the checkpoint)',
    })
    .option('state', {
      type: 'string',
      describe: 'state file holding where to start (written by bx-load --state after a file sink)',
    })
    .option('payload', {
      type: 'string',
      choices: ['json', 'text', 'csv'],
      default: 'json',
      describe: 'streams: how a message becomes a record',
    })
    .option('meta', { type: 'boolean', describe: 'streams: add _stream, _seq (or _id) and _time to each record' })
    .option('until', {
      type: 'string',
      describe:
        "streams: end the batch at the last message not newer than this time (ISO 8601), or at the stream's end when the run starts, whichever comes first",
    });

// A stream's URL (nats://, redis://…); an s3:// path is an object or a lake, read as a file is.
const isUrl = (t: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(t) && !isS3(t);

export function normalize(a: RawArgs): ExtractOptions {
  const files = a._.map(String);
  const sqlGiven = ['query', 'query-file', 'table'].filter((k) => a[k] !== undefined);
  if (sqlGiven.length > 1) throw new UsageError(`--${sqlGiven.join(' and --')}: give one of them`);
  if (sqlGiven.length && files.length)
    throw new UsageError(`--${sqlGiven[0]} reads a database; it takes no file arguments (got ${files.join(' ')})`);
  if (files.length === 0 && !sqlGiven.length) files.push('-');
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once');
  if (a.incremental !== undefined && !sqlGiven.length)
    throw new UsageError('--incremental goes with --query, --query-file or --table');
  if (a.key !== undefined && a.incremental === undefined) throw new UsageError('--key goes with --incremental');
  const forced = a.format === undefined ? undefined : String(a.format);
  const encoding = parseEncoding(String(a.encoding));
  if (!encoding) throw new UsageError(`--encoding: unknown encoding "${a.encoding}"; known: ${ENCODINGS.join(', ')}`);
  const skipLines = Number(a['skip-lines']);
  if (!Number.isInteger(skipLines) || skipLines < 0)
    throw new UsageError(`--skip-lines: expected a whole number, got "${a['skip-lines']}"`);
  const maxDepth = Number(a['max-depth']);
  if (!Number.isInteger(maxDepth) || maxDepth < 1)
    throw new UsageError(`--max-depth: expected a whole number ≥ 1, got "${a['max-depth']}"`);
  const columns = a.columns === undefined ? undefined : String(a.columns).split(',');
  if (columns && columns.some((c) => c === '')) throw new UsageError(`--columns: an empty name in "${a.columns}"`);
  const recordPath = a['record-path'] === undefined ? undefined : String(a['record-path']).split('.');
  if (recordPath && recordPath.some((p) => p === ''))
    throw new UsageError(`--record-path: an empty step in "${a['record-path']}"`);
  const delimiter = oneChar('delimiter', a.delimiter, false);
  const quote = oneChar('quote', a.quote, true);
  const escape = oneChar('escape', a.escape, false);
  const comment = oneChar('comment', a.comment, false);
  if (quote && quote === delimiter) throw new UsageError('--quote and --delimiter must differ');
  const rejects = rejectsArgs(a);
  const lineage = Boolean(a.lineage);
  const read: ReadOptions = {
    encoding,
    header: a.header !== false,
    columns,
    skipLines,
    comment,
    recordPath,
    stripNs: Boolean(a['strip-ns']),
    maxRecordSize: parseSize('max-record-size', String(a['max-record-size'] ?? DEFAULT_MAX_LINE)),
    maxDepth,
    lineage,
    relaxQuotes: Boolean(a['relax-quotes']),
  };
  // Left out when not given, so each format keeps its own default (csv ",", tsv tab).
  if (delimiter !== undefined) read.delimiter = delimiter;
  if (quote !== undefined) read.quote = quote;
  if (escape !== undefined) read.escape = escape;
  if (a['from-state'] !== undefined && a.state !== undefined)
    throw new UsageError('--from-state and --state: give one place to start from');
  const state =
    a['from-state'] !== undefined || a.state !== undefined
      ? { db: a['from-state'] as string | undefined, file: a.state as string | undefined }
      : undefined;
  const base = { format: forced, read, columns, state };
  let inputs: SourceRequest[];
  if (sqlGiven.length) {
    let query = a.query as string | undefined;
    if (a['query-file'] !== undefined) {
      try {
        query = readFileSync(String(a['query-file']), 'utf8');
      } catch (err) {
        throw classify(err) ?? err;
      }
    }
    const key =
      a.key === undefined
        ? undefined
        : String(a.key)
            .split(',')
            .map((k) => k.trim());
    if (key && key.some((k) => k === '')) throw new UsageError(`--key ${JSON.stringify(a.key)}: an empty column name`);
    const sql = {
      query,
      table: a.table as string | undefined,
      db: a.db as string | undefined,
      sslmode: a.sslmode as string | undefined,
      incremental: a.incremental as string | undefined,
      key,
      zeroDates: a['zero-dates'] as 'error' | 'null',
    };
    inputs = [{ ...base, target: query !== undefined ? 'query' : String(a.table), sql }];
  } else {
    const stream = {
      payload: a.payload as 'json' | 'text' | 'csv',
      meta: Boolean(a.meta),
      until: a.until as string | undefined,
    };
    inputs = files.map((target) => ({ ...base, target, stream: isUrl(target) ? stream : undefined }));
    // A file's format must be known before anything is read (exit 64, nothing written); a
    // name without an extension may be a directory (a Parquet lake), told apart when opened.
    for (const r of inputs) {
      if (isS3(r.target)) s3ReadTarget(r.target);
      if (r.stream || forced?.toLowerCase() === 'parquet' || /\.parquet$/i.test(r.target) || r.target.endsWith('/'))
        continue;
      if (forced !== undefined || formatOfPath(r.target) || r.target === '-') fileFormat(r.target, forced);
      else if (!/[*?[]/.test(r.target) && !/\/$|^[^.]*$|\/[^./]*$/.test(r.target)) fileFormat(r.target, forced);
    }
  }
  return { inputs, lineage, ...rejects };
}

export async function run(io: Io, opts: ExtractOptions): Promise<ExitCode> {
  // Every file must be there before the first record goes out (exit 66, nothing written).
  for (const r of opts.inputs) if (!r.stream && !r.sql) await checkInput(r, io);
  await runStage(io, {
    sources: opts.inputs.map((r) => () => openSource(r, io)),
    sink: new StdoutSink(io.stdout, io.seal.seal),
    rejects: { path: opts.rejects, max: opts.maxRejects },
    // Readers that can (CSV/TSV) hand on ready NDJSON lines, lineage included.
    json: { lineage: opts.lineage },
  });
  return ExitCode.Ok;
}

/** A missing path is exit 66 before anything runs; a directory (a lake) or a glob is its source's to read. */
async function checkInput(r: SourceRequest, io: Io) {
  const target = r.target;
  if (isS3(target)) return checkS3Input(target, io.env, kindOf(r) === 'file' || /\.parquet$/i.test(target));
  if (/[*?[]/.test(target)) return;
  try {
    await checkFile(target);
  } catch (err) {
    if (/is a directory/.test((err as Error).message)) return;
    throw err;
  }
}

export const main = (argv: string[]) =>
  cli(
    'bx-extract',
    {
      describe,
      usage: '[options] [FILE|-|DIR|URL|s3://BUCKET/KEY]...',
      examples: [
        ['bx-extract sales.csv > sales.ndjson', 'CSV to NDJSON; the format comes from the extension'],
        [
          'bx-extract --lineage a.csv b.csv.gz | bx-load --table sales',
          'several files in order, each record saying where it came from',
        ],
        ['bx-extract --record-path rss.channel.item feed.xml', 'one record per <item> of an RSS feed'],
        ['zcat dump.gz | bx-extract -f tsv --no-header --columns id,name -', 'header-less TSV from stdin'],
        [
          'bx-extract --db mysql://etl@shop-db:3306/shop --query-file orders.sql | bx-load --table orders',
          'a MySQL query into PostgreSQL, exact',
        ],
        [
          'BX_SEAL=1 bx-extract nats://127.0.0.1:4222/POS --from-state "$DATABASE_URL" | bx-load --table sales',
          'drain a NATS stream into PostgreSQL, exactly once',
        ],
        ['bx-extract lake/sales/ --columns sale_date,amount', 'a hive-partitioned Parquet lake, two columns'],
        [
          'bx-extract s3://acme-lake/sales/ | bx-agg --by sale_date --agg sum:amount',
          'the same lake on S3 (AWS_REGION, AWS_PROFILE…; AWS_ENDPOINT_URL for MinIO & co)',
        ],
        [
          'BX_SEAL=1 bx-extract --table orders --incremental updated_at --key id --from-state "$DATABASE_URL" | bx-load --table orders --mode upsert --key id',
          'only what changed since the last committed run',
        ],
      ],
      options,
      normalize,
      run,
      stream: 'out',
    },
    argv,
  );
