import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Argv } from 'yargs';
import { canonicalFormat, formatNames, formatOfPath, readerFor, type ReadContext, type ReadOptions } from '../formats/index.js';
import { cli, type RawArgs } from '../run/cli.js';
import { classify, DataError, ExitCode, UsageError } from '../lib/errors.js';
import { openInput, READ_CHUNK, type Io, type NamedInput } from '../lib/io.js';
import { DEFAULT_MAX_DEPTH } from '../lib/json.js';
import { DEFAULT_MAX_LINE } from '../lib/lines.js';
import { Rejects, rejectsArgs, type MaxRejects } from '../lib/rejects.js';
import { ENCODINGS, parseEncoding } from '../lib/text.js';
import { LineWriter } from '../lib/write.js';

export const describe = 'Read CSV, TSV, NDJSON, JSON and XML files (plain or .gz) and write NDJSON records to stdout';

export interface ExtractOptions {
  inputs: { path: string; format: string }[];
  read: ReadOptions;
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
    .option('format', { alias: 'f', type: 'string', describe: `input format: ${formatNames().join(', ')} (default: from the file extension)` })
    .option('delimiter', { alias: 'd', type: 'string', describe: 'CSV/TSV field delimiter, one character or \\t', defaultDescription: ', for csv, \\t for tsv' })
    .option('quote', { type: 'string', describe: 'CSV/TSV quote character; "" turns quoting off', defaultDescription: '" for csv, none for tsv' })
    .option('escape', { type: 'string', describe: 'escape character inside quoted fields', defaultDescription: 'the quote (doubled "")' })
    .option('header', { type: 'boolean', default: true, describe: 'the first line names the fields; --no-header names them c1..cN or by --columns' })
    .option('columns', { type: 'string', describe: 'comma-separated field names (replace the header, or name header-less fields)' })
    .option('skip-lines', { type: 'number', default: 0, describe: 'physical lines to drop before the header' })
    .option('comment', { type: 'string', describe: 'skip CSV/TSV lines starting with this character' })
    .option('encoding', { type: 'string', default: 'utf8', describe: `input encoding: ${ENCODINGS.join(', ')} (a UTF-16LE BOM is detected)` })
    .option('record-path', { type: 'string', describe: 'JSON: dotted keys to the record array (a.b); XML: dotted element names to a record (rss.channel.item)' })
    .option('strip-ns', { type: 'boolean', describe: 'XML: drop namespace prefixes and xmlns attributes' })
    .option('lineage', { type: 'boolean', describe: 'add _file and _line (where the record starts) to each record' })
    .option('rejects', { type: 'string', describe: 'write bad records (ragged rows, malformed lines) to this NDJSON file instead of stopping' })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage such as 0.5%' })
    .option('max-record-size', { type: 'string', default: '64M', describe: 'largest record held in memory, in characters (K, M, G suffixes)' })
    .option('max-depth', { type: 'number', default: DEFAULT_MAX_DEPTH, describe: 'JSON/XML nesting limit' });

export function parseSize(flag: string, text: string): number {
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(String(text).trim());
  if (!m) throw new UsageError(`--${flag}: expected a size such as 65536, 512K or 64M, got "${text}"`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (n < 1) throw new UsageError(`--${flag}: must be at least 1, got "${text}"`);
  return n;
}

function oneChar(flag: string, v: unknown, allowEmpty: boolean): string | undefined {
  if (v === undefined) return undefined;
  const s = String(v) === '\\t' ? '\t' : String(v);
  if (s === '' && allowEmpty) return '';
  if (s.length !== 1) throw new UsageError(`--${flag}: expected one character (or \\t), got ${JSON.stringify(String(v))}`);
  if (s === '\n' || s === '\r') throw new UsageError(`--${flag}: a line break cannot be the ${flag}`);
  return s;
}

export function normalize(a: RawArgs): ExtractOptions {
  const files = a._.map(String);
  if (files.length === 0) files.push('-');
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once');
  const forced = a.format === undefined ? undefined : canonicalFormat(String(a.format));
  const inputs = files.map((path) => {
    const format = forced ?? formatOfPath(path);
    if (!format) {
      throw new UsageError(path === '-' ? 'cannot tell the format of stdin; give --format' : `cannot tell the format of ${path} from its name; give --format (${formatNames().join(', ')})`);
    }
    return { path, format };
  });
  const encoding = parseEncoding(String(a.encoding));
  if (!encoding) throw new UsageError(`--encoding: unknown encoding "${a.encoding}"; known: ${ENCODINGS.join(', ')}`);
  const skipLines = Number(a['skip-lines']);
  if (!Number.isInteger(skipLines) || skipLines < 0) throw new UsageError(`--skip-lines: expected a whole number, got "${a['skip-lines']}"`);
  const maxDepth = Number(a['max-depth']);
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new UsageError(`--max-depth: expected a whole number ≥ 1, got "${a['max-depth']}"`);
  const columns = a.columns === undefined ? undefined : String(a.columns).split(',');
  if (columns && columns.some((c) => c === '')) throw new UsageError(`--columns: an empty name in "${a.columns}"`);
  const recordPath = a['record-path'] === undefined ? undefined : String(a['record-path']).split('.');
  if (recordPath && recordPath.some((p) => p === '')) throw new UsageError(`--record-path: an empty step in "${a['record-path']}"`);
  const delimiter = oneChar('delimiter', a.delimiter, false);
  const quote = oneChar('quote', a.quote, true);
  const escape = oneChar('escape', a.escape, false);
  const comment = oneChar('comment', a.comment, false);
  if (quote && quote === delimiter) throw new UsageError('--quote and --delimiter must differ');
  const rejects = rejectsArgs(a);
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
  } as ReadOptions;
  // Left out when not given, so each format keeps its own default (csv ",", tsv tab).
  if (delimiter !== undefined) read.delimiter = delimiter;
  if (quote !== undefined) read.quote = quote;
  if (escape !== undefined) read.escape = escape;
  return {
    inputs,
    read,
    lineage: Boolean(a.lineage),
    ...rejects,
  };
}

export async function run(io: Io, opts: ExtractOptions): Promise<ExitCode> {
  // Every file must be there before the first record goes out (exit 66, nothing written).
  for (const { path } of opts.inputs) {
    if (path === '-') continue;
    try {
      const st = await fsp.stat(path);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR', path });
    } catch (err) {
      throw classify(err) ?? err;
    }
  }
  const rejects = await Rejects.open(opts.rejects, opts.maxRejects);
  const ctx: ReadContext = {
    log: io.log,
    reject: (record, failure, at) => {
      io.stats.rowsIn++;
      rejects.add(record, [failure], at);
      io.stats.rejected++;
    },
    // Readers that can (CSV/TSV) hand on ready NDJSON lines, lineage included.
    json: { lineage: opts.lineage },
  };
  const out = new LineWriter(io.stdout, io.seal.seal);
  try {
    for (const { path, format } of opts.inputs) {
      const read = await readerFor(format);
      const input = path === '-' ? await stdinInput(io) : await openInput(io, path);
      for await (const batch of read(input, opts.read, ctx)) {
        if (batch.json) {
          const n = batch.lines.length;
          io.stats.rowsIn += n;
          await out.text(batch.json, n);
          io.stats.rowsOut += n;
          await rejects.flush();
          continue;
        }
        const recs = batch.records;
        io.stats.rowsIn += recs.length;
        if (opts.lineage) {
          for (let i = 0; i < recs.length; i++) {
            recs[i]._file = batch.name;
            recs[i]._line = batch.lines[i];
          }
        }
        await out.records(recs);
        io.stats.rowsOut += recs.length;
        await rejects.flush();
      }
    }
    rejects.checkRatio(io.stats.rowsIn);
    await out.end();
  } catch (err) {
    // The rejects written so far explain a data failure; keep them. Anything else: no file.
    if (classify(err) instanceof DataError) await rejects.close();
    else await rejects.abort();
    throw err;
  }
  await rejects.close();
  if (rejects.count > 0) io.stats.note = `rejects to ${opts.rejects}: ${rejects.summary()}`;
  return ExitCode.Ok;
}

/** stdin, gunzipped when it starts with the gzip magic bytes (`bx-extract -f csv - < x.csv.gz`). */
async function stdinInput(io: Io): Promise<NamedInput> {
  const it = io.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const first = await it.next();
  async function* all() {
    if (first.done) return;
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  let stream: Readable = Readable.from(all(), { objectMode: false });
  const head = first.done ? undefined : first.value;
  if (head && typeof head !== 'string' && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: READ_CHUNK });
    stream.on('error', (e) => gunzip.destroy(e));
    stream = stream.pipe(gunzip);
  }
  return { name: 'stdin', stream };
}

export const main = (argv: string[]) =>
  cli(
    'bx-extract',
    {
      describe,
      usage: '[options] [FILE|-]...',
      examples: [
        ['bx-extract sales.csv > sales.ndjson', 'CSV to NDJSON; the format comes from the extension'],
        ['bx-extract --lineage a.csv b.csv.gz | bx-load --table sales', 'several files in order, each record saying where it came from'],
        ['bx-extract --record-path rss.channel.item feed.xml', 'one record per <item> of an RSS feed'],
        ['zcat dump.gz | bx-extract -f tsv --no-header --columns id,name -', 'header-less TSV from stdin'],
      ],
      options,
      normalize,
      run,
      stream: 'out',
    },
    argv,
  );
