// bx-report's exact number display and its SVG writer, in process.
import t from 'tap';
import { scanArgv, argvSections } from '../../src/report/args.js';
import { chartSvg, niceTicks } from '../../src/report/svg.js';
import {
  cellText,
  columnsOf,
  decimalText,
  displayWidth,
  escapeHtml,
  groupDigits,
  truncate,
  visibleControls,
} from '../../src/report/values.js';

t.test('decimalText: the digits of a number, never a float printed back', async (t) => {
  const cases: [unknown, string | undefined][] = [
    ['754747.7613', '754747.7613'],
    ['12345678901234567890.123456789', '12345678901234567890.123456789'],
    ['10.50', '10.50'],
    ['+3', '3'],
    ['-0.001', '-0.001'],
    [0.1, '0.1'],
    [1e21, '1000000000000000000000'],
    [1.5e-7, '0.00000015'],
    ['2.5E3', '2500'],
    ['1.25e-2', '0.0125'],
    [12, '12'],
    [10n, '10'],
    ['abc', undefined],
    ['', undefined],
    ['1,000', undefined],
    ['0x10', undefined],
    [Number.NaN, undefined],
    [null, undefined],
    [true, undefined],
  ];
  for (const [v, want] of cases) t.equal(decimalText(v), want, `${typeof v} ${String(v)}`);
  // 0.1 + 0.2 as a float is 0.30000000000000004; a decimal string keeps its digits.
  t.equal(decimalText('0.3'), '0.3');
});

t.test('groupDigits: separators in the integer part only, the fraction as written', async (t) => {
  t.equal(groupDigits('1234567.891'), '1,234,567.891');
  t.equal(groupDigits('-1234.50'), '-1,234.50');
  t.equal(groupDigits('999'), '999');
  t.equal(groupDigits('1000'), '1,000');
  t.equal(groupDigits('0.12345'), '0.12345');
  t.equal(groupDigits('12345678901234567890'), '12,345,678,901,234,567,890');
});

t.test('columns: numbers right-aligned, codes and ids as written', async (t) => {
  const rows = [
    { id: '1001', zip: '02134', year: 2024, amount: '1234.5', name: 'x' },
    { id: '1002', zip: '10001', year: 2025, amount: 99, name: '12' },
  ];
  const cols = columnsOf(['id', 'zip', 'year', 'amount', 'name'], rows, new Set());
  t.same(
    cols.map((c) => [c.name, c.numeric, c.code]),
    [
      ['id', true, true],
      ['zip', false, true],
      ['year', true, true],
      ['amount', true, false],
      ['name', false, false],
    ],
  );
  t.equal(cellText('1234.5', cols[3]), '1,234.5');
  t.equal(cellText(2024, cols[2]), '2024');
  t.equal(cellText('02134', cols[1]), '02134');
  t.equal(cellText({ a: 1 }, undefined), '{"a":1}');
  t.match(cellText('x'.repeat(5000), undefined), /^x{1000}… \(5,000 characters\)$/);
  const raw = columnsOf(['amount'], rows, new Set(['amount']));
  t.equal(cellText('1234.5', raw[0]), '1234.5', '--raw');
});

t.test('escaping and terminal text', async (t) => {
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  t.equal(visibleControls('a\x1b[31mb\nc\td\x7f'), 'a␛[31mb␤c d␡');
  t.equal(displayWidth('商品ab'), 6);
  t.equal(displayWidth('e\u0301'), 1);
  t.equal(truncate('abcdefgh', 5), 'abcd…');
  t.equal(truncate('商品商品', 5), '商品…');
});

t.test('niceTicks: round steps, labels from the digits', async (t) => {
  const a = niceTicks(0, 839893.279);
  t.same(
    a.ticks.map((x) => x.label),
    ['0', '200,000', '400,000', '600,000', '800,000', '1,000,000'],
  );
  // 3 × 0.05 is 0.15000000000000002 as a float; the label is built from the digits.
  const b = niceTicks(0, 0.23);
  t.same(
    b.ticks.map((x) => x.label),
    ['0', '0.05', '0.1', '0.15', '0.2', '0.25'],
  );
  const c = niceTicks(-64.77, 746.4);
  t.equal(c.ticks[0].label, '-200');
  t.ok(c.lo <= -64.77 && c.hi >= 746.4);
  const flat = niceTicks(5, 5);
  t.ok(flat.hi > flat.lo, 'one value still gets a range');
});

t.test('chartSvg: byte-stable, one rect per point, escaped labels', async (t) => {
  const points = [
    { label: 'a<b', text: '10', value: 10 },
    { label: 'c', text: '-5.5', value: -5.5 },
    { label: 'd', text: '20.25', value: 20.25 },
  ];
  const one = chartSvg({ kind: 'bar', points, xName: 'x', yName: 'y', title: 'T & U' }, 'c1');
  t.equal(
    one,
    chartSvg({ kind: 'bar', points, xName: 'x', yName: 'y', title: 'T & U' }, 'c1'),
    'same input, same bytes',
  );
  t.equal((one.match(/<rect /g) ?? []).length, 3);
  t.match(one, 'class="bar neg"', 'a negative bar');
  t.match(one, 'data-x="a&lt;b"');
  t.notMatch(one, /a<b/);
  t.match(one, '<title id="c1-t">T &amp; U</title>');
  const h = [...one.matchAll(/<rect [^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
  t.ok(Math.abs(h[2] / h[0] - 2.025) < 0.02, 'heights in the ratio of the values');
  const hb = chartSvg({ kind: 'hbar', points, xName: 'x', yName: 'y', title: 'T' }, 'c2');
  t.equal((hb.match(/<rect /g) ?? []).length, 3);
  const ln = chartSvg(
    {
      kind: 'line',
      points: points.map((p, i) => ({ ...p, time: Date.UTC(2026, 10, 3 - i) })),
      xName: 'x',
      yName: 'y',
      title: 'T',
    },
    'c3',
  );
  const xs = [...ln.matchAll(/<circle [^>]*data-x="([^"]+)"/g)].map((m) => m[1]);
  t.same(xs, ['d', 'c', 'a&lt;b'], 'a time axis sorts the points by time');
});

t.test('argv order decides which flags and files belong to which section', async (t) => {
  const argv = [
    '--title',
    'R',
    '--chart',
    'bar',
    '--section',
    'A',
    '-x',
    'c',
    '--y=v',
    'a.ndjson',
    '--section',
    'B',
    '--chart',
    'table',
    '-',
    '-o',
    'out.html',
    '--section',
    'C',
    '--x',
    'k',
    '--y',
    'w',
    '--query',
    'select 1',
    '--max-rows',
    '5',
  ];
  const scan = scanArgv(argv);
  t.equal(scan.title, 'R');
  const s = argvSections(scan);
  t.same(
    s.map((x) => [x.heading, x.kind, x.x, x.y, x.inputs]),
    [
      ['A', 'bar', 'c', 'v', [{ kind: 'file', path: 'a.ndjson' }]],
      ['B', 'table', undefined, undefined, [{ kind: 'file', path: '-' }]],
      ['C', 'bar', 'k', 'w', [{ kind: 'query', sql: 'select 1' }]],
    ],
  );
  const none = argvSections(scanArgv(['--x', 'a', '--y', 'b', 'f.ndjson']));
  t.same(
    none.map((x) => [x.heading, x.kind, x.inputs.length]),
    [['b by a', 'bar', 1]],
  );
  t.throws(() => argvSections(scanArgv(['f.ndjson', '--section', 'A'])), /comes before the first --section/);
});
