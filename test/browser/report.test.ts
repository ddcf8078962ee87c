// The report as a person opens it: Debian's chromium, driven by playwright-core, loads the page
// bx-report wrote from file:// and checks what a reader sees: no console error, no request but
// the file itself, one bar per category with heights in the ratio of the values, the exact
// totals, a hostile product name shown as text with no dialog. Screenshots (light, dark,
// print) go to test/artifacts/ for a person to look at.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { root, sh, shared, tmp } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const artifacts = join(root, 'test', 'artifacts');

t.test(
  'the HTML report in Chromium',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` },
  async (t) => {
    const { chromium } = await import('playwright-core');
    const dir = tmp(t);
    const agg = join(dir, 'cat.ndjson');
    const r0 = await sh(
      `bx-extract -q ${shared('superstore.csv')} | bx-agg -q --by Category --agg revenue=sum:Sales,profit=sum:Profit,orders=count > ${agg}`,
    );
    t.equal(r0.code, 0, r0.stderr);
    const evil = join(dir, 'evil.ndjson');
    writeFileSync(
      evil,
      [
        { product: '<script>alert(1)</script>', revenue: '1200.50' },
        { product: '<img src=x onerror=alert(2)>', revenue: '800' },
        { product: '=HYPERLINK("http://example.invalid/","click")', revenue: '350.25' },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n') + '\n',
    );
    const byDay = join(dir, 'day.ndjson');
    const r1 = await sh(
      `bx-extract -q ${shared('superstore.csv')} | bx-agg -q --by 'Ship Mode' --agg revenue=sum:Sales > ${join(dir, 'mode.ndjson')}`,
    );
    t.equal(r1.code, 0, r1.stderr);
    writeFileSync(
      byDay,
      Array.from({ length: 14 }, (_, i) =>
        JSON.stringify({
          day: `2026-11-${String(i + 1).padStart(2, '0')}`,
          revenue: (1000 + ((i * 7919) % 613) + i * 40).toFixed(2),
        }),
      ).join('\n') + '\n',
    );
    const runs = join(dir, 'runs.ndjson');
    writeFileSync(
      runs,
      JSON.stringify({
        command: 'bx-extract',
        status: 'ok',
        rows_in: 10194,
        rows_out: 10194,
        rejected: 0,
        seconds: 0.4,
      }) +
        '\n' +
        JSON.stringify({ command: 'bx-agg', status: 'ok', rows_in: 10194, rows_out: 3, rejected: 0, seconds: 0.1 }) +
        '\n',
    );
    const page = join(dir, 'report.html');
    const r = await sh(
      `bx-report -q --title 'Superstore sales' --section 'Revenue by category' --chart bar --x Category --y revenue ${agg} ` +
        `--section 'Revenue by ship mode' --chart hbar --x 'Ship Mode' --y revenue ${join(dir, 'mode.ndjson')} ` +
        `--section 'Revenue by day' --chart line --x day --y revenue --title 'two weeks of November' ${byDay} ` +
        `--section 'Untrusted names' --chart bar --x product --y revenue ${evil} ` +
        `--section 'All figures' --chart table ${agg} --run-summary ${runs} -o ${page}`,
      { env: { SOURCE_DATE_EPOCH: '1764680000' } },
    );
    t.equal(r.code, 0, r.stderr);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    t.teardown(() => browser.close());
    const url = pathToFileURL(page).href;
    const open = async (colorScheme: 'light' | 'dark') => {
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 }, colorScheme });
      const p = await ctx.newPage();
      const requests: string[] = [];
      const problems: string[] = [];
      const dialogs: string[] = [];
      p.on('request', (q) => requests.push(q.url()));
      p.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      p.on('dialog', async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      await p.goto(url, { waitUntil: 'load' });
      return { p, ctx, requests, problems, dialogs };
    };

    const { p, requests, problems, dialogs, ctx } = await open('light');
    t.same(requests, [url], 'no request but the file itself');
    t.same(problems, [], 'no console error or warning');
    t.same(dialogs, [], 'no dialog: the <script> in the data did not run');
    t.equal(await p.evaluate(() => document.querySelectorAll('script').length), 0, 'no script element on the page');
    t.equal(await p.evaluate(() => document.querySelectorAll('svg.chart').length), 4, 'four charts');

    // One bar per category, heights in the ratio of the exact values.
    const expected = (await import('node:fs')).readFileSync(agg, 'utf8').trim().split('\n');
    const values = expected.map((l) => ({
      cat: JSON.parse(l).Category as string,
      text: /"revenue":([-\d.eE+]+)/.exec(l)![1],
    }));
    const bars = await p.evaluate(() =>
      [...document.querySelectorAll('#s1 svg rect.bar')].map((r) => ({
        x: r.getAttribute('data-x'),
        value: r.getAttribute('data-value'),
        h: (r as SVGRectElement).getBBox().height,
      })),
    );
    t.same(
      bars.map((b) => b.x),
      values.map((v) => v.cat),
      'one bar per category, in order',
    );
    t.same(
      bars.map((b) => b.value),
      values.map((v) => v.text),
      'each bar carries the exact value',
    );
    for (let i = 1; i < bars.length; i++) {
      const want = Number(values[i].text) / Number(values[0].text);
      const got = bars[i].h / bars[0].h;
      t.ok(Math.abs(got - want) < 0.002, `bar ${i} / bar 0 height ${got.toFixed(4)} ≈ value ratio ${want.toFixed(4)}`);
    }
    const heights = await p.evaluate(() =>
      [...document.querySelectorAll('#s1 svg rect.bar')].map((r) => r.getBoundingClientRect().height),
    );
    t.ok(
      heights.every((h) => h > 50),
      `bars drawn tall enough to read: ${heights.map((h) => h.toFixed(0)).join(', ')} px`,
    );

    // The table shows the exact totals, with separators, right-aligned.
    const cells = await p.evaluate(() =>
      [...document.querySelectorAll('#s1 table tbody tr')].map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => ({ text: td.textContent, align: getComputedStyle(td).textAlign })),
      ),
    );
    const grouped = (s: string) => s.replace(/^(-?\d+)/, (i) => i.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
    t.same(
      cells.map((c) => c[0].text),
      values.map((v) => v.cat),
    );
    t.same(
      cells.map((c) => c[1].text),
      values.map((v) => grouped(v.text)),
      'exact totals: ' + values.map((v) => grouped(v.text)).join(', '),
    );
    t.same([...new Set(cells.map((c) => c[1].align))], ['right']);

    // Hostile names are text.
    const evilText = await p.evaluate(() =>
      [...document.querySelectorAll('#s4 tbody td:first-child')].map((td) => td.textContent),
    );
    t.same(
      evilText,
      ['<script>alert(1)</script>', '<img src=x onerror=alert(2)>', '=HYPERLINK("http://example.invalid/","click")'],
      'shown literally',
    );
    t.equal(await p.evaluate(() => document.querySelectorAll('img').length), 0, 'no <img> from the data');
    const svgLabels = await p.evaluate(() =>
      [...document.querySelectorAll('#s4 svg .xlabels text')].map((x) => x.textContent),
    );
    t.equal(svgLabels[0], '<script>alert(1)</scrip…', 'SVG axis label literal too (cut at 24 characters)');
    const tip = await p.evaluate(() => document.querySelector('#s4 svg rect.bar title')?.textContent);
    t.equal(tip, '<script>alert(1)</script>: 1,200.50', "the bar's tooltip holds the whole name");

    // Line: points left to right in time order.
    const cx = await p.evaluate(() =>
      [...document.querySelectorAll('#s3 svg circle')].map((c) => Number(c.getAttribute('cx'))),
    );
    t.equal(cx.length, 14);
    t.ok(
      cx.every((x, i) => i === 0 || x > cx[i - 1]),
      'x grows with the day',
    );
    t.match(
      await p.evaluate(() => document.querySelector('footer')?.textContent ?? ''),
      '2 runs: 2 ok; 20,388 rows in, 10,197 out, 0 rejected',
    );

    mkdirSync(artifacts, { recursive: true });
    await p.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    await p.emulateMedia({ media: 'print' });
    await p.screenshot({ path: join(artifacts, 'report-print.png'), fullPage: true });
    await ctx.close();

    const dark = await open('dark');
    t.same(dark.problems, []);
    const bg = await dark.p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    t.equal(bg, 'rgb(21, 24, 28)', 'dark scheme: a dark page');
    await dark.p.screenshot({ path: join(artifacts, 'report-dark.png'), fullPage: true });
    await dark.ctx.close();
    t.ok(existsSync(join(artifacts, 'report.png')), 'screenshot saved in test/artifacts/');
  },
);
