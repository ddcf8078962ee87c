import { once } from 'node:events';
import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../run/cli.js';
import { ConfigError, ExitCode, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { redact } from '../lib/redact.js';
import type { RunFilter } from '../run/runlog.js';
import type { RunRecord, RunStatus } from '../run/summary.js';

export const describe =
  'Show what ran, when and how it ended, from the run log (BX_RUN_LOG: an NDJSON file or a postgres:// URL)';

export interface RunsOptions {
  log?: string;
  filter: RunFilter;
  json: boolean;
  summary: boolean;
  limit: number;
}

export const options = (y: Argv) =>
  y
    .strict()
    .option('log', {
      type: 'string',
      describe: 'the run log: an NDJSON file or a postgres:// URL (?table=schema.name)',
      defaultDescription: 'BX_RUN_LOG',
    })
    .option('failed', { type: 'boolean', describe: 'only runs that failed or were interrupted' })
    .option('since', {
      type: 'string',
      describe: 'only runs since 30m, 24h, 7d … ago, or since an ISO date (2026-12-01, 2026-12-01T06:00Z)',
      defaultDescription: '24h with --summary, else all',
    })
    .option('pipeline', { type: 'string', describe: 'only the runs of this pipeline id' })
    .option('command', { type: 'string', describe: 'only the runs of this command (load or bx-load)' })
    .option('json', { type: 'boolean', describe: 'NDJSON, one run (or pipeline) per line, instead of a table' })
    .option('summary', {
      type: 'boolean',
      describe: 'one line per pipeline (its last run): stages, status, duration, rows; exit 1 if one failed',
    })
    .option('limit', {
      type: 'number',
      default: 50,
      describe: 'rows of the table at most (0: all); --json prints all',
    });

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** `30m`, `24h`, `7d`, or an ISO date/time: the moment a run must have started (or ended) after. */
export function parseSince(text: string, now = Date.now()): Date {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(text.trim());
  if (rel) return new Date(now - Number(rel[1]) * UNITS[rel[2].toLowerCase()] * 1000);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const t = Date.parse(text.trim().replace(' ', 'T'));
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new UsageError(
    `--since ${JSON.stringify(text)}: expected a duration such as 30m, 24h or 7d, or an ISO date such as 2026-12-01`,
  );
}

export function normalize(a: RawArgs): RunsOptions {
  if (a._.length > 0)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(String(a._[0]))}; the log is given by --log or BX_RUN_LOG`,
    );
  const limit = Number(a.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit: expected a whole number, got "${a.limit}"`);
  const summary = Boolean(a.summary);
  const sinceText = a.since === undefined ? (summary ? '24h' : undefined) : String(a.since);
  return {
    log: a.log === undefined ? undefined : String(a.log),
    filter: {
      since: sinceText === undefined ? undefined : parseSince(sinceText),
      failed: Boolean(a.failed),
      pipeline: a.pipeline === undefined ? undefined : String(a.pipeline),
      command: a.command === undefined ? undefined : String(a.command),
    },
    json: Boolean(a.json),
    summary,
    limit,
  };
}

/** One pipeline's last execution, as --summary shows it. */
export interface PipelineSummary {
  pipeline_id: string;
  started: string;
  ended: string;
  stages: number;
  commands: string[];
  status: RunStatus;
  seconds: number;
  rows: number;
  rejected: number;
  failed?: { command: string; exit_code: number; error?: string };
}

/**
 * Runs of one pipeline id that overlap, or start within this long after the ones before them
 * ended, are one execution. A pipe's stages overlap; a Makefile's follow each other within
 * milliseconds; the same id run again by tomorrow's cron is a new execution.
 */
export const EXECUTION_GAP_MS = 60_000;

export function summarizePipelines(runs: RunRecord[]): PipelineSummary[] {
  const by = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const list = by.get(r.pipeline_id);
    if (list) list.push(r);
    else by.set(r.pipeline_id, [r]);
  }
  const out: PipelineSummary[] = [];
  for (const [id, list] of by) {
    list.sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
    // Walk back from the newest run while the runs still touch each other.
    let first = list.length - 1;
    let spanStart = Date.parse(list[first].started);
    for (let i = list.length - 2; i >= 0; i--) {
      if (Date.parse(list[i].ended) + EXECUTION_GAP_MS < spanStart) break;
      first = i;
      spanStart = Math.min(spanStart, Date.parse(list[i].started));
    }
    const exec = list.slice(first);
    const started = Math.min(...exec.map((r) => Date.parse(r.started)));
    const ended = Math.max(...exec.map((r) => Date.parse(r.ended)));
    const last = exec.reduce((a, b) => (Date.parse(b.ended) >= Date.parse(a.ended) ? b : a));
    const bad = exec.find((r) => r.status === 'failed') ?? exec.find((r) => r.status === 'interrupted');
    out.push({
      pipeline_id: id,
      started: new Date(started).toISOString(),
      ended: new Date(ended).toISOString(),
      stages: exec.length,
      commands: exec.map((r) => r.command),
      status: bad ? bad.status : 'ok',
      seconds: Number(((ended - started) / 1000).toFixed(3)),
      rows: last.rows_out,
      rejected: exec.reduce((n, r) => n + (r.rejected ?? 0), 0),
      ...(bad
        ? { failed: { command: bad.command, exit_code: bad.exit_code, ...(bad.error ? { error: bad.error } : {}) } }
        : {}),
    });
  }
  return out.sort((a, b) => (a.started < b.started ? 1 : -1));
}

const when = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');
const secs = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : String(Math.round(n)));

/** A plain text table: columns padded, the last one cut to the terminal's width. */
export function table(head: string[], rows: string[][], width: number, right: Set<number>): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => {
    const text = cells
      .map((c, i) => (i === cells.length - 1 ? c : right.has(i) ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
    return text.length > width ? text.slice(0, Math.max(width - 1, 0)) + '…' : text;
  };
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

async function write(io: Io, text: string) {
  if (!io.stdout.write(text)) await once(io.stdout, 'drain');
}

export async function run(io: Io, opts: RunsOptions): Promise<ExitCode> {
  const target = opts.log ?? io.env.BX_RUN_LOG;
  if (!target) throw new ConfigError('no run log: give --log FILE (or a postgres:// URL) or set BX_RUN_LOG');
  const { readRuns } = await import('../run/runlog.js');
  const { runs, skipped } = await readRuns(target, opts.filter, io.env);
  if (skipped > 0)
    io.log.warn(
      `${redact(target)}: ${skipped === 1 ? '1 line is not a run record' : `${skipped} lines are not run records`}; skipped`,
    );
  const width = (io.stdout as { columns?: number }).columns ?? 200;
  if (opts.summary) {
    const pipes = summarizePipelines(runs);
    if (opts.json) for (const p of pipes) await write(io, JSON.stringify(p) + '\n');
    else {
      const rows = pipes.map((p) => [
        p.pipeline_id,
        when(p.started),
        String(p.stages),
        p.status,
        secs(p.seconds),
        String(p.rows),
        String(p.rejected),
        p.failed
          ? `${p.failed.command} exit ${p.failed.exit_code}${p.failed.error ? `: ${p.failed.error}` : ''}`
          : p.commands.join(' | '),
      ]);
      await write(
        io,
        table(
          ['PIPELINE', 'STARTED', 'STAGES', 'STATUS', 'SECONDS', 'ROWS', 'REJECTED', 'STAGES RUN / FAILURE'],
          rows,
          width,
          new Set([2, 4, 5, 6]),
        ),
      );
    }
    const bad = pipes.filter((p) => p.status !== 'ok');
    if (bad.length === 0 && pipes.length === 0)
      io.log.info(
        `no runs in the run log${opts.filter.since ? ` since ${when(opts.filter.since.toISOString())}` : ''}`,
      );
    // A monitoring check calls this: 1 when the last run of some pipeline did not end well.
    return bad.length > 0 ? (1 as ExitCode) : ExitCode.Ok;
  }
  if (opts.json) {
    for (const r of runs) await write(io, JSON.stringify(r) + '\n');
    return ExitCode.Ok;
  }
  const shown = opts.limit === 0 ? runs : runs.slice(0, opts.limit);
  const rows = shown.map((r) => [
    when(r.started),
    r.command,
    r.status,
    String(r.exit_code),
    String(r.rows_in),
    String(r.rows_out),
    String(r.rejected),
    secs(r.seconds),
    r.pipeline_id,
    r.run_id,
    r.error ?? r.note ?? '',
  ]);
  await write(
    io,
    table(
      ['STARTED', 'COMMAND', 'STATUS', 'EXIT', 'IN', 'OUT', 'REJECTED', 'SECONDS', 'PIPELINE', 'RUN', 'MESSAGE'],
      rows,
      width,
      new Set([3, 4, 5, 6, 7]),
    ),
  );
  if (shown.length < runs.length)
    io.log.info(`${runs.length - shown.length} older runs not shown (--limit 0 shows all)`);
  if (runs.length === 0) io.log.info('no runs match');
  return ExitCode.Ok;
}

export const main = (argv: string[]) =>
  cli(
    'bx-runs',
    {
      describe,
      usage: '[options]',
      examples: [
        ['bx-runs --summary', 'one line per pipeline of the last 24 hours; exit 1 if the last run of one failed'],
        ['bx-runs --failed --since 7d', 'the runs that failed this week, newest first'],
        ['bx-runs --pipeline nightly-sales --json | jq .rows_out', "one pipeline's runs as NDJSON"],
        ['bx-runs --log postgres://etl@db/ops --command load', 'read the bx_runs table instead of a file'],
      ],
      options,
      normalize,
      run,
      stream: 'none',
      record: false,
    },
    argv,
  );
