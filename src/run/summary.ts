// What cli() says and records when a command ends, and the hook the run log and the metrics file
// hang on (docs/monitoring.md). This module is loaded by every command: it imports nothing heavy.
// runlog.ts and metrics.ts are imported only when BX_RUN_LOG, --metrics-file or BX_METRICS_DIR
// asks for them.
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../lib/errors.js';
import type { RunStats } from '../lib/io.js';
import type { Logger } from '../lib/log.js';
import { redact } from '../lib/redact.js';

export type RunStatus = 'ok' | 'failed' | 'interrupted';

/** How a run ended, as cli() saw it. */
export interface RunOutcome {
  status: RunStatus;
  exitCode: number;
  /** The error line the user saw (redacted), for a failed run. */
  error?: string;
  ended: number;
}

/** One run of one command: a line of the run log, a row of bx_runs, the figures of the metrics. */
export interface RunRecord {
  run_id: string;
  pipeline_id: string;
  command: string;
  /** argv after the command name, every password redacted. */
  args: string[];
  host: string;
  user: string;
  pid: number;
  started: string;
  ended: string;
  seconds: number;
  status: RunStatus;
  exit_code: number;
  rows_in: number;
  rows_out: number;
  rejected: number;
  bytes_in: number;
  bytes_out: number;
  table?: string;
  checkpoint?: unknown;
  error?: string;
  note?: string;
}

/**
 * A run id: 64 random bits, hex. Random rather than a counter, so concurrent stages never clash.
 * Math.random (seeded per process from the OS's entropy) rather than node:crypto, whose import
 * alone took 40 ms of a loaded 2-core machine's start-up, for every command.
 */
export const newRunId = () => {
  const word = () =>
    Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return word() + word();
};

/** FNV-1a, 64 bits: a stable hash for the derived pipeline id, without loading node:crypto. */
function fnv64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, 'utf8')) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/**
 * BX_PIPELINE_ID when set (a Makefile, a cron line or a scheduler names the pipeline), else an id
 * every stage of one shell pipe derives alike without talking to the others: a hash of the boot
 * id, the process group (with its leader's start time, since pids are reused) and the parent
 * (the shell that forked the stages, with its start time). The group tells apart two pipes run
 * from one interactive shell (job control gives each its own group); the parent tells apart two
 * `sh -c '… | …'` started by one program (no job control: they share its group). Without /proc
 * (not Linux) each run is its own pipeline.
 */
export function pipelineIdFor(env: Record<string, string | undefined>, runId: string): string {
  const given = env.BX_PIPELINE_ID?.trim();
  if (given) return given;
  try {
    const self = statFields(readFileSync('/proc/self/stat', 'utf8'));
    const ppid = self[1];
    const pgrp = self[2];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const key = `${boot}/${pgrp}@${startTime(pgrp)}/${ppid}@${startTime(ppid)}`;
    return `p-${fnv64(key).slice(0, 12)}`;
  } catch {
    return `p-${runId}`;
  }
}

/** The fields of /proc/PID/stat after "(comm)": [state, ppid, pgrp, session, …]. comm may hold spaces and ")". */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Field 22 (starttime, clock ticks after boot); '' when the process is gone (a group leader that exited). */
function startTime(pid: string): string {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19];
  } catch {
    return '';
  }
}

export function rate(stats: RunStats, now = Date.now()): { seconds: number; perSecond: number } {
  const seconds = (now - stats.started) / 1000;
  const rows = Math.max(stats.rowsIn, stats.rowsOut);
  return { seconds, perSecond: seconds > 0 ? Math.round(rows / seconds) : rows };
}

/** 1234567 → "1.2 MB": the progress line's byte counts. */
export function bytesText(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const int = (n: number) => n.toLocaleString('en-US');

/** The progress line: rows, rows/s, bytes, elapsed, and % done when the input's size is known. */
export function progressText(stats: RunStats, totalBytes = stats.totalBytes, now = Date.now()): string {
  const r = rate(stats, now);
  const parts = [`${int(stats.rowsIn)} rows in, ${int(stats.rowsOut)} out`];
  if (stats.rejected > 0) parts.push(`${int(stats.rejected)} rejected`);
  parts.push(`${int(r.perSecond)} rows/s`);
  const bytesIn = stats.bytesIn;
  const bytesOut = stats.bytesOut;
  if (bytesIn > 0 || bytesOut > 0) parts.push(`${bytesText(bytesIn)} in, ${bytesText(bytesOut)} out`);
  parts.push(`${r.seconds.toFixed(1)} s`);
  if (totalBytes && totalBytes > 0) parts.push(`${Math.min(100, Math.floor((100 * bytesIn) / totalBytes))}%`);
  return parts.join(', ');
}

/** The closing summary line (human), or the `event: summary` JSON line. */
export function summarize(log: Logger, stats: RunStats, outcome: RunOutcome) {
  const r = rate(stats, outcome.ended);
  const word = outcome.status === 'ok' ? 'done' : outcome.status;
  const text = `${word}: ${stats.rowsIn} rows in, ${stats.rowsOut} out, ${stats.rejected} rejected, ${r.seconds.toFixed(2)} s, ${r.perSecond} rows/s${stats.note ? `; ${stats.note}` : ''}`;
  log.info(text, {
    event: 'summary',
    status: outcome.status,
    exit_code: outcome.exitCode,
    rows_in: stats.rowsIn,
    rows_out: stats.rowsOut,
    rejected: stats.rejected,
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    seconds: Number(r.seconds.toFixed(3)),
    rows_per_second: r.perSecond,
    ...(stats.table ? { table: stats.table } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  });
}

/**
 * What to do about a failure, by exit code: the last line on stderr, for whoever reads a cron
 * mail or a job log. Each starts with "try", as the usage error's `try 'bx-x --help'` does.
 */
export const HINTS: Partial<Record<number, string>> = {
  [ExitCode.DataErr]:
    'try fixing the line or field named above, or set bad records aside with --rejects FILE (exit 65: data error)',
  [ExitCode.NoInput]: 'try again once the input named above exists and is readable (exit 66: input missing)',
  [ExitCode.Unavailable]: 'try again later, once the service named above is reachable (exit 69: service unavailable)',
  [ExitCode.CantCreate]: 'try again after fixing the output path or its permissions (exit 73: cannot create output)',
  [ExitCode.IoErr]: 'try again after freeing space or fixing the device (exit 74: I/O error)',
  [ExitCode.TempFail]: 'try again later: a temporary failure, worth a retry (exit 75)',
  [ExitCode.NoPerm]: 'try again with a role or user that has the rights named above (exit 77: permission denied)',
  [ExitCode.Config]:
    'try fixing the configuration named above; a retry alone will not help (exit 78: configuration error)',
};

/**
 * The codes whose hint goes to stderr as a line of its own. 65 and 78 are left out: their
 * message names the line, field or setting already, and tests hold those to exactly one line
 * (test/lib/foundation.test.ts, test/e2e/schema.test.ts). Their hints still go into the JSON
 * error line and the run log.
 */
export const HINT_LINE_CODES = new Set<number>([
  ExitCode.NoInput,
  ExitCode.Unavailable,
  ExitCode.CantCreate,
  ExitCode.IoErr,
  ExitCode.TempFail,
  ExitCode.NoPerm,
]);

/** What the run log, the metrics and the summary need to know about one command's run. */
export interface RunContext {
  prog: string;
  argv: string[];
  env: Record<string, string | undefined>;
  stats: RunStats;
  log: Logger;
  /** --metrics-file, when given. */
  metricsFile?: string;
}

/** Does this run write a run record or metrics? (Decides whether the ids are worth deriving and signals worth catching.) */
export const monitored = (env: Record<string, string | undefined>, metricsFile?: string) =>
  Boolean(env.BX_RUN_LOG || env.BX_METRICS_DIR || metricsFile);

export function runRecord(ctx: RunContext, outcome: RunOutcome): RunRecord {
  const s = ctx.stats;
  let user = '';
  try {
    user = userInfo().username;
  } catch {
    user = ctx.env.USER ?? '';
  }
  const rec: RunRecord = {
    run_id: s.runId,
    pipeline_id: s.pipelineId,
    command: ctx.prog,
    args: ctx.argv.map(redact),
    host: hostname(),
    user,
    pid: process.pid,
    started: new Date(s.started).toISOString(),
    ended: new Date(outcome.ended).toISOString(),
    seconds: Number(((outcome.ended - s.started) / 1000).toFixed(3)),
    status: outcome.status,
    exit_code: outcome.exitCode,
    rows_in: s.rowsIn,
    rows_out: s.rowsOut,
    rejected: s.rejected,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
  };
  if (s.table) rec.table = s.table;
  if (s.checkpoint !== undefined) rec.checkpoint = s.checkpoint;
  if (outcome.error) rec.error = redact(outcome.error);
  if (s.note) rec.note = redact(s.note);
  return rec;
}

/** `<dir>/bx_<command>_<pipeline>.prom`, names cut down to what a file name and a glob like. */
export function metricsPathIn(dir: string, prog: string, pipeline: string): string {
  const safe = (x: string) => x.replace(/^bx-/, '').replace(/[^A-Za-z0-9_.-]+/g, '_');
  return join(dir, `bx_${safe(prog)}_${safe(pipeline)}.prom`);
}

/**
 * The hook: appends the run record (BX_RUN_LOG) and writes the metrics file. Neither may fail
 * the job: a failure is one warning on stderr, and the run's own exit code stands.
 */
export async function recordRun(ctx: RunContext, outcome: RunOutcome): Promise<void> {
  const { env, log } = ctx;
  if (!monitored(env, ctx.metricsFile)) return;
  const rec = runRecord(ctx, outcome);
  const jobs: Promise<void>[] = [];
  if (env.BX_RUN_LOG) {
    jobs.push(
      import('./runlog.js')
        .then((m) => m.appendRun(env.BX_RUN_LOG as string, rec, env))
        .catch((err) =>
          log.warn(
            `run log ${redact(env.BX_RUN_LOG as string)}: cannot record this run (${errText(err)}); the run itself is not affected`,
          ),
        ),
    );
  }
  const paths: string[] = [];
  if (ctx.metricsFile) paths.push(ctx.metricsFile);
  // A derived pipeline id is new on every run: as a file name or a label it would leave one file
  // and one time series per run. Metrics name the pipeline only when BX_PIPELINE_ID does.
  const pipeline = env.BX_PIPELINE_ID?.trim() || 'adhoc';
  if (env.BX_METRICS_DIR) paths.push(metricsPathIn(env.BX_METRICS_DIR, ctx.prog, pipeline));
  for (const path of paths) {
    jobs.push(
      import('./metrics.js')
        .then((m) => m.writeMetrics(path, rec, pipeline))
        .catch((err) =>
          log.warn(`metrics file ${path}: cannot write it (${errText(err)}); the run itself is not affected`),
        ),
    );
  }
  await Promise.all(jobs);
}

const errText = (err: unknown) => redact((err instanceof Error ? err.message : String(err)).replace(/\r?\n/g, ' '));
