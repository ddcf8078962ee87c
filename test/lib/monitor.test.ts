// The monitoring pieces one by one: metrics text and its escaping, counters going on across
// runs, --since, executions of a reused pipeline id, pipeline ids, the progress text, byte
// counting, and cli()'s JSON lines.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import t from 'tap';
import { parseSince, summarizePipelines } from '../../src/commands/runs.js';
import { DataError, ExitCode, UnavailableError } from '../../src/lib/errors.js';
import { openInput, RunStats } from '../../src/lib/io.js';
import { cli } from '../../src/run/cli.js';
import { escapeHelp, escapeLabel, parsePrevious, renderMetrics } from '../../src/run/metrics.js';
import { databaseTarget, matches } from '../../src/run/runlog.js';
import { bytesText, metricsPathIn, pipelineIdFor, progressText, type RunRecord } from '../../src/run/summary.js';
import { tmp } from '../helpers.js';

const rec = (over: Partial<RunRecord> = {}): RunRecord => ({
  run_id: 'r1',
  pipeline_id: 'p',
  command: 'bx-load',
  args: [],
  host: 'h',
  user: 'u',
  pid: 1,
  started: '2026-12-01T02:00:00.000Z',
  ended: '2026-12-01T02:00:10.000Z',
  seconds: 10,
  status: 'ok',
  exit_code: 0,
  rows_in: 100,
  rows_out: 90,
  rejected: 10,
  bytes_in: 1000,
  bytes_out: 0,
  ...over,
});

t.test('label values escape \\, " and newline; HELP escapes \\ and newline', async (t) => {
  t.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  t.equal(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
  const text = renderMetrics(rec({ table: 'public."odd\nname"' }), 'night"ly');
  t.match(text, 'bx_rows_in_total{command="bx-load",pipeline="night\\"ly",table="public.\\"odd\\nname\\""} 100\n');
  t.ok(text.endsWith('\n'));
  for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE')))
    t.match(line, /^# TYPE (\S+_total counter|\S+ gauge)$/, 'counters end in _total');
});

t.test('counters go on from the previous file of the same job; the last success stays through a failure', async (t) => {
  const first = renderMetrics(rec(), 'p');
  const second = renderMetrics(
    rec({ status: 'failed', exit_code: 75, ended: '2026-12-02T02:00:10.000Z', rows_in: 5 }),
    'p',
    parsePrevious(first, 'bx-load', 'p'),
  );
  t.match(second, /^bx_rows_in_total\{.*\} 105$/m);
  t.match(second, /^bx_runs_total\{.*status="ok"\} 1$/m);
  t.match(second, /^bx_runs_total\{.*status="failed"\} 1$/m);
  t.match(second, /^bx_last_run_exit_code\{.*\} 75$/m);
  t.match(
    second,
    new RegExp(`^bx_last_success_timestamp_seconds\\{.*\\} ${Date.parse('2026-12-01T02:00:10Z') / 1000}$`, 'm'),
  );
  const other = parsePrevious(first, 'bx-clean', 'p');
  t.same(other, { counters: {}, runs: {}, lastSuccess: 0 }, "another job's file starts afresh");
  t.match(
    renderMetrics(rec({ status: 'failed', exit_code: 65 }), 'p'),
    /^bx_last_success_timestamp_seconds\{.*\} 0$/m,
    'never succeeded: 0',
  );
});

t.test('--since: durations and ISO dates; anything else is a usage error', async (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  t.equal(parseSince('24h', now).toISOString(), '2026-12-01T12:00:00.000Z');
  t.equal(parseSince('7d', now).toISOString(), '2026-11-25T12:00:00.000Z');
  t.equal(parseSince('30m', now).toISOString(), '2026-12-02T11:30:00.000Z');
  t.equal(parseSince('2026-12-01', now).toISOString(), '2026-12-01T00:00:00.000Z');
  t.equal(parseSince('2026-12-01T06:00Z', now).toISOString(), '2026-12-01T06:00:00.000Z');
  for (const bad of ['yesterday', '24', 'h', '2026-13-45'])
    t.throws(() => parseSince(bad, now), { name: 'UsageError' }, bad);
});

t.test('a pipeline id reused every night: --summary shows the last execution', async (t) => {
  const night = (day: number, status: RunRecord['status'], k: number, command: string) =>
    rec({
      run_id: `${day}${k}`,
      pipeline_id: 'nightly',
      command,
      status,
      exit_code: status === 'ok' ? 0 : 69,
      started: `2026-12-0${day}T02:00:0${k}.000Z`,
      ended: `2026-12-0${day}T02:00:1${k}.000Z`,
    });
  const runs = [
    night(1, 'ok', 0, 'bx-extract'),
    night(1, 'failed', 1, 'bx-load'),
    night(2, 'ok', 0, 'bx-extract'),
    night(2, 'ok', 1, 'bx-load'),
  ];
  const [s] = summarizePipelines(runs);
  t.match(s, { pipeline_id: 'nightly', stages: 2, status: 'ok', started: '2026-12-02T02:00:00.000Z', seconds: 11 });
  const [f] = summarizePipelines(runs.slice(0, 2));
  t.match(f, { status: 'failed', failed: { command: 'bx-load', exit_code: 69 } });
  // A Makefile: stages one after another, each within the gap of the last.
  const make = [0, 1, 2].map((k) =>
    rec({
      run_id: `m${k}`,
      pipeline_id: 'make',
      started: `2026-12-02T03:0${k}:00.000Z`,
      ended: `2026-12-02T03:0${k}:50.000Z`,
    }),
  );
  t.equal(summarizePipelines(make)[0].stages, 3);
});

t.test('pipeline ids: BX_PIPELINE_ID wins; else derived, stable within a process', async (t) => {
  t.equal(pipelineIdFor({ BX_PIPELINE_ID: ' nightly-sales ' }, 'r'), 'nightly-sales');
  const a = pipelineIdFor({}, 'r1');
  t.match(a, /^p-[0-9a-f]{12}$/);
  t.equal(pipelineIdFor({}, 'r2'), a, 'the same process group and parent: the same id');
  t.equal(
    metricsPathIn('/var/lib/node_exporter', 'bx-load', 'nightly sales/eu'),
    '/var/lib/node_exporter/bx_load_nightly_sales_eu.prom',
  );
});

t.test('the run log URL: bx takes its own table= parameter off', async (t) => {
  t.same(databaseTarget('postgres://u@h/db?sslmode=disable&table=ops.runs'), {
    url: 'postgres://u@h/db?sslmode=disable',
    table: { schema: 'ops', name: 'runs' },
  });
  t.same(databaseTarget('postgres://u@h/db'), {
    url: 'postgres://u@h/db',
    table: { schema: 'public', name: 'bx_runs' },
  });
  t.ok(matches(rec(), { command: 'load' }));
  t.notOk(matches(rec(), { failed: true }));
  t.notOk(matches(rec(), { since: new Date('2026-12-01T03:00:00Z') }));
});

t.test('progress text: rows, rows/s, bytes, elapsed, % done from the input size', async (t) => {
  const d = tmp(t);
  const f = join(d, 'in.ndjson');
  writeFileSync(f, '{"a":1}\n'.repeat(1000));
  const stats = new RunStats();
  const input = await openInput({ stdin: new PassThrough(), stats }, f);
  t.equal(stats.totalBytes, 8000, 'openInput adds the file size');
  let n = 0;
  for await (const chunk of input.stream) n += (chunk as Buffer).length;
  t.equal(n, 8000);
  t.equal(stats.bytesIn, 8000, 'and counts what was read');
  stats.rowsIn = 1000;
  stats.rowsOut = 990;
  stats.rejected = 10;
  const text = progressText(stats, 16000, stats.started + 2000);
  t.equal(text, '1,000 rows in, 990 out, 10 rejected, 500 rows/s, 8.0 kB in, 0 B out, 2.0 s, 50%');
  t.equal(bytesText(1234567), '1.2 MB');
  const out = new PassThrough();
  stats.countOutput(out);
  out.write('héllo');
  t.equal(stats.bytesOut, 6, 'bytes, not characters, of a stream that does not count itself');
});

t.test(
  'cli(): JSON lines carry time, level, command, run and pipeline ids, message; the summary its counts',
  async (t) => {
    const run = async (env: Record<string, string>, body: (io: any) => Promise<ExitCode>) => {
      const err: string[] = [];
      const stderr = new Writable({ write: (c, _e, cb) => (err.push(c.toString()), cb()) });
      const proc = { stdin: Readable.from([]), stdout: new PassThrough(), stderr, env, cwd: () => '/' };
      const spec = {
        describe: 'test',
        usage: '[options]',
        examples: [['bx-t', 'run']] as [string, string][],
        options: (y: any) => y,
        normalize: (a: any) => a,
        run: body,
        stream: 'both' as const,
      };
      const code = await cli('bx-t', spec, ['--log-format', 'json'], proc);
      return {
        code,
        lines: err
          .join('')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      };
    };
    const ok = await run({ BX_PIPELINE_ID: 'pl' }, async (io) => {
      io.stats.rowsIn = 3;
      io.stats.rowsOut = 2;
      io.stats.rejected = 1;
      io.log.info('hello');
      return ExitCode.Ok;
    });
    t.equal(ok.code, 0);
    t.match(ok.lines[0], {
      time: /^\d{4}-\d\d-\d\dT/,
      level: 'info',
      command: 'bx-t',
      run_id: /^[0-9a-f]{16}$/,
      pipeline_id: 'pl',
      message: 'hello',
    });
    t.same(
      Object.keys(ok.lines[0]).slice(0, 6),
      ['time', 'level', 'command', 'run_id', 'pipeline_id', 'message'],
      'keys in this order',
    );
    t.match(ok.lines[1], {
      event: 'summary',
      status: 'ok',
      exit_code: 0,
      rows_in: 3,
      rows_out: 2,
      rejected: 1,
      run_id: ok.lines[0].run_id,
    });
    const bad = await run({}, async () => {
      throw new DataError({ file: 'a.csv', line: 3 }, 'qty', 'expected an integer');
    });
    t.equal(bad.code, 65);
    t.match(bad.lines[0], {
      level: 'error',
      event: 'error',
      exit_code: 65,
      message: 'a.csv:3: field "qty": expected an integer',
      hint: /--rejects FILE/,
    });
    t.match(bad.lines[1], { event: 'summary', status: 'failed', exit_code: 65, error: /a\.csv:3/ });
    const down = await run({}, async () => {
      throw new UnavailableError('database unreachable at 127.0.0.1:5432 (connection refused)');
    });
    t.equal(down.code, 69);
    t.match(down.lines[0], { hint: /try again later/ });
  },
);
