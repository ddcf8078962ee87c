import type { Argv } from 'yargs';
import { once } from 'node:events';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { DataError, ExitCode, PipeClosed, UnavailableError, UsageError, type Origin } from '../lib/errors.js';
import { openInput, type Io } from '../lib/io.js';
import { keyOrderOf } from '../lib/json.js';
import { splitLines } from '../lib/lines.js';
import { parseRecord, readRecordBatches } from '../lib/records.js';
import type { Batch, Rec } from '../lib/stream.js';
import { decodeText } from '../lib/text.js';
import { cli, type CommandSpec, type RawArgs } from '../run/cli.js';
import type { SourceRequest } from '../sources/index.js';
import { argvSections, readSpecFile, scanArgv, type ArgvSections } from '../report/args.js';
import { renderHtml } from '../report/html.js';
import {
  inputKey,
  inputName,
  SECTION_KINDS,
  type InputRef,
  type Report,
  type ReportSpec,
  type SectionData,
  type SectionSpec,
} from '../report/model.js';
import { renderMarkdown, renderTable } from '../report/text.js';
import { decimalText } from '../report/values.js';

export const describe =
  'Turn NDJSON records into a report people read: one self-contained HTML file (inline SVG bar, horizontal bar and line charts, tables; no script, no network), GitHub Markdown, or a terminal table.';

export type OutputFormat = 'html' | 'md' | 'table';

export interface ReportOptions extends ReportSpec {
  format: OutputFormat;
  output: string | undefined;
  runSummary: string | undefined;
  db: string | undefined;
}

export const options = (y: Argv) =>
  y
    // FILEs are positional and belong to the --section before them: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)
    .positional('file', {
      describe: 'NDJSON input of the section it follows; - or nothing for stdin (several sections may share it)',
    })
    .option('section', {
      type: 'string',
      array: true,
      describe:
        'start a section with this heading; the --chart, --x, --y, --title, --query and FILEs after it belong to it (repeatable)',
    })
    .option('chart', {
      type: 'string',
      array: true,
      choices: [...SECTION_KINDS],
      describe:
        "the section's view: bar, hbar (horizontal bars), line (x is time or an order), table. Default: bar with --x and --y, else table",
    })
    .option('x', {
      type: 'string',
      array: true,
      describe: 'the field on the x axis: category (bar, hbar) or time/order (line)',
    })
    .option('y', { type: 'string', array: true, describe: 'the numeric field the chart draws' })
    .option('title', {
      type: 'string',
      array: true,
      describe: 'before any --section: the report title (default "Report"); after one: a line under its heading',
    })
    .option('spec', {
      type: 'string',
      describe:
        'JSON report spec for many sections: {"title", "maxRows", "raw", "sections": [{"section", "chart", "x", "y", "title", "file"|"files"|"query"}]}',
    })
    .option('query', {
      type: 'string',
      array: true,
      describe: 'SQL whose rows feed the section (PostgreSQL source; MySQL with a mysql:// --db)',
    })
    .option('db', { type: 'string', describe: 'database URL for --query (default DATABASE_URL, then PG* variables)' })
    .option('format', {
      alias: 'f',
      type: 'string',
      choices: ['html', 'md', 'table'],
      default: 'html',
      describe:
        'html (self-contained page), md (GitHub Markdown tables, no charts), table (aligned text, fits a terminal)',
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      describe: 'write the report here, atomically (temp file + rename); default stdout',
    })
    .option('max-rows', {
      type: 'number',
      default: 1000,
      describe: 'rows shown per section (table rows, chart points); the rest are counted in a note',
    })
    .option('run-summary', {
      type: 'string',
      describe:
        'NDJSON run records (BX_RUN_LOG lines: command, status, rows_in, rows_out, rejected, seconds) for the footer',
    })
    .option('raw', {
      type: 'string',
      array: true,
      describe:
        'fields whose numbers are shown as written, without thousands separators (comma-separated); ids, codes and years are found by name',
    });

/**
 * The argv tokens, when known, decide which --chart/--x/--y/FILE belong to which --section.
 * Without them (normalize called on parsed args alone) the i-th --chart, --x and --y go to the
 * i-th --section, and FILEs are allowed only with one section.
 */
export function normalize(a: RawArgs, argv?: string[]): ReportOptions {
  const maxRows = a['max-rows'];
  if (!Number.isInteger(maxRows) || maxRows < 1)
    throw new UsageError(`--max-rows: expected a positive integer, got ${a['max-rows']}`);
  const scan = argv ? scanArgv(argv) : scanParsed(a);
  const sections: SectionSpec[] = [];
  let title = scan.title;
  let rows = maxRows as number;
  const raw = new Set<string>(
    (a.raw ?? [])
      .flatMap((r: string) => String(r).split(','))
      .map((s: string) => s.trim())
      .filter(Boolean),
  );
  if (a.spec !== undefined) {
    const sf = readSpecFile(String(a.spec));
    sections.push(...sf.sections);
    title ??= sf.title;
    // The spec's maxRows holds unless --max-rows was given.
    if (sf.maxRows !== undefined && !(argv ?? []).some((t) => t === '--max-rows' || t.startsWith('--max-rows=')))
      rows = sf.maxRows;
    for (const f of sf.raw ?? []) raw.add(f);
  }
  if (a.spec === undefined || scan.sections.length > 0 || scan.defaults.inputs.length > 0)
    sections.push(...argvSections(scan));
  if (a.db !== undefined && !sections.some((s) => s.inputs.some((i) => i.kind === 'query')))
    throw new UsageError('--db is for --query; no section has a --query');
  return {
    title: title ?? 'Report',
    sections,
    maxRows: rows,
    raw,
    format: a.format as OutputFormat,
    output: a.output === '-' ? undefined : a.output,
    runSummary: a['run-summary'],
    db: a.db,
  };
}

function scanParsed(a: RawArgs): ArgvSections {
  const list = (k: string): string[] => (a[k] === undefined ? [] : [a[k]].flat().map(String));
  const [secs, charts, xs, ys, titles, queries] = ['section', 'chart', 'x', 'y', 'title', 'query'].map(list);
  const files = (a._ ?? []).map(String);
  if (secs.length > 1 && (files.length > 0 || queries.length > 0))
    throw new UsageError('several sections with FILEs or --query: pass the argv in order (bx-report does)');
  const inputs: InputRef[] = [
    ...files.map((path) => ({ kind: 'file' as const, path })),
    ...queries.map((sql) => ({ kind: 'query' as const, sql })),
  ];
  if (secs.length === 0)
    return { title: titles[0], defaults: { chart: charts[0], x: xs[0], y: ys[0], inputs }, sections: [] };
  return {
    title: titles.length > secs.length ? titles[0] : undefined,
    defaults: { inputs: [] },
    sections: secs.map((heading, i) => ({
      heading,
      chart: charts[i],
      x: xs[i],
      y: ys[i],
      inputs: i === 0 ? inputs : [],
    })),
  };
}

/** One section's rows as they arrive: the first maxRows kept, every one counted and checked. */
class Collector {
  readonly rows: Rec[] = [];
  total = 0;
  skipped = 0;
  private readonly fields = new Map<string, true>();
  private seenX = false;
  private seenY = false;
  /** Where the first record came from, for a "no such field" error. */
  first: Origin | undefined;

  constructor(
    readonly spec: SectionSpec,
    private readonly maxRows: number,
  ) {}

  add(rec: Rec, at: Origin) {
    this.total++;
    this.first ??= at;
    const { x, y } = this.spec;
    if (x !== undefined) {
      if (!this.seenX && Object.hasOwn(rec, x)) this.seenX = true;
      if (!this.seenY && Object.hasOwn(rec, y!)) this.seenY = true;
    }
    if (this.rows.length >= this.maxRows) return;
    for (const k of keyOrderOf(rec) ?? Object.keys(rec)) if (!this.fields.has(k)) this.fields.set(k, true);
    if (x !== undefined) {
      const v = rec[y!];
      const xv = rec[x];
      if (v === null || v === undefined || v === '' || xv === null || xv === undefined) this.skipped++;
      else if (decimalText(v) === undefined) {
        throw new DataError(
          at,
          y,
          `--y of section "${this.spec.heading}" needs a number, got ${JSON.stringify(v).slice(0, 80)}`,
        );
      }
    }
    this.rows.push(rec);
  }

  finish(sources: string[]): SectionData {
    const { x, y } = this.spec;
    if (x !== undefined && this.total > 0) {
      for (const [flag, field, seen] of [
        ['--x', x, this.seenX],
        ['--y', y!, this.seenY],
      ] as const) {
        if (!seen) {
          const known = [...this.fields.keys()];
          throw new DataError(
            this.first,
            field,
            `no such field in any record (${flag} of section "${this.spec.heading}"); the records have: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`,
          );
        }
      }
    }
    return {
      spec: this.spec,
      rows: this.rows,
      total: this.total,
      fields: [...this.fields.keys()],
      skipped: this.skipped,
      sources,
    };
  }
}

export async function run(io: Io, opts: ReportOptions): Promise<ExitCode> {
  // Each input is read once, whatever the number of sections that show it (stdin can be read once only).
  const byInput = new Map<string, { ref: InputRef; collectors: Collector[] }>();
  const collectors = opts.sections.map((s) => new Collector(s, opts.maxRows));
  opts.sections.forEach((s, i) => {
    for (const ref of s.inputs) {
      const k = inputKey(ref);
      const e = byInput.get(k) ?? { ref, collectors: [] };
      if (!e.collectors.includes(collectors[i])) e.collectors.push(collectors[i]);
      byInput.set(k, e);
    }
  });
  for (const { ref, collectors: cs } of byInput.values()) {
    for await (const b of readInput(io, opts, ref)) {
      io.stats.rowsIn += b.records.length;
      for (const c of cs)
        for (let i = 0; i < b.records.length; i++) c.add(b.records[i], { file: b.name, line: b.lines[i] });
    }
  }
  const sections = collectors.map((c, i) => c.finish(opts.sections[i].inputs.map(inputName)));
  const runs =
    opts.runSummary !== undefined ? { file: opts.runSummary, records: await readRuns(io, opts.runSummary) } : undefined;
  const report: Report = {
    title: opts.title,
    generated: generatedAt(io.env),
    sections,
    runs,
    maxRows: opts.maxRows,
    raw: opts.raw,
  };

  const toTty = opts.output === undefined && Boolean((io.stdout as { isTTY?: boolean }).isTTY);
  const text =
    opts.format === 'md'
      ? renderMarkdown(report)
      : opts.format === 'table'
        ? renderTable(report, {
            columns: toTty ? ((io.stdout as { columns?: number }).columns ?? 80) : undefined,
            color: toTty && io.env.NO_COLOR === undefined,
          })
        : renderHtml(report);
  io.stats.rowsOut = sections.reduce((n, s) => n + s.rows.length, 0);
  // Nothing is created before every input has been read and the report rendered: a failed run
  // leaves no file, and an older report at the same path stays whole (temp + rename).
  if (opts.output !== undefined) await writeReport(opts.output, text);
  else await writeOut(io, text);
  const cut = sections.filter((s) => s.total > s.rows.length).length;
  io.stats.note = `${sections.length} ${sections.length === 1 ? 'section' : 'sections'}, ${Buffer.byteLength(text)} bytes of ${opts.format}${opts.output ? ` in ${opts.output}` : ''}${cut ? `; ${cut} cut at --max-rows ${opts.maxRows}` : ''}`;
  return ExitCode.Ok;
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org) fixes the "generated" time, so that a report is byte-stable. */
function generatedAt(env: Record<string, string | undefined>): Date {
  const e = env.SOURCE_DATE_EPOCH;
  if (e !== undefined && /^\d+$/.test(e)) return new Date(Number(e) * 1000);
  return new Date();
}

async function* readInput(
  io: Io,
  opts: ReportOptions,
  ref: InputRef,
): AsyncGenerator<{ name: string; lines: number[]; records: Rec[] }> {
  if (ref.kind === 'file') {
    const input = await openInput(io, ref.path);
    yield* readRecordBatches(input.stream, input.name, { expectSealed: io.seal.expectSealed });
    return;
  }
  const { openSource } = await import('../sources/index.js');
  const req: SourceRequest = {
    target: opts.db ?? '',
    read: {
      encoding: 'utf8',
      header: true,
      skipLines: 0,
      stripNs: false,
      maxRecordSize: 64 * 1024 * 1024,
      maxDepth: 1000,
    },
    sql: { query: ref.sql, db: opts.db },
  };
  let source;
  try {
    source = await openSource(req, io);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && /sources\/(postgres|mysql)\.js/.test(e.message)) {
      throw new UnavailableError(
        `--query: this build has no ${/mysql/.test(e.message) ? 'MySQL' : 'PostgreSQL'} source (src/sources/${/mysql/.test(e.message) ? 'mysql' : 'postgres'}.ts)`,
      );
    }
    throw err;
  }
  const ctx = {
    log: io.log,
    signal: io.signal,
    reject: (_rec: unknown, failure: { message?: string; field?: string }, at: Origin) => {
      throw new DataError(at, failure.field, failure.message ?? 'bad record');
    },
  };
  for await (const b of source.batches(ctx as never) as AsyncIterable<Batch>) {
    if (b.records.length > 0 || !b.ndjson) yield b;
    else yield { name: b.name, lines: b.lines, records: parseNdjson(b.ndjson, b.name, b.lines) };
  }
}

/** A bytes-only batch (one NDJSON line per record) as records. */
function parseNdjson(buf: Buffer, name: string, lines: number[]): Rec[] {
  const texts = buf.toString('utf8').split('\n');
  if (texts[texts.length - 1] === '') texts.pop();
  return texts.map((t, i) => parseRecord(t, { file: name, line: lines[i] ?? i + 1 }));
}

/** The run records for the footer: one JSON object per line; a bad line is a DataError at its line. */
async function readRuns(io: Io, path: string): Promise<Rec[]> {
  const input = await openInput(io, path);
  const out: Rec[] = [];
  for await (const batch of splitLines(decodeText(input.stream, input.name), input.name)) {
    batch.lines.forEach((text, i) => {
      if (text.trim() === '') return;
      out.push(parseRecord(text, { file: input.name, line: batch.first + i }));
    });
  }
  return out;
}

/** The report file, through lib/atomic-file (temp name beside it, fsync, rename). */
const writeReport = (path: string, text: string) => writeFileAtomic(path, text, { what: 'the report' });

async function writeOut(io: Io, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    io.stdout.write(text, (err) => {
      if (!err) resolve();
      else if (
        (err as NodeJS.ErrnoException).code === 'EPIPE' ||
        (err as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED'
      )
        reject(new PipeClosed());
      else reject(err);
    });
  });
}

export const spec: CommandSpec<ReportOptions> = {
  describe,
  usage: '[options] [--section HEADING [--chart KIND] [--x F --y F] [FILE|-]...]...',
  examples: [
    [
      'bx-extract sales.csv | bx-agg --by Category --agg revenue=sum:Sales | bx-report --title Sales --section "Revenue by category" --chart bar --x Category --y revenue -o report.html',
      'one bar chart, exact totals in its table',
    ],
    [
      'bx-report --section "By day" --chart line --x day --y revenue daily.ndjson --section "Top products" --chart hbar --x product --y revenue top.ndjson -o r.html',
      'two sections, each from its own file',
    ],
    [
      'bx-report --spec report.json --run-summary runs.ndjson -o r.html',
      'many sections from a spec file, run counts in the footer',
    ],
    [
      'bx-agg --by Region --agg revenue=sum:Sales s.ndjson | bx-report --format table',
      'an aligned table in the terminal',
    ],
    [
      'bx-report --format md --section Totals totals.ndjson > totals.md',
      'GitHub Markdown for a pull request or a wiki',
    ],
  ],
  options,
  normalize: (a) => normalize(a),
  run,
  stream: 'in',
};

export const main = (argv: string[]) =>
  cli('bx-report', { ...spec, normalize: (a: RawArgs) => normalize(a, argv) }, argv);
