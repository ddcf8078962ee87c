// Monitoring as an operator meets it (issue 19): run records of real pipes in a file and in
// PostgreSQL, the derived pipeline id, failures, secrets kept out of every output, the metrics
// file checked by promtool, concurrent appends, bx-runs, and the progress line on a real TTY.
import { spawn, spawnSync } from 'node:child_process';
import { constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { databaseUrl, ndjson, root, sh, tmp } from '../helpers.js';

type Run = Record<string, any>;
const runsIn = (path: string): Run[] => (existsSync(path) ? ndjson(readFileSync(path, 'utf8')) : []);
const byCommand = (runs: Run[]) => Object.fromEntries(runs.map((r) => [r.command, r]));

/** 6 rows, one with a bad qty: extract 6 → clean 5 (+1 reject) → agg 2 groups. */
function salesCsv(dir: string): string {
  const f = join(dir, 'f.csv');
  writeFileSync(f, 'region,qty\nnorth,1\nsouth,2\nnorth,3\nsouth,x\nnorth,5\nsouth,6\n');
  return f;
}
const PIPE = (dir: string, f: string) =>
  `bx-extract ${f} | bx-clean --type qty:integer --rejects ${dir}/rej.ndjson | bx-agg --by region --agg n=count,sum:qty --sort region`;

function checkPipe(t: Tap.Test, runs: Run[], pipeline?: string) {
  t.equal(runs.length, 3, 'three run records');
  const ids = new Set(runs.map((r) => r.pipeline_id));
  t.equal(ids.size, 1, `one pipeline id (${[...ids].join(', ')})`);
  if (pipeline) t.equal(runs[0].pipeline_id, pipeline);
  t.equal(new Set(runs.map((r) => r.run_id)).size, 3, 'three run ids');
  const c = byCommand(runs);
  t.match(c['bx-extract'], { status: 'ok', exit_code: 0, rows_in: 6, rows_out: 6, rejected: 0 });
  t.match(c['bx-clean'], { status: 'ok', exit_code: 0, rows_in: 6, rows_out: 5, rejected: 1 });
  t.match(c['bx-agg'], { status: 'ok', exit_code: 0, rows_in: 5, rows_out: 2, rejected: 0 });
  t.ok(c['bx-extract']?.bytes_in > 0 && c['bx-extract']?.bytes_out > 0, 'bytes counted');
  t.equal(c['bx-clean']?.bytes_in, c['bx-extract']?.bytes_out, 'what bx-extract wrote is what bx-clean read');
  for (const r of runs) {
    t.ok(Date.parse(r.ended) >= Date.parse(r.started), `${r.command}: start ≤ end`);
    t.match(r, { host: String, user: String, pid: Number, args: Array });
  }
}

declare namespace Tap {
  type Test = typeof t;
}

t.test('a three-stage pipe under one BX_PIPELINE_ID writes three run records to a file', async (t) => {
  const d = tmp(t);
  const log = join(d, 'runs.ndjson');
  const r = await sh(PIPE(d, salesCsv(d)), { env: { BX_RUN_LOG: log, BX_PIPELINE_ID: 'bxmon-nightly' } });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '{"region":"north","n":3,"sum_qty":9}\n{"region":"south","n":2,"sum_qty":8}\n');
  checkPipe(t, runsIn(log), 'bxmon-nightly');
  t.same(byCommand(runsIn(log))['bx-clean'].args, ['--type', 'qty:integer', '--rejects', `${d}/rej.ndjson`]);
});

t.test('without BX_PIPELINE_ID the stages of one pipe derive one id; another pipe gets another', async (t) => {
  const d = tmp(t);
  const log = join(d, 'runs.ndjson');
  const f = salesCsv(d);
  const env = { BX_RUN_LOG: log, BX_PIPELINE_ID: undefined };
  t.equal((await sh(PIPE(d, f), { env })).code, 0);
  const first = runsIn(log);
  checkPipe(t, first);
  t.match(first[0].pipeline_id, /^p-[0-9a-f]{12}$/);
  t.equal((await sh(PIPE(d, f), { env })).code, 0);
  const second = runsIn(log).slice(3);
  checkPipe(t, second);
  t.not(second[0].pipeline_id, first[0].pipeline_id, 'a second pipe is a second pipeline');
  // Two pipes in one shell script (no job control: one process group) are still told apart by
  // nothing but their shell, so they share the script's id, as a Makefile recipe would.
  t.equal((await sh(`${PIPE(d, f)} >/dev/null; ${PIPE(d, f)} >/dev/null`, { env })).code, 0);
  const third = runsIn(log).slice(6);
  t.equal(new Set(third.map((r) => r.pipeline_id)).size, 1, 'one script, one id');
});

t.test('the same pipe into a bx_runs table in PostgreSQL', async (t) => {
  const url = databaseUrl();
  if (!url) return t.skip('no DATABASE_URL: PostgreSQL not configured');
  const { default: pg } = await import('pg');
  const db = new pg.Client({ connectionString: url });
  try {
    await db.connect();
  } catch (err) {
    return t.skip(`PostgreSQL unreachable at ${url.replace(/:[^:@/]*@/, ':***@')}: ${(err as Error).message}`);
  }
  await db.query('DROP SCHEMA IF EXISTS bxmon_test CASCADE');
  await db.query('CREATE SCHEMA bxmon_test');
  t.teardown(async () => {
    await db.query('DROP SCHEMA IF EXISTS bxmon_test CASCADE');
    await db.end();
  });
  const d = tmp(t);
  const target = `${url}${url.includes('?') ? '&' : '?'}table=bxmon_test.bx_runs`;
  const r = await sh(PIPE(d, salesCsv(d)), { env: { BX_RUN_LOG: target, BX_PIPELINE_ID: 'bxmon-pg' } });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /warning/, 'no run-log warning');
  const rows = (await db.query('SELECT * FROM bxmon_test.bx_runs ORDER BY started')).rows;
  const runs = rows.map((x) => ({
    ...x,
    rows_in: Number(x.rows_in),
    rows_out: Number(x.rows_out),
    rejected: Number(x.rejected),
    bytes_in: Number(x.bytes_in),
    bytes_out: Number(x.bytes_out),
    started: x.started.toISOString(),
    ended: x.ended.toISOString(),
  }));
  checkPipe(t, runs, 'bxmon-pg');
  // bx-runs reads the table back.
  const back = await sh(`bx-runs --log '${target}' --json --pipeline bxmon-pg`);
  t.equal(back.code, 0, back.stderr);
  t.same(
    ndjson(back.stdout)
      .map((x) => x.command)
      .sort(),
    ['bx-agg', 'bx-clean', 'bx-extract'],
  );
  const sum = await sh(`bx-runs --log '${target}' --summary`);
  t.equal(sum.code, 0, sum.stderr);
  t.match(sum.stdout, /^bxmon-pg +\S+ +3 +ok /m);
  // A failing stage goes into the table too, and makes --summary exit 1.
  const bad = await sh(`bx-extract ${d}/missing.csv | bx-clean`, {
    env: { BX_RUN_LOG: target, BX_PIPELINE_ID: 'bxmon-pg-bad' },
  });
  t.equal(bad.code, 66);
  const failed = (
    await db.query("SELECT * FROM bxmon_test.bx_runs WHERE pipeline_id = 'bxmon-pg-bad' AND command = 'bx-extract'")
  ).rows[0];
  t.match(failed, { status: 'failed', exit_code: 66, error: /missing\.csv: no such file or directory/ });
  t.equal((await sh(`bx-runs --log '${target}' --summary`)).code, 1);
  // The stages of one pipe create the table at the same moment: no race on CREATE TABLE.
  await db.query('DROP TABLE bxmon_test.bx_runs');
  const race = await sh(`${PIPE(d, join(d, 'f.csv'))} >/dev/null`, {
    env: { BX_RUN_LOG: target, BX_PIPELINE_ID: 'bxmon-race' },
  });
  t.notMatch(race.stderr, /warning/, race.stderr);
  t.equal(Number((await db.query('SELECT count(*) AS n FROM bxmon_test.bx_runs')).rows[0].n), 3);
});

t.test(
  'a failing stage records status failed, its exit code and its message; the last line says what to do',
  async (t) => {
    const d = tmp(t);
    const log = join(d, 'runs.ndjson');
    writeFileSync(join(d, 'bad.csv'), 'qty\n1\nx\n');
    const r = await sh(`bx-extract ${d}/bad.csv | bx-clean --type qty:integer`, {
      env: { BX_RUN_LOG: log, BX_PIPELINE_ID: 'bxmon-fail' },
    });
    t.equal(r.code, 65);
    const c = byCommand(runsIn(log));
    t.match(c['bx-clean'], {
      status: 'failed',
      exit_code: 65,
      error: /bad\.csv:3: field "qty": expected an integer, got "x"|stdin:2: field "qty"/,
    });
    t.match(c['bx-extract'], { status: 'ok', exit_code: 0 });
    // Unreachable database: 69, and a last line that says to retry.
    const down = await sh('bx-load --table bxmon_t --db postgres://postgres@127.0.0.1:1/test', {
      input: '{"a":1}\n',
      env: { BX_RUN_LOG: log, BX_PIPELINE_ID: 'bxmon-down' },
    });
    t.equal(down.code, 69, down.stderr);
    const lines = down.stderr.trim().split('\n');
    t.match(
      lines.at(-1),
      /^bx-load: try again later, once the service named above is reachable \(exit 69: service unavailable\)$/,
    );
    t.match(byCommand(runsIn(log))['bx-load'], { status: 'failed', exit_code: 69, error: /127\.0\.0\.1:1/ });
    const missing = await sh(`bx-extract ${d}/nope.csv`);
    t.match(missing.stderr.trim().split('\n').at(-1), /try again once the input named above exists.*exit 66/);
    // JSON lines: the error line carries the exit code and the hint; the summary the counts.
    const json = await sh(`bx-extract --log-format json ${d}/nope.csv`, { env: { BX_PIPELINE_ID: 'bxmon-json' } });
    const recs = json.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.match(
      recs.find((x) => x.level === 'error'),
      {
        command: 'bx-extract',
        pipeline_id: 'bxmon-json',
        run_id: /^[0-9a-f]{16}$/,
        event: 'error',
        exit_code: 66,
        hint: /exit 66/,
        message: /nope\.csv/,
      },
    );
    t.match(
      recs.find((x) => x.event === 'summary'),
      { status: 'failed', exit_code: 66, rows_in: 0 },
    );
    // A run log that cannot be written: one warning, and the job's own result stands.
    const ro = await sh(`bx-extract ${d}/bad.csv`, {
      env: { BX_RUN_LOG: join(d, 'no', 'such', 'dir', 'runs.ndjson') },
    });
    t.equal(ro.code, 0);
    t.equal(ro.stderr.match(/warning: run log/g)?.length, 1, ro.stderr);
  },
);

t.test(
  'a password in --db, DATABASE_URL or PGPASSWORD never reaches the run log, the metrics, the JSON logs or stderr',
  async (t) => {
    const url = databaseUrl();
    if (!url) return t.skip('no DATABASE_URL: PostgreSQL not configured');
    const d = tmp(t);
    const log = join(d, 'runs.ndjson');
    const u = new URL(url.replace(/^postgres(ql)?:/, 'http:'));
    const withPw = (pw: string) => `postgres://${u.username || 'postgres'}:${pw}@${u.host}${u.pathname}`;
    const secrets = ['Sup3rS3cretA', 'Sup3rS3cretB', 'Sup3rS3cretC', 'Sup3rS3cretD'];
    const outputs: string[] = [];
    const cases: [string, Record<string, string | undefined>][] = [
      [
        `bx-load --table bxmon_pw --create --db '${withPw(secrets[0])}' --log-format json --metrics-file ${d}/a.prom`,
        {},
      ],
      [`bx-load --table bxmon_pw --db '${withPw(secrets[1])}'  --metrics-file ${d}/b.prom`, {}],
      [`bx-load --table bxmon_pw --log-format json --metrics-file ${d}/c.prom`, { DATABASE_URL: withPw(secrets[2]) }],
      [`bx-load --table bxmon_pw -v --metrics-file ${d}/d.prom`, { DATABASE_URL: url, PGPASSWORD: secrets[3] }],
      // A failure, whose message quotes the connection: the password still never shows.
      [`bx-load --table bxmon_pw --db 'postgres://postgres:${secrets[0]}@127.0.0.1:1/test' --log-format json`, {}],
    ];
    for (const [cmd, env] of cases) {
      const r = await sh(cmd, { input: '{"a":1}\n', env: { BX_RUN_LOG: log, BX_PIPELINE_ID: 'bxmon-pw', ...env } });
      outputs.push(r.stdout, r.stderr);
    }
    outputs.push(readFileSync(log, 'utf8'));
    for (const f of ['a', 'b', 'c', 'd'])
      if (existsSync(`${d}/${f}.prom`)) outputs.push(readFileSync(`${d}/${f}.prom`, 'utf8'));
    t.equal(runsIn(log).length, 5, 'five runs recorded');
    t.ok(
      runsIn(log).some((r) => r.args.some((a: string) => a.includes('***@'))),
      'the --db argument is kept, redacted',
    );
    const all = outputs.join('\n');
    for (const s of secrets) t.notOk(all.includes(s), `${s} appears nowhere`);
    const { default: pg } = await import('pg');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query('DROP TABLE IF EXISTS bxmon_pw');
    await db.end();
  },
);

function promtool(): string | undefined {
  for (const p of [
    ...(process.env.PATH ?? '').split(':').map((x) => join(x, 'promtool')),
    '/tmp/prom/usr/bin/promtool',
  ])
    if (existsSync(p)) return p;
  return undefined;
}

t.test('--metrics-file and BX_METRICS_DIR write a textfile that promtool accepts', async (t) => {
  const d = tmp(t);
  const prom = join(d, 'job.prom');
  // A pipeline id with every character that must be escaped in a label value.
  const id = 'bxmon "nightly"\\sales';
  const ok = await sh(
    `bx-extract ${salesCsv(d)} | bx-clean --type qty:integer --rejects ${d}/r.ndjson --metrics-file ${prom}`,
    { env: { BX_PIPELINE_ID: id, BX_METRICS_DIR: d } },
  );
  t.equal(ok.code, 0, ok.stderr);
  const text = readFileSync(prom, 'utf8');
  const labels = 'command="bx-clean",pipeline="bxmon \\"nightly\\"\\\\sales",table=""';
  t.match(text, `bx_rows_in_total{${labels}} 6\n`);
  t.match(text, `bx_rows_out_total{${labels}} 5\n`);
  t.match(text, `bx_rejected_total{${labels}} 1\n`);
  t.match(text, `bx_runs_total{${labels},status="ok"} 1\n`);
  t.match(text, `bx_last_run_exit_code{${labels}} 0\n`);
  t.match(text, new RegExp(`^bx_last_success_timestamp_seconds\\{.*\\} (\\d+(\\.\\d+)?)$`, 'm'));
  const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
  t.ok(
    samples.length >= 15 && samples.every((l) => /^bx_[a-z_]+\{.*\} -?\d+(\.\d+)?$/.test(l)),
    'every sample is name{labels} value: no timestamp',
  );
  const success = Number(/^bx_last_success_timestamp_seconds\{.*\} (\S+)$/m.exec(text)?.[1]);
  t.ok(Math.abs(success - Date.now() / 1000) < 60, 'last success is now');
  const inDir = join(d, 'bx_clean_bxmon_nightly_sales.prom');
  t.ok(existsSync(inDir), 'BX_METRICS_DIR/bx_<command>_<pipeline>.prom');
  t.ok(existsSync(join(d, 'bx_extract_bxmon_nightly_sales.prom')), 'one file per stage');
  // A failed run: counters go on, the exit code is the failure's, the last success stays.
  writeFileSync(join(d, 'bad.csv'), 'qty\nx\n');
  const bad = await sh(`bx-extract ${d}/bad.csv | bx-clean --type qty:integer --metrics-file ${prom}`, {
    env: { BX_PIPELINE_ID: id },
  });
  t.equal(bad.code, 65);
  const after = readFileSync(prom, 'utf8');
  t.match(after, `bx_runs_total{${labels},status="ok"} 1\n`);
  t.match(after, `bx_runs_total{${labels},status="failed"} 1\n`);
  t.match(after, `bx_rows_in_total{${labels}} 7\n`, 'rows_in goes on from 6');
  t.match(after, `bx_last_run_exit_code{${labels}} 65\n`);
  t.equal(
    Number(/^bx_last_success_timestamp_seconds\{.*\} (\S+)$/m.exec(after)?.[1]),
    success,
    'the last success is kept',
  );
  const tool = promtool();
  if (!tool)
    return t.skip(
      'promtool not found on PATH or at /tmp/prom/usr/bin/promtool (apt-get download prometheus; dpkg-deb -x prometheus_*.deb /tmp/prom)',
    );
  for (const f of [prom, inDir]) {
    const r = spawnSync(tool, ['check', 'metrics'], { input: readFileSync(f), encoding: 'utf8' });
    t.equal(r.status, 0, `promtool check metrics ${f}: ${r.stdout}${r.stderr}`);
  }
  // And promtool does catch what the collector would reject (the check can fail).
  const broken = spawnSync(tool, ['check', 'metrics'], { input: 'bx_x{a="1\n"} 1\n', encoding: 'utf8' });
  t.not(broken.status, 0, 'promtool rejects an unescaped newline');
});

t.test('8 concurrent writers append 1,000 records each to one run log: every line whole', async (t) => {
  const d = tmp(t);
  const log = join(d, 'runs.ndjson');
  // Records of ~3 kB, bigger than a pipe's atomic 512 bytes, so that a torn write would show.
  const script = `
    const { appendToFile } = await import(${JSON.stringify(join(root, 'dist', 'run', 'runlog.js'))});
    const w = process.argv[1];
    for (let i = 0; i < 1000; i++) appendToFile(${JSON.stringify(log)}, { run_id: w + '-' + i, writer: w, seq: i, args: ['x'.repeat(3000 + (i % 97))] });
  `;
  const writers = Array.from(
    { length: 8 },
    (_, w) =>
      new Promise<number>((resolve) =>
        spawn(process.execPath, ['--input-type=module', '-e', script, String(w)], {
          stdio: 'inherit',
          env: { ...process.env, NODE_OPTIONS: '' },
        }).on('close', (c) => resolve(c ?? -1)),
      ),
  );
  t.same(await Promise.all(writers), [0, 0, 0, 0, 0, 0, 0, 0], 'all writers done');
  const lines = readFileSync(log, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, 8000);
  const seen = new Map<string, number[]>();
  let torn = 0;
  for (const l of lines) {
    try {
      const r = JSON.parse(l);
      if (r.args[0].length !== 3000 + (r.seq % 97)) torn++;
      seen.set(r.writer, [...(seen.get(r.writer) ?? []), r.seq]);
    } catch {
      torn++;
    }
  }
  t.equal(torn, 0, 'no torn or interleaved line');
  for (let w = 0; w < 8; w++)
    t.same(
      seen.get(String(w)),
      Array.from({ length: 1000 }, (_, i) => i),
      `writer ${w}: 1,000 records in order`,
    );
});

t.test('bx-runs: table, filters, --json, --summary and its exit code', async (t) => {
  const d = tmp(t);
  const log = join(d, 'runs.ndjson');
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
  // Stage k of a pipe starts k×0.1 s after the first and ends k×1 s after it: the last stage ends last.
  const run = (
    id: string,
    pipeline: string,
    command: string,
    startedMin: number,
    status = 'ok',
    exit = 0,
    extra: Run = {},
  ) => ({
    run_id: id,
    pipeline_id: pipeline,
    command,
    args: [],
    host: 'h',
    user: 'u',
    pid: 1,
    started: at(startedMin - Number(id[1]) / 600),
    ended: at(startedMin - 0.5 - Number(id[1]) / 60),
    seconds: 30,
    status,
    exit_code: exit,
    rows_in: 10,
    rows_out: 10,
    rejected: 0,
    bytes_in: 100,
    bytes_out: 100,
    ...extra,
  });
  const records = [
    // nightly: failed 3 days ago, fine last night → ok now.
    run('a1', 'nightly', 'bx-extract', 3 * 1440, 'failed', 75, { error: 'connection reset' }),
    run('a2', 'nightly', 'bx-load', 3 * 1440, 'failed', 75, { error: 'connection reset' }),
    run('b1', 'nightly', 'bx-extract', 600),
    run('b2', 'nightly', 'bx-clean', 600, 'ok', 0, { rows_out: 8, rejected: 2 }),
    run('b3', 'nightly', 'bx-load', 600, 'ok', 0, { rows_in: 8, rows_out: 8, table: 'public.sales' }),
    // hourly: ran fine, then failed in its last run 20 minutes ago.
    run('c1', 'hourly', 'bx-extract', 80),
    run('c2', 'hourly', 'bx-load', 80),
    run('d1', 'hourly', 'bx-extract', 20),
    run('d2', 'hourly', 'bx-load', 20, 'failed', 69, {
      error: 'database unreachable at 127.0.0.1:5432 (connection refused)',
    }),
  ];
  writeFileSync(log, records.map((r) => JSON.stringify(r)).join('\n') + '\nnot a record\n');
  const env = { BX_RUN_LOG: log };
  const all = await sh('bx-runs --json', { env });
  t.equal(all.code, 0, all.stderr);
  t.same(
    ndjson(all.stdout).map((r) => r.run_id),
    ['d2', 'd1', 'c2', 'c1', 'b3', 'b2', 'b1', 'a2', 'a1'],
    'newest first',
  );
  t.match(all.stderr, /warning: .*runs\.ndjson: 1 line is not a run record; skipped/);
  const ids = async (flags: string) =>
    ndjson((await sh(`bx-runs --json ${flags}`, { env })).stdout)
      .map((r) => r.run_id)
      .sort();
  t.same(await ids('--failed'), ['a1', 'a2', 'd2']);
  t.same(await ids('--since 2h'), ['c1', 'c2', 'd1', 'd2']);
  t.same(await ids('--since 30m'), ['d1', 'd2']);
  t.same(await ids('--since 1d --failed'), ['d2']);
  t.same(await ids(`--since ${at(700).slice(0, 16)}Z`), ['b1', 'b2', 'b3', 'c1', 'c2', 'd1', 'd2'], 'an ISO date');
  t.same(await ids('--pipeline nightly --command load'), ['a2', 'b3']);
  t.same(await ids('--command bx-clean'), ['b2']);
  const bad = await sh('bx-runs --since yesterday', { env });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--since "yesterday": expected a duration such as 30m/);
  const table = await sh('bx-runs --limit 3', { env });
  t.equal(table.code, 0);
  const rows = table.stdout.trim().split('\n');
  t.match(rows[0], /^STARTED +COMMAND +STATUS +EXIT +IN +OUT +REJECTED +SECONDS +PIPELINE +RUN +MESSAGE$/);
  t.equal(rows.length, 4, 'header + 3 rows');
  t.match(rows[1], /bx-load +failed +69 .*hourly +d2 +database unreachable/);
  t.match(table.stderr, /6 older runs not shown/);
  // The morning check: hourly's last run failed → exit 1; nightly is fine again.
  const sum = await sh('bx-runs --summary', { env });
  t.equal(sum.code, 1, sum.stderr);
  t.match(sum.stdout, /^hourly +\S+ +2 +failed +\S+ +10 +0 +bx-load exit 69: database unreachable/m);
  t.match(sum.stdout, /^nightly +\S+ +3 +ok +\S+ +8 +2 +bx-extract \| bx-clean \| bx-load$/m);
  const sumJson = ndjson((await sh('bx-runs --summary --json --since 7d', { env })).stdout);
  t.match(
    sumJson.find((p) => p.pipeline_id === 'nightly'),
    { stages: 3, status: 'ok', rows: 8, rejected: 2 },
  );
  t.equal((await sh('bx-runs --summary --pipeline nightly --since 7d', { env })).code, 0, 'nightly alone: ok');
  t.equal(
    (await sh('bx-runs --summary --since 4d --pipeline nightly --failed', { env })).code,
    1,
    'its failed runs alone: 1',
  );
  t.equal(
    (await sh('bx-runs --summary', { env: { BX_RUN_LOG: join(d, 'empty.ndjson') } })).code,
    66,
    'a missing log is 66',
  );
  const none = await sh('bx-runs', { env: { BX_RUN_LOG: undefined } });
  t.equal(none.code, 78);
  t.match(none.stderr, /no run log: give --log FILE/);
  t.equal(
    (await sh(`bx-runs --log ${log} --summary --since 7d --pipeline hourly`)).code,
    1,
    '--log instead of BX_RUN_LOG',
  );
  // bx-runs records nothing itself.
  t.equal(readFileSync(log, 'utf8').split('\n').length, records.length + 2);
  t.equal(
    (await sh('bx runs --json --since 30m', { env })).stdout,
    (await sh('bx-runs --json --since 30m', { env })).stdout,
    'bx runs = bx-runs',
  );
});

// bx-runs' --help against its page (sections, options, both ways) is test/e2e/family.test.ts's one check.
t.test('bx-runs writes no metrics; every other page documents --metrics-file', async (t) => {
  const help = (await sh('bx-runs --help')).stdout;
  const fromHelp = new Set(
    [...help.split(/^Examples:$/m)[0].matchAll(/^ {2,}(?:-\w, )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]),
  );
  t.notOk(fromHelp.has('metrics-file'), 'bx-runs writes no metrics');
  for (const n of ['extract', 'clean', 'agg', 'load', 'schema', 'db']) {
    t.match((await sh(`bx-${n} --help`)).stdout, /--metrics-file/, `bx-${n} --help`);
    const page = readFileSync(join(root, 'man', `bx-${n}.1`), 'utf8');
    t.match(page, /\\-\\-metrics(\\)?-file/, `bx-${n}.1 OPTIONS`);
    t.match(page, /\.B BX_RUN_LOG/, `bx-${n}.1 ENVIRONMENT`);
  }
  t.match((await sh('bx --help')).stdout, /^ {2}runs /m, 'bx --help lists runs');
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

t.test(
  'the progress line shows on a TTY (tmux) and never when stderr is a file',
  { skip: hasTmux ? false : 'tmux not installed' },
  async (t) => {
    const d = tmp(t);
    const big = join(d, 'big.ndjson');
    writeFileSync(
      big,
      Array.from({ length: 200_000 }, (_, i) => `{"id":${i},"name":"row ${i}","pad":"${'x'.repeat(40)}"}`).join('\n') +
        '\n',
    );
    // A slow reader holds bx-clean back (backpressure), so progress has time to appear, part way through the file.
    const slow = `node -e "setTimeout(() => process.stdin.resume(), 2500)" >/dev/null`;
    const script = join(d, 'run.sh');
    writeFileSync(
      script,
      `export PATH=${join(root, 'bin')}:$PATH; unset NODE_OPTIONS; bx-clean ${big} | ${slow}; echo EXIT=$? > ${d}/tty.done; sleep 30\n`,
    );
    const session = `bxmon_${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
    t.teardown(() => void tmux('kill-session', '-t', session));
    t.equal(
      tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', `bash ${script}`).status,
      0,
      'tmux session',
    );
    let during = '';
    for (let i = 0; i < 100 && !/rows in, .*rows\/s.*%/.test(during); i++) {
      await new Promise((r) => setTimeout(r, 100));
      during = tmux('capture-pane', '-p', '-t', session).stdout;
    }
    t.match(
      during,
      /bx-clean: [\d,]+ rows in, [\d,]+ out, [\d,]+ rows\/s, [\d.]+ [kM]?B in, [\d.]+ [kM]?B out, [\d.]+ s, \d+%/,
      'progress: rows, rows/s, bytes, elapsed, % done',
    );
    const pct = Number(/(\d+)%/.exec(during)?.[1]);
    t.ok(pct < 100, `part way through (${pct}%)`);
    for (let i = 0; i < 100 && !existsSync(`${d}/tty.done`); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 200));
    const after = tmux('capture-pane', '-p', '-t', session).stdout;
    t.match(readFileSync(`${d}/tty.done`, 'utf8'), /EXIT=0/);
    t.match(after, /^bx-clean: done: 200000 rows in, 200000 out/m, 'the summary');
    t.notMatch(after, /rows\/s, [\d.]+ [kM]?B in/, 'the progress line is cleared at the end');
    // The same run with stderr to a file: no progress, no escape codes, just the summary.
    const r = await sh(`bx-clean ${big} 2>${d}/err.txt | ${slow}`);
    t.equal(r.code, 0);
    const err = readFileSync(`${d}/err.txt`, 'utf8');
    t.notMatch(err, /\r|\x1b\[/, 'no control characters');
    t.match(err, /^bx-clean: done: 200000 rows in, 200000 out, 0 rejected, [\d.]+ s, \d+ rows\/s\n$/);
  },
);

t.test('a stage stopped by SIGTERM records status interrupted, then dies of the signal', async (t) => {
  const d = tmp(t);
  const log = join(d, 'runs.ndjson');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    BX_RUN_LOG: log,
    BX_PIPELINE_ID: 'bxmon-sig',
  };
  delete env.NODE_OPTIONS;
  // bx-extract opens a FIFO only once run() is under way (the handler in place), and the open
  // completes only when we open the other end: a readiness signal without a timer.
  const fifo = join(d, 'in.csv');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  // Through bash, which drops tap's NODE_OPTIONS (see sh() in helpers.ts) and execs: the pid is bx-extract's.
  const child = spawn('bash', ['-c', `unset NODE_OPTIONS; exec ${join(root, 'bin', 'bx-extract')} ${fifo}`], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<[number | null, string | null]>((resolve) =>
    child.on('close', (code, sig) => resolve([code, sig])),
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // O_NONBLOCK open of a FIFO's write end fails (ENXIO) until a reader has it open: poll for that.
  let writer: Awaited<ReturnType<typeof open>> | undefined;
  for (let i = 0; i < 300 && !writer && child.exitCode === null; i++) {
    writer = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
    if (!writer) await new Promise((r) => setTimeout(r, 50));
  }
  if (!writer) return t.fail(`bx-extract never opened its input: ${stderr}`);
  await writer.write('a,b\n1,2\n');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  const [code, sig] = await exited;
  t.same([code, sig], [null, 'SIGTERM'], `dies of SIGTERM, as a shell expects (143) ${stderr}`);
  await writer.close();
  t.match(runsIn(log), [
    {
      command: 'bx-extract',
      status: 'interrupted',
      exit_code: 143,
      error: 'interrupted by SIGTERM',
      pipeline_id: 'bxmon-sig',
    },
  ]);
});
