// bx-report in real pipes: bx-extract | bx-agg | bx-report on the Superstore data, the three
// formats, escaping, the atomic -o, the errors a user meets, the spec file, --query.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { main, normalize, spec } from '../../src/commands/report.js';
import { cli } from '../../src/run/cli.js';
import { databaseUrl, root, sh, shared, tmp } from '../helpers.js';

const csv = shared('superstore.csv');
const AGG = `bx-extract -q ${csv} | bx-agg -q --by Category --agg revenue=sum:Sales,n=count`;

/** Thousands separators by a regex, independent of the code under test. */
const grouped = (s: string) => {
  const [i, f] = s.replace(/^-/, '').split('.');
  return (s.startsWith('-') ? '-' : '') + i.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (f !== undefined ? '.' + f : '');
};

/** t.match without a 500 KB page in the failure message. */
const has = (t: { ok: (v: boolean, m?: string) => unknown }, text: string, what: string | RegExp, msg?: string) =>
  t.ok(typeof what === 'string' ? text.includes(what) : what.test(text), msg ?? String(what));

/** The totals as bx-agg wrote them: the text of each JSON number, not a float printed back. */
async function totals(): Promise<{ cat: string; revenue: string; n: string }[]> {
  const r = await sh(AGG);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^\{"Category":"([^"]+)","revenue":([-\d.eE+]+),"n":(\d+)\}$/.exec(l)!;
      return { cat: m[1], revenue: m[2], n: m[3] };
    });
}

t.test('superstore | bx-agg | bx-report -o: one self-contained page, a bar per category, exact totals', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out.html');
  const r = await sh(
    `${AGG} | bx-report --title 'Superstore' --section 'Revenue by category' --chart bar --x Category --y revenue -o ${out}`,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '', 'nothing on stdout with -o');
  t.match(r.stderr, /^bx-report: done: 3 rows in/m);
  const html = readFileSync(out, 'utf8');
  has(t, html, /^<!DOCTYPE html>/);
  has(
    t,
    html,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
  );
  t.notMatch(html, /<script/i, 'no script');
  t.notMatch(html, /\b(src|href)=/i, 'nothing to fetch: no src or href');
  t.notMatch(html, /@import|url\(|@font-face/i, 'no CSS fetch, no web font');
  // The one URL on the page is the SVG namespace name, which is never fetched.
  t.same([...new Set(html.match(/https?:\/\/[^"'\s<>]+/g))], ['http://www.w3.org/2000/svg']);
  has(t, html, /@media print/);
  has(t, html, /prefers-color-scheme:dark/);
  const tot = await totals();
  t.equal(tot.length, 3);
  t.equal((html.match(/<rect class="bar/g) ?? []).length, 3, 'one bar per category');
  for (const { cat, revenue } of tot) {
    has(t, html, `data-x="${cat}" data-value="${revenue}"`, `${cat}'s bar carries the exact value`);
    has(
      t,
      html,
      `<td class="num" data-value="${revenue}">${grouped(revenue)}</td>`,
      `${cat}: ${grouped(revenue)} in the table`,
    );
  }
  has(t, html, '>revenue</text>', 'y axis named');
  has(t, html, '>Category</text>', 'x axis named');
  has(t, html, /Generated <time datetime="\d{4}-\d\d-\d\dT/);
  t.ok(html.length < 40_000, `small: ${html.length} bytes`);
  t.same(readdirSync(dir), ['out.html'], 'no temp file left');
});

t.test('several sections: two views of one stdin, a line chart from a file, sealed pipes', async (t) => {
  const dir = tmp(t);
  const day = join(dir, 'day.ndjson');
  // Out of order on purpose: a line over time is drawn in time order.
  const days = [
    '{"day":"2026-11-03","revenue":"30.10"}',
    '{"day":"2026-11-01","revenue":"10.00"}',
    '{"day":"2026-11-02","revenue":"20.5"}',
  ];
  writeFileSync(day, [...days, '{"@bx":"end","records":3}'].join('\n') + '\n');
  const plain = join(dir, 'plain.ndjson');
  writeFileSync(plain, days.join('\n') + '\n');
  const out = join(dir, 'r.html');
  const r = await sh(
    `${AGG} | bx-report --section Categories --chart hbar --x Category --y revenue --section 'All figures' --chart table --section 'By day' --chart line --x day --y revenue --title 'three days' ${day} -o ${out}`,
    { env: { BX_SEAL: '1' } },
  );
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  t.equal((html.match(/<section /g) ?? []).length, 3);
  has(t, html, 'class="chart chart-hbar"');
  has(t, html, 'class="chart chart-line"');
  has(t, html, '<p class="caption">three days</p>');
  has(t, html, /<th class="num" scope="col">n<\/th>/, 'the table section shows every field');
  const xs = [...html.matchAll(/<circle [^>]*data-x="([^"]+)" data-value="([^"]+)"/g)].map((m) => `${m[1]}=${m[2]}`);
  t.same(xs, ['2026-11-01=10.00', '2026-11-02=20.5', '2026-11-03=30.10'], 'points in time order, values as written');
  has(t, html, '<td class="num" data-value="10.00">10.00</td>', 'trailing zeros of a decimal string are kept');
  const cx = [...html.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
  t.ok(cx[0] < cx[1] && cx[1] < cx[2], 'x increases with time');

  const unsealed = await sh(`bx-report --section A --chart table ${plain} -o ${join(dir, 'u.html')}`, {
    env: { BX_SEAL: '1' },
  });
  t.equal(unsealed.code, 65, 'an input without its end-of-stream mark fails under BX_SEAL');
  t.match(unsealed.stderr, /plain\.ndjson:4: input ended without its end-of-stream mark/);
  t.notOk(existsSync(join(dir, 'u.html')));
});

t.test('--format md: GitHub tables with exact numbers; charts left out with a note', async (t) => {
  const r = await sh(
    `${AGG} | bx-report -q --format md --title Sales --section 'Revenue by category' --chart bar --x Category --y revenue`,
  );
  t.equal(r.code, 0, r.stderr);
  const tot = await totals();
  const expected = [
    '| Category | revenue |',
    '| --- | ---: |',
    ...tot.map((x) => `| ${x.cat} | ${grouped(x.revenue)} |`),
  ].join('\n');
  t.match(r.stdout, expected);
  t.match(r.stdout, /^# Sales$/m);
  t.match(r.stdout, /^## Revenue by category$/m);
  t.match(r.stdout, /^_\(bar chart of revenue by Category left out: 3 points; --format html draws it\)_$/m);
  t.notMatch(r.stdout, /<svg/);
});

t.test('--format table: aligned columns, numbers right-aligned, no colour to a pipe', async (t) => {
  const r = await sh(`${AGG} | bx-report -q --format table --section Totals`);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /\x1b/, 'no escape sequences when stdout is not a TTY');
  const lines = r.stdout.split('\n');
  const head = lines.findIndex((l) => /^Category\s+revenue\s+n$/.test(l));
  t.ok(head > 0, 'header line');
  const rows = lines.slice(head + 2, head + 5);
  const tot = await totals();
  rows.forEach((l, i) => {
    t.match(
      l,
      new RegExp(`^${tot[i].cat}\\s+${grouped(tot[i].revenue).replace(/\./g, '\\.')}\\s+${grouped(tot[i].n)}$`),
    );
  });
  // Right-aligned: every number column ends at the same place as its header.
  const ends = [lines[head], ...rows].map((l) => l.length);
  t.same(new Set(ends).size, 1, 'all rows end in the same column');
});

/** bx-report run in this process with a stdout that says it is a TTY of `columns` columns. */
async function onTty(argv: string[], input: string, columns: number, env: Record<string, string> = {}) {
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns });
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (d: Buffer) => chunks.push(d));
  const code = await cli('bx-report', { ...spec, normalize: (a) => normalize(a, argv) }, argv, {
    stdin,
    stdout,
    stderr,
    env,
    cwd: () => root,
  } as never);
  return { code, stdout: Buffer.concat(chunks).toString('utf8') };
}

t.test('--format table on a TTY: fits the width, bold headings unless NO_COLOR', async (t) => {
  const input =
    '{"name":"a very long product name that will not fit","revenue":"1234567.5"}\n{"name":"short","revenue":"2"}\n';
  const r = await onTty(['-q', '--format', 'table', '--section', 'T'], input, 30);
  t.equal(r.code, 0);
  t.match(r.stdout, '\x1b[1m', 'bold on a TTY');
  const plain = r.stdout.replace(/\x1b\[\d+m/g, '');
  const tableLines = plain.split('\n').filter((l) => /revenue|…|short|─/.test(l));
  for (const l of tableLines) t.ok([...l].length <= 30, `fits 30 columns: ${JSON.stringify(l)}`);
  t.match(plain, /a very long[^\n]*…/, 'a cut cell ends with …');
  t.match(plain, '1,234,567.5', 'numbers are never cut');
  const wide =
    JSON.stringify(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`field${i}`, `value number ${i}`]))) + '\n';
  const cut = (await onTty(['-q', '-f', 'table'], wide, 40)).stdout.replace(/\x1b\[\d+m/g, '');
  for (const l of cut.split('\n')) t.ok([...l].length <= 40, `fits 40 columns: ${JSON.stringify(l)}`);
  t.match(
    cut.replace(/\n/g, ' '),
    /\(\d+ more columns left out to fit 40 columns: field\d+, /,
    'columns that do not fit are named (the note wraps)',
  );
  const nc = await onTty(['-q', '-f', 'table'], input, 100, { NO_COLOR: '1' });
  t.notMatch(nc.stdout, /\x1b/, 'NO_COLOR: no escapes');
});

t.test('every value is escaped: markup, formulas, control characters', async (t) => {
  const dir = tmp(t);
  const evil = join(dir, 'evil.ndjson');
  writeFileSync(
    evil,
    [
      JSON.stringify({ product: '<script>alert(1)</script>', revenue: '12.50' }),
      JSON.stringify({ product: '=HYPERLINK("http://example.invalid/","click")', revenue: 3 }),
      JSON.stringify({ product: '"><img src=x onerror=alert(2)>', revenue: 1 }),
      JSON.stringify({ product: 'esc \x1b]0;pwned\x07 | pipe', revenue: 2 }),
    ].join('\n') + '\n',
  );
  const out = join(dir, 'e.html');
  const r = await sh(
    `bx-report --title '<b>T</b>' --section '<i>S</i>' --chart bar --x product --y revenue ${evil} -o ${out}`,
  );
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  t.notMatch(html, /<script|<img|<b>|<i>/, 'no markup from the data or the flags');
  has(t, html, '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>');
  has(t, html, 'data-x="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"', 'attribute values escaped');
  has(t, html, '<td>=HYPERLINK(&quot;http://example.invalid/&quot;,&quot;click&quot;)</td>', 'a formula is text');
  has(t, html, '<title>&lt;b&gt;T&lt;/b&gt;</title>');
  const md = await sh(`bx-report -q -f md --section S --chart table ${evil}`);
  t.match(md.stdout, '| &lt;script&gt;alert(1)&lt;/script&gt; | 12.50 |');
  t.match(md.stdout, 'esc ␛\\]0;pwned␇ \\| pipe', 'md: pipe escaped, control characters visible');
  const tbl = await sh(`bx-report -q -f table --section S ${evil}`);
  t.notMatch(tbl.stdout, /\x1b|\x07/, 'terminal: no raw ESC or BEL from the data');
  t.match(tbl.stdout, 'esc ␛]0;pwned␇ | pipe');
});

t.test('-o is atomic: no temp left, a failed run leaves no file and an old report whole', async (t) => {
  const dir = tmp(t);
  const bad = join(dir, 'bad.ndjson');
  writeFileSync(bad, '{"Category":"a","revenue":1}\n{"Category":"b","revenue":2}\n{"Category": oops}\n');
  const out = join(dir, 'out.html');
  const r = await sh(`bx-report --section A --chart bar --x Category --y revenue ${bad} -o ${out}`);
  t.equal(r.code, 65);
  t.match(r.stderr, /^bx-report: .*bad\.ndjson:3: not valid JSON/m, 'names file:line');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.same(readdirSync(dir), ['bad.ndjson'], 'no report, no temp file');
  writeFileSync(out, 'old report');
  const again = await sh(`bx-report --section A ${bad} -o ${out}`);
  t.equal(again.code, 65);
  t.equal(readFileSync(out, 'utf8'), 'old report', 'the old report is untouched');
  const good = await sh(`head -n 2 ${bad} | bx-report -q --section A -o ${out}`);
  t.equal(good.code, 0, good.stderr);
  t.match(readFileSync(out, 'utf8'), /^<!DOCTYPE html>/);
  t.same(readdirSync(dir).sort(), ['bad.ndjson', 'out.html']);
  // A device is written in place, never renamed over (a report to /dev/null leaves /dev/null a device).
  const dev = join(dir, 'null');
  if ((await sh(`mknod -m 666 ${dev} c 1 3`)).code === 0) {
    const r = await sh(`echo '{"a":1}' | bx-report -q -o ${dev}`);
    t.equal(r.code, 0, r.stderr);
    t.ok(statSync(dev).isCharacterDevice(), 'still a character device');
  } else t.skip('mknod not permitted here: the device case is not tested');
  const cant = await sh(`echo '{"a":1}' | bx-report -o ${join(dir, 'no', 'such', 'dir.html')}`);
  t.equal(cant.code, 73);
  t.match(cant.stderr, /^bx-report: cannot create the report .*dir\.html/m);
});

t.test('bad values and unknown fields stop with 65 and say where; usage errors are 64', async (t) => {
  const dir = tmp(t);
  const f = join(dir, 'rev.ndjson');
  writeFileSync(f, '{"Category":"a","revenue":"1.5"}\n{"Category":"b","revenue":"n/a"}\n');
  const nan = await sh(`bx-report --section R --chart bar --x Category --y revenue ${f}`);
  t.equal(nan.code, 65);
  t.match(nan.stderr, /^bx-report: .*rev\.ndjson:2: field "revenue": --y of section "R" needs a number, got "n\/a"$/m);
  const unknownX = await sh(`bx-report --section R --chart bar --x Categroy --y revenue ${f}`);
  t.equal(unknownX.code, 65);
  t.match(
    unknownX.stderr,
    /rev\.ndjson:1: field "Categroy": no such field in any record \(--x of section "R"\); the records have: Category, revenue/,
  );
  t.equal(unknownX.stdout, '');
  const cases: [string, RegExp][] = [
    [`--chart bar --x Category ${f}`, /--chart bar needs --x FIELD and --y FIELD/],
    [`${f} --section R`, /comes before the first --section/],
    [`--section R --chart pie ${f}`, /Invalid values: Argument: chart, Given: "pie"/],
    [`--max-rows 0 ${f}`, /--max-rows: expected a positive integer/],
    [`--section R --x a --x b ${f}`, /--x given twice in section "R"/],
    [`--db postgres://x/y ${f}`, /--db is for --query/],
  ];
  for (const [args, re] of cases) {
    const r = await sh(`bx-report ${args}`);
    t.equal(r.code, 64, args);
    t.match(r.stderr, re, args);
  }
  const missing = await sh(`bx-report --section R ${join(dir, 'nope.ndjson')}`);
  t.equal(missing.code, 66);
});

t.test('--max-rows cuts a big table with a note; the page stays small', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'all.html');
  const r = await sh(`bx-extract -q ${csv} | bx-report --section 'Every order line' -o ${out}`);
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  t.equal((html.match(/<tr>/g) ?? []).length, 1 + 1000, 'header + 1,000 rows');
  has(t, html, 'Showing the first 1,000 of 10,194 records (--max-rows 1000).');
  t.ok(html.length < 1_500_000, `${html.length} bytes for 10,194 records`);
  has(t, html, '<td>US-2019-103800</td>');
  // Ids are shown as written; postal codes (some with a leading zero, 06010) are text.
  has(t, html, '<td class="num" data-value="1000">1000</td>');
  has(t, html, '<td>77095</td>');
  has(t, html, '<td>06010</td>');
  has(t, html, '<td class="num" data-value="2573.82">2,573.82</td>');
  const small = await sh(`bx-extract -q ${csv} | bx-report -q --max-rows 5 -f md`);
  t.match(small.stdout, 'Showing the first 5 of 10,194 records (--max-rows 5).');
});

t.test('--spec: many sections from a JSON file, paths relative to it; a bad spec is 78', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'cat.ndjson'), (await sh(AGG)).stdout);
  const specFile = join(dir, 'report.json');
  writeFileSync(
    specFile,
    JSON.stringify({
      title: 'From a spec',
      sections: [
        { section: 'Revenue', chart: 'bar', x: 'Category', y: 'revenue', file: 'cat.ndjson' },
        { section: 'Records', chart: 'hbar', x: 'Category', y: 'n', files: ['cat.ndjson'] },
        { section: 'Table', file: 'cat.ndjson', title: 'all fields' },
      ],
    }),
  );
  const r = await sh(`cd / && bx-report -q --spec ${specFile} -f md`);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^# From a spec$/m);
  t.same(r.stdout.match(/^## .*$/gm), ['## Revenue', '## Records', '## Table']);
  t.match(r.stdout, /^all fields$/m);
  writeFileSync(specFile, JSON.stringify({ sections: [{ section: 'A', chart: 'pie', file: 'cat.ndjson' }] }));
  const bad = await sh(`bx-report --spec ${specFile}`);
  t.equal(bad.code, 78);
  t.match(bad.stderr, /report\.json: sections\[0\]\.chart: expected one of bar, hbar, line, table, got "pie"/);
  writeFileSync(specFile, '{"sections": [');
  t.equal((await sh(`bx-report --spec ${specFile}`)).code, 78);
});

t.test('--run-summary: the runs and their counts in the footer', async (t) => {
  const dir = tmp(t);
  const runs = join(dir, 'runs.ndjson');
  writeFileSync(
    runs,
    [
      { command: 'bx-extract', status: 'ok', rows_in: 10194, rows_out: 10194, rejected: 0, seconds: 0.41, args: ['x'] },
      { command: 'bx-clean', status: 'ok', rows_in: 10194, rows_out: 10190, rejected: 4, seconds: 0.2 },
      { command: 'bx-load', status: 'failed', rows_in: 10190, rows_out: 0, rejected: 0, seconds: 1.5 },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n') + '\n',
  );
  const out = join(dir, 'r.html');
  const r = await sh(`${AGG} | bx-report -q --section Totals --run-summary ${runs} -o ${out}`);
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  has(t, html, '<footer>');
  has(t, html, '3 runs: 2 ok, 1 failed; 30,578 rows in, 20,384 out, 4 rejected');
  has(t, html, '<td>bx-clean</td><td>ok</td><td class="num" data-value="10194">10,194</td>');
  writeFileSync(runs, '{"command":"x"}\nnope\n');
  const bad = await sh(`${AGG} | bx-report -q --run-summary ${runs}`);
  t.equal(bad.code, 65);
  t.match(bad.stderr, /runs\.ndjson:2: not valid JSON/);
});

t.test('SOURCE_DATE_EPOCH: the same input gives the same bytes', async (t) => {
  const cmd = `${AGG} | bx-report -q --section R --chart bar --x Category --y revenue --section T --chart table`;
  const a = await sh(cmd, { env: { SOURCE_DATE_EPOCH: '1764672000' } });
  const b = await sh(cmd, { env: { SOURCE_DATE_EPOCH: '1764672000' } });
  t.equal(a.code, 0, a.stderr);
  t.equal(a.stdout, b.stdout);
  t.match(a.stdout, 'Generated <time datetime="2025-12-02T10:40:00.000Z">2025-12-02 10:40 UTC</time>');
});

// --help against the page (sections, options, both ways) is test/e2e/family.test.ts's one check.
t.test('the page names -x and -y as --help shows them; bx report runs bx-report', async (t) => {
  const help = await sh('bx-report --help');
  t.equal(help.code, 0);
  const man = readFileSync(join(root, 'man', 'bx-report.1'), 'utf8');
  // -x and -y show in --help as short options: the page names them too.
  for (const o of ['x', 'y']) t.match(man, `\\fB\\-${o}\\fR, \\fB\\-\\-${o}\\fR`);
  t.equal(typeof main, 'function');
  const viaBx = await sh('bx report --help');
  t.equal(viaBx.stdout, help.stdout, 'bx report runs bx-report');
  t.match((await sh('bx --help')).stdout, /^  report /m, 'bx --help lists it');
});

t.test('--query: rows of a PostgreSQL query as a section', async (t) => {
  if (!existsSync(join(root, 'src', 'sources', 'postgres.ts'))) {
    const r = await sh(`bx-report --section Q --query 'select 1 as one'`);
    t.equal(r.code, 69, 'without the source module: 69, said plainly');
    t.match(r.stderr, /--query: this build has no PostgreSQL source \(src\/sources\/postgres\.ts\)/);
    return t.skip(
      'src/sources/postgres.ts is not in this branch yet (another engineer is writing it); only the 69 path is tested',
    );
  }
  const url = databaseUrl();
  if (!url) return t.skip('no DATABASE_URL');
  const table = 'bxrep_sales';
  const env = { DATABASE_URL: url, PGOPTIONS: '--client-min-messages=warning' };
  const setup = await sh(
    `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -c 'drop table if exists ${table}' -c "create table ${table} (category text, revenue numeric)" -c "insert into ${table} values ('a', 12345678901234567.89), ('b', 0.10)"`,
    { env },
  );
  if (setup.code !== 0) return t.skip(`PostgreSQL unreachable: ${setup.stderr.trim()}`);
  t.teardown(() => sh(`psql "$DATABASE_URL" -q -c 'drop table if exists ${table}'`, { env }));
  const r = await sh(
    `bx-report -q -f md --section Q --chart bar --x category --y revenue --query 'select category, revenue from ${table} order by 1'`,
    { env },
  );
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, '| a | 12,345,678,901,234,567.89 |', 'a numeric beyond a double, exact');
  // The source writes numeric 0.10 as the number 0.1 (the record stream's rule: the scale lives in
  // a schema, not in the value), and the report shows the value it is given.
  t.match(r.stdout, '| b | 0.1 |');
});
