// --metrics-file / BX_METRICS_DIR: a run's figures in the Prometheus text format, for
// node_exporter's textfile collector (NEXT-STACK.md §6: hand-written, about thirty lines of format;
// no prom-client). Rules the collector enforces: every metric has HELP and TYPE, counters end in
// _total, label values escape \ " and newline, and no sample carries a timestamp (the collector
// rejects the whole file if one does) — the last success time is a gauge instead.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/atomic-file.js';
import type { RunRecord, RunStatus } from './summary.js';

export const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
export const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

type Kind = 'counter' | 'gauge';
interface Metric {
  name: string;
  kind: Kind;
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

const COUNTERS = [
  ['bx_rows_in_total', 'Records read, summed over the runs that wrote this file.', 'rows_in'],
  ['bx_rows_out_total', 'Records written, summed over the runs that wrote this file.', 'rows_out'],
  [
    'bx_rejected_total',
    'Records rejected (rejects file or failed rule), summed over the runs that wrote this file.',
    'rejected',
  ],
  ['bx_bytes_in_total', 'Bytes read from the inputs, summed over the runs that wrote this file.', 'bytes_in'],
  ['bx_bytes_out_total', 'Bytes written to stdout, summed over the runs that wrote this file.', 'bytes_out'],
] as const;

const STATUSES: RunStatus[] = ['ok', 'failed', 'interrupted'];

/** What the previous file said: the counters go on from there, and the last success is kept. */
export interface Previous {
  counters: Record<string, number>;
  runs: Record<string, number>;
  lastSuccess: number;
}

/** Only figures of the same command and pipeline go on: another job's file starts afresh (a counter reset). */
export function parsePrevious(text: string, command: string, pipeline: string): Previous {
  const prev: Previous = { counters: {}, runs: {}, lastSuccess: 0 };
  const same = `{command="${escapeLabel(command)}",pipeline="${escapeLabel(pipeline)}",`;
  for (const line of text.split('\n')) {
    const m = /^(bx_[a-z_]+)(\{.*\})? ([^ ]+)$/.exec(line);
    if (!m || !(m[2] ?? '').startsWith(same)) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    if (m[1] === 'bx_runs_total') {
      const s = /(?:^\{|,)status="([a-z]+)"/.exec(m[2] ?? '');
      if (s) prev.runs[s[1]] = value;
    } else if (m[1] === 'bx_last_success_timestamp_seconds') prev.lastSuccess = value;
    else if (m[1].endsWith('_total')) prev.counters[m[1]] = value;
  }
  return prev;
}

/** The file's text for this run, going on from `prev`. */
export function renderMetrics(
  rec: RunRecord,
  pipeline: string,
  prev: Previous = { counters: {}, runs: {}, lastSuccess: 0 },
): string {
  const labels = { command: rec.command, pipeline, table: rec.table ?? '' };
  const ended = Date.parse(rec.ended) / 1000;
  const metrics: Metric[] = [];
  metrics.push({
    name: 'bx_runs_total',
    kind: 'counter',
    help: 'Runs that wrote this file, by how they ended.',
    samples: STATUSES.map((status) => ({
      labels: { ...labels, status },
      value: (prev.runs[status] ?? 0) + (rec.status === status ? 1 : 0),
    })),
  });
  for (const [name, help, field] of COUNTERS) {
    metrics.push({
      name,
      kind: 'counter',
      help,
      samples: [{ labels, value: (prev.counters[name] ?? 0) + (rec[field] ?? 0) }],
    });
  }
  const gauge = (name: string, help: string, value: number) =>
    metrics.push({ name, kind: 'gauge', help, samples: [{ labels, value }] });
  gauge('bx_last_run_rows_in', 'Records read by the last run.', rec.rows_in);
  gauge('bx_last_run_rows_out', 'Records written by the last run.', rec.rows_out);
  gauge('bx_last_run_rejected', 'Records rejected by the last run.', rec.rejected);
  gauge('bx_last_run_duration_seconds', 'How long the last run took.', rec.seconds);
  gauge(
    'bx_last_run_exit_code',
    'Exit status of the last run (0 ok, sysexits codes otherwise, 128+n for signal n).',
    rec.exit_code,
  );
  gauge('bx_last_run_timestamp_seconds', 'When the last run ended, in seconds since the Unix epoch.', ended);
  gauge(
    'bx_last_success_timestamp_seconds',
    'When the last successful run ended, in seconds since the Unix epoch (0: none yet).',
    rec.status === 'ok' ? ended : prev.lastSuccess,
  );
  let out = '';
  for (const m of metrics) {
    out += `# HELP ${m.name} ${escapeHelp(m.help)}\n# TYPE ${m.name} ${m.kind}\n`;
    for (const s of m.samples) out += `${m.name}${labelText(s.labels)} ${numberText(s.value)}\n`;
  }
  return out;
}

const labelText = (l?: Record<string, string>) =>
  l && Object.keys(l).length
    ? `{${Object.entries(l)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',')}}`
    : '';

const numberText = (v: number) => (Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf');

/** Writes `path` atomically (temp file + rename, as the textfile collector asks), going on from the file there. */
export async function writeMetrics(path: string, rec: RunRecord, pipeline: string): Promise<void> {
  const before = await readFile(path, 'utf8').catch(() => '');
  await writeFileAtomic(path, renderMetrics(rec, pipeline, parsePrevious(before, rec.command, pipeline)));
}
