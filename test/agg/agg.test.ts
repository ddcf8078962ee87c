// bx-agg in-process: aggregates, exactness, nulls, errors, and the partial/merge/spill laws.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ExactSum } from '../../src/agg/exact-sum.js';
import { valueCmp } from '../../src/agg/values.js';
import { spec } from '../../src/commands/agg.js';
import { runIn, tmp } from '../helpers.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs bx-agg in this process on `input`, as cli() would from a shell. */
function agg(
  argv: string[],
  input: string | Record<string, unknown>[] = '',
  env: Record<string, string> = {},
): Promise<Result> {
  const text = typeof input === 'string' ? input : input.map((r) => JSON.stringify(r) + '\n').join('');
  return runIn('bx-agg', spec, ['-q', ...argv], text, env);
}

const rows = (out: string) =>
  out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

t.test('ExactSum: doubles while they are exact, BigInt past 2^53', async (t) => {
  const s = new ExactSum();
  s.add(1, 1); // 0.1
  s.add(2, 1); // 0.2
  t.equal(s.value().toString(), '0.3');
  s.add(5, 3); // 0.005: rescales
  t.equal(s.value().toString(), '0.305');
  const big = new ExactSum();
  for (let i = 0; i < 4; i++) big.add(Number.MAX_SAFE_INTEGER, 0);
  t.equal(big.value().toString(), (4n * BigInt(Number.MAX_SAFE_INTEGER)).toString());
  const mixed = new ExactSum();
  mixed.add(900719925474099, 0);
  mixed.add(1, 4); // scaling the total by 10^4 leaves the double range
  t.equal(mixed.value().toString(), '900719925474099.0001');
});

t.test('values order: numbers by value, then strings, booleans, objects, null last', async (t) => {
  const vals = [null, 'b', 10, '9', true, 'a', -1, { x: 1 }, false, '1.0', 1];
  t.same([...vals].sort(valueCmp), [-1, 1, '1.0', '9', 10, 'a', 'b', false, true, { x: 1 }, null]);
});

t.test('sums and averages are exact; numeric strings count as numbers', async (t) => {
  const r = await agg(['--agg', 'count,sum:x,avg:x,min:x,max:x'], [{ x: 0.1 }, { x: '0.2' }, { x: 0.3 }]);
  t.equal(r.code, 0, r.stderr);
  t.same(rows(r.stdout), [{ count: 3, sum_x: 0.6, avg_x: 0.2, min_x: 0.1, max_x: 0.3 }]);

  const big = await agg(['--agg', 'sum:x'], [{ x: '9007199254740993' }, { x: 1 }, { x: '0.000000000000000001' }]);
  t.same(rows(big.stdout), [{ sum_x: '9007199254740994.000000000000000001' }]);

  const ints = await agg(
    ['--agg', 'sum:x'],
    Array.from({ length: 3 }, () => ({ x: 4e15 })),
  );
  t.same(rows(ints.stdout), [{ sum_x: '12000000000000000' }], 'integer sums beyond 2^53 stay exact');
});

t.test('avg: largest input scale + --extra-digits, half away from zero', async (t) => {
  const cases: [unknown[], string[], unknown][] = [
    [[1, 2, 2], [], 1.6667],
    [[-1, -2, -2], [], -1.6667],
    [['0.10', '0.25'], [], 0.175],
    [[1, 2], ['--extra-digits', '0'], 2], // 1.5 rounds away from zero
    [[-1, -2], ['--extra-digits', '0'], -2],
    [[1, 1, 2], ['--extra-digits', '2'], 1.33],
  ];
  for (const [xs, flags, want] of cases) {
    const r = await agg(
      ['--agg', 'avg:x', ...flags],
      xs.map((x) => ({ x })),
    );
    t.same(rows(r.stdout), [{ avg_x: want }], `avg of ${JSON.stringify(xs)} ${flags.join(' ')}`);
  }
});

t.test('null, missing and "" are skipped; count counts records', async (t) => {
  const input = [{ g: 'a', x: 1 }, { g: 'a', x: null }, { g: 'a' }, { g: 'a', x: '' }, { g: 'b', x: null }];
  const r = await agg(
    ['--by', 'g', '--agg', 'count,count:x,sum:x,avg:x,min:x,median:x,stddev:x,count_distinct:x,first:x'],
    input,
  );
  t.same(rows(r.stdout), [
    {
      g: 'a',
      count: 4,
      count_x: 1,
      sum_x: 1,
      avg_x: 1,
      min_x: 1,
      median_x: 1,
      stddev_x: null,
      count_distinct_x: 1,
      first_x: 1,
    },
    {
      g: 'b',
      count: 1,
      count_x: 0,
      sum_x: null,
      avg_x: null,
      min_x: null,
      median_x: null,
      stddev_x: null,
      count_distinct_x: 0,
      first_x: null,
    },
  ]);
});

t.test('no --by gives one total record, even for empty input', async (t) => {
  const r = await agg(['--agg', 'count,sum:x,p90:x'], '');
  t.equal(r.code, 0);
  t.same(rows(r.stdout), [{ count: 0, sum_x: null, p90_x: null }]);
  const g = await agg(['--by', 'k'], '');
  t.equal(g.stdout, '', 'with --by, no input means no groups');
});

t.test('percentiles interpolate exactly; stddev is the sample stddev', async (t) => {
  const xs = Array.from({ length: 10 }, (_, i) => ({ x: i + 1 }));
  const r = await agg(['--agg', 'median:x,p90:x,p25:x,p0:x,p100:x,p99.5:x'], xs);
  t.same(rows(r.stdout), [{ median_x: 5.5, p90_x: 9.1, p25_x: 3.25, p0_x: 1, p100_x: 10, 'p99.5_x': 9.955 }]);
  const s = await agg(
    ['--agg', 'stddev:x'],
    [2, 4, 4, 4, 5, 5, 7, 9].map((x) => ({ x })),
  );
  t.same(rows(s.stdout), [{ stddev_x: 2.1381 }], 'sqrt(32/7) = 2.13808…');
  const one = await agg(['--agg', 'p50:x,stddev:x'], [{ x: '12.5' }]);
  t.same(rows(one.stdout), [{ p50_x: 12.5, stddev_x: null }]);
});

t.test('min/max, first/last, count_distinct on strings; keys sort numbers by value', async (t) => {
  const input = [
    { k: 10, d: '2024-03-01', c: 'x' },
    { k: '9', d: '2024-01-15', c: 'y' },
    { k: 10, d: '2024-02-01', c: 'x' },
    { k: null, d: '2023-12-31', c: 1 },
    { k: 'a', d: '2024-01-01', c: '1' },
  ];
  const r = await agg(['--by', 'k', '--agg', 'min:d,max:d,first:d,last:d,count_distinct:c'], input);
  t.same(rows(r.stdout), [
    {
      k: '9',
      min_d: '2024-01-15',
      max_d: '2024-01-15',
      first_d: '2024-01-15',
      last_d: '2024-01-15',
      count_distinct_c: 1,
    },
    {
      k: 10,
      min_d: '2024-02-01',
      max_d: '2024-03-01',
      first_d: '2024-03-01',
      last_d: '2024-02-01',
      count_distinct_c: 1,
    },
    {
      k: 'a',
      min_d: '2024-01-01',
      max_d: '2024-01-01',
      first_d: '2024-01-01',
      last_d: '2024-01-01',
      count_distinct_c: 1,
    },
    {
      k: null,
      min_d: '2023-12-31',
      max_d: '2023-12-31',
      first_d: '2023-12-31',
      last_d: '2023-12-31',
      count_distinct_c: 1,
    },
  ]);
  const all = await agg(['--agg', 'count_distinct:c'], input);
  t.same(rows(all.stdout), [{ count_distinct_c: 3 }], 'x, y and 1: 1 and "1" are one value');
});

t.test('renames, --sort, --top; ties broken by key', async (t) => {
  const input = [
    { p: 'b', s: '5' },
    { p: 'a', s: '5' },
    { p: 'c', s: '7.5' },
    { p: 'd', s: '1' },
    { p: 'c', s: '-0.5' },
  ];
  const r = await agg(['--by', 'p', '--agg', 'revenue=sum:s,n=count', '--sort', 'revenue:desc', '--top', '3'], input);
  t.same(rows(r.stdout), [
    { p: 'c', revenue: 7, n: 2 },
    { p: 'a', revenue: 5, n: 1 },
    { p: 'b', revenue: 5, n: 1 },
  ]);
  const asc = await agg(['--by', 'p', '--agg', 'revenue=sum:s', '--sort', 'revenue', '--top', '1'], input);
  t.same(rows(asc.stdout), [{ p: 'd', revenue: 1 }]);
  const byKey = await agg(['--by', 'p', '--top', '2'], input);
  t.same(rows(byKey.stdout), [
    { p: 'a', count: 1 },
    { p: 'b', count: 1 },
  ]);
});

t.test('--top keeps the best rows as they come: many ties, any arrival order, every size', async (t) => {
  // Up to --top 1000 the best rows are kept in order as groups come (in arrival order, not
  // key order, when --sort follows); above, all are sorted. Both must give what a sort of every
  // row by (--sort, key) gives: checked against that sort, done here by hand.
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const recs: Record<string, unknown>[] = [];
  for (let i = 0; i < 6000; i++) {
    const k = Math.floor(rnd() * 1500);
    // Strings, numbers and a few other kinds of key, in the total order of values.ts.
    const p = k % 50 === 0 ? k : k % 77 === 0 ? null : k % 91 === 0 ? k % 2 === 0 : `k${(k * 7919) % 1500}`;
    recs.push({ p, s: String(k % 9) });
  }
  const all = rows((await agg(['--by', 'p', '--agg', 'n=count,v=sum:s'], recs)).stdout) as {
    p: unknown;
    n: number;
    v: number;
  }[];
  const byKey = all.slice(); // bx-agg's output without --sort is in key order
  for (const [sort, cmp] of [
    ['n:desc', (a: (typeof all)[0], b: (typeof all)[0]) => b.n - a.n],
    ['v,n:desc', (a: (typeof all)[0], b: (typeof all)[0]) => a.v - b.v || b.n - a.n],
  ] as const) {
    const want = byKey
      .map((r, i) => ({ r, i }))
      .sort((a, b) => cmp(a.r, b.r) || a.i - b.i)
      .map((x) => x.r);
    for (const top of [1, 2, 3, 10, 999, 1000, 1001, 5000]) {
      const r = await agg(['--by', 'p', '--agg', 'n=count,v=sum:s', '--sort', sort, '--top', String(top)], recs);
      t.same(rows(r.stdout), want.slice(0, top), `--sort ${sort} --top ${top}`);
    }
  }
});

t.test('usage errors name the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--agg', 'sum'], /--agg: sum needs a field/],
    [['--agg', 'mode:x'], /unknown function "mode"/],
    [['--agg', 'sum:x,sum:x'], /two output fields are named "sum_x"/],
    [['--by', 'k', '--agg', 'k=count'], /two output fields are named "k"/],
    [['--sort', 'nope'], /--sort: "nope" is not an output field/],
    [['--top', '0'], /--top: expected a positive integer/],
    [['--partial', '--top', '3'], /--sort and --top apply to final results/],
    [['--keyed'], /--keyed needs --partial or --merge/],
    [['--memory', 'lots'], /--memory: expected a size/],
    [['--bogus'], /Unknown argument: bogus/],
  ];
  for (const [argv, re] of cases) {
    const r = await agg(argv, '');
    t.equal(r.code, 64, argv.join(' '));
    t.match(r.stderr, re);
  }
});

t.test('a non-numeric value stops the run naming file, line and field, or goes to --rejects', async (t) => {
  const input = '{"g":"a","Sales":"1.5"}\n\n{"g":"a","Sales":"abc"}\n';
  const r = await agg(['--by', 'g', '--agg', 'sum:Sales'], input);
  t.equal(r.code, 65);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^bx-agg: stdin:3: field "Sales": expected a number, got "abc"$/m);

  const lineage = await agg(['--agg', 'avg:Sales'], [{ Sales: true, _file: 'sales.csv', _line: 42 }]);
  t.match(lineage.stderr, /sales\.csv:42: field "Sales": expected a number, got true/);

  const dir = tmp(t);
  const rej = join(dir, 'rejects.ndjson');
  const ok = await agg(['--by', 'g', '--agg', 'count,sum:Sales', '--rejects', rej], input);
  t.equal(ok.code, 0, ok.stderr);
  t.same(rows(ok.stdout), [{ g: 'a', count: 1, sum_Sales: 1.5 }], 'the rejected record counts nowhere');
  t.same(rows(readFileSync(rej, 'utf8')), [
    {
      record: { g: 'a', Sales: 'abc' },
      errors: [{ field: 'Sales', rule: 'number', value: 'abc', message: 'expected a number, got "abc"' }],
      source: 'stdin:3',
    },
  ]);
  const tooMany = await agg(['--agg', 'sum:Sales', '--rejects', rej, '--max-rejects', '10%'], input);
  t.equal(tooMany.code, 65);
  t.match(tooMany.stderr, /too many rejects/);
});

// A fixed pseudo-random data set with awkward values: big integers, long decimals, nulls, strings.
function dataset(n: number, groups: number) {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const recs: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rnd() * groups);
    const r = rnd();
    const x =
      r < 0.05
        ? null
        : r < 0.1
          ? '123456789012345678.25'
          : r < 0.5
            ? (Math.floor(rnd() * 100000) / 100).toFixed(2)
            : Math.floor(rnd() * 1e6) / 1000;
    recs.push({
      k: k % 3 === 0 ? k : `g${k}`,
      k2: k % 2 === 0,
      x,
      c: `c${Math.floor(rnd() * 50)}`,
      _file: 'data.ndjson',
      _line: i + 1,
    });
  }
  return recs;
}

const AGGS = [
  '--by',
  'k,k2',
  '--agg',
  'n=count,count:x,sum:x,avg:x,min:x,max:x,median:x,p95:x,stddev:x,count_distinct:c,first:c,last:c',
];
const ndjsonText = (recs: Record<string, unknown>[]) => recs.map((r) => JSON.stringify(r) + '\n').join('');

t.test('merge is associative and commutative: any split, any order, same bytes', async (t) => {
  const recs = dataset(3000, 40);
  const single = await agg(AGGS, recs);
  t.equal(single.code, 0, single.stderr);
  t.equal(rows(single.stdout).length, 40);
  let seed = 3;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let trial = 0; trial < 4; trial++) {
    const cuts = [
      0,
      ...Array.from({ length: 3 }, () => Math.floor(rnd() * recs.length)).sort((a, b) => a - b),
      recs.length,
    ];
    const parts: string[] = [];
    for (let i = 0; i < 4; i++)
      parts.push((await agg(['--partial', ...AGGS], recs.slice(cuts[i], cuts[i + 1]))).stdout);
    parts.sort(() => rnd() - 0.5);
    // merge in two levels: (p0 + p1) then with the rest, as a combiner would
    const left = await agg(['--merge', '--partial', ...AGGS], parts[0] + parts[1]);
    const merged = await agg(['--merge', ...AGGS], parts[2] + left.stdout + parts[3]);
    t.equal(merged.code, 0, merged.stderr);
    t.equal(merged.stdout, single.stdout, `split at ${cuts.join(',')}`);
  }
});

t.test('spilling past --memory gives the same result, in every mode', async (t) => {
  const recs = dataset(3000, 900);
  const single = await agg(AGGS, recs);
  const spilled = await agg(['--memory', '20k', ...AGGS], recs);
  t.equal(spilled.stdout, single.stdout);
  const partial = await agg(['--memory', '20k', '--partial', ...AGGS], recs);
  const merged = await agg(['--memory', '20k', '--merge', ...AGGS], partial.stdout);
  t.equal(merged.stdout, single.stdout);
  const top = await agg(['--memory', '20k', ...AGGS, '--sort', 'sum_x:desc', '--top', '3'], recs);
  t.equal(top.stdout, (await agg([...AGGS, '--sort', 'sum_x:desc', '--top', '3'], recs)).stdout);
});

t.test('--keyed lines and --sorted input', async (t) => {
  const recs = dataset(500, 10);
  const single = await agg(AGGS, recs);
  const keyed = await agg(['--partial', '--keyed', ...AGGS], recs);
  const lines = keyed.stdout.split('\n').filter(Boolean);
  t.equal(lines.length, 10);
  for (const l of lines) {
    const [key, state] = l.split('\t');
    t.same(JSON.parse(key), JSON.parse(state).key);
  }
  const reduced = await agg(
    ['--merge', '--keyed', '--sorted', ...AGGS],
    [...lines, ...lines.map((l) => l)].sort().join('\n') + '\n',
  );
  const doubled = await agg(AGGS, [...recs, ...recs]);
  t.same(reduced.stdout.split('\n').sort(), doubled.stdout.split('\n').sort());

  const sortedRecs = [...recs].sort((a, b) => (JSON.stringify([a.k, a.k2]) < JSON.stringify([b.k, b.k2]) ? -1 : 1));
  const streamed = await agg(['--sorted', ...AGGS], sortedRecs);
  t.same(streamed.stdout.split('\n').sort(), single.stdout.split('\n').sort());
  const noTab = await agg(['--merge', '--keyed', ...AGGS], '{"@agg":"x"}\n');
  t.equal(noTab.code, 65);
  t.match(noTab.stderr, /stdin:1: expected KEY<TAB>STATE/);
});

t.test('partial states from other options, or broken ones, are refused', async (t) => {
  const p = await agg(['--partial', '--by', 'k', '--agg', 'sum:x'], [{ k: 1, x: 2 }]);
  const other = await agg(['--merge', '--by', 'k', '--agg', 'avg:y'], p.stdout);
  t.equal(other.code, 65);
  t.match(other.stderr, /stdin:1: partial state made with other --by\/--agg options/);
  const sameSlot = await agg(['--merge', '--by', 'k', '--agg', 'avg:x,total=sum:x'], p.stdout);
  t.same(rows(sameSlot.stdout), [{ k: 1, avg_x: 2, total: 2 }], 'avg merges from the same sum state');
  const broken = await agg(['--merge', '--by', 'k', '--agg', 'sum:x'], p.stdout.replace('"2"', '"two"'));
  t.equal(broken.code, 65);
  t.match(broken.stderr, /malformed partial state for sum:x/);
  const plain = await agg(['--merge', '--by', 'k', '--agg', 'sum:x'], '{"k":1}\n');
  t.match(plain.stderr, /not a partial state/);
});

t.test('sealed streams: trailers out, several sealed partial streams in', async (t) => {
  const env = { BX_SEAL: '1' };
  const recs = [
    { k: 'a', x: 1 },
    { k: 'b', x: 2 },
  ];
  const sealedIn = ndjsonText(recs) + '{"@bx":"end","records":2}\n';
  const r = await agg(['--by', 'k', '--agg', 'sum:x'], sealedIn, env);
  t.equal(r.stdout.split('\n').filter(Boolean).pop(), '{"@bx":"end","records":2}');
  const cut = await agg(['--by', 'k'], ndjsonText(recs), env);
  t.equal(cut.code, 65);
  t.match(cut.stderr, /ended without its end-of-stream mark/);

  const p1 = (await agg(['--partial', '--by', 'k', '--agg', 'sum:x'], sealedIn, env)).stdout;
  const p2 = (
    await agg(
      ['--partial', '--by', 'k', '--agg', 'sum:x'],
      ndjsonText([{ k: 'a', x: 5 }]) + '{"@bx":"end","records":1}\n',
      env,
    )
  ).stdout;
  const m = await agg(['--merge', '--by', 'k', '--agg', 'sum:x'], p1 + p2, env);
  t.equal(m.code, 0, m.stderr);
  t.same(rows(m.stdout), [
    { k: 'a', sum_x: 6 },
    { k: 'b', sum_x: 2 },
    { '@bx': 'end', records: 2 },
  ]);
  const lost = await agg(['--merge', '--by', 'k', '--agg', 'sum:x'], p1 + p2.split('\n')[0] + '\n', env);
  t.equal(lost.code, 65);
  const keyed = await agg(['--partial', '--keyed', '--by', 'k'], sealedIn, env);
  t.notMatch(keyed.stdout, /@bx/, 'a keyed stream belongs to the shuffle: no trailer');
});

t.test('odd keys: __proto__ field, objects, a NUL-led string', async (t) => {
  const r = await agg(
    ['--by', '__proto__', '--agg', 'count'],
    '{"__proto__":"x"}\n{"__proto__":{"a":1}}\n{"__proto__":"\\u0000null"}\n{"__proto__":null}\n',
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.split('\n').filter(Boolean).length, 4);
});

t.test('--memory bounds the process: a resident size past 70 % of it spills before the estimate does', async (t) => {
  const { GroupTable } = await import('../../src/agg/table.js');
  const { Plan } = await import('../../src/agg/plan.js');
  const plan = new Plan(['k'], ['sum:x', 'count'], 4);
  const recs = Array.from({ length: 2000 }, (_, i) => ({ k: `key-${i % 700}`, x: `${i}.25` }));
  const run = async (rss: number) => {
    const table = new GroupTable(plan, { memory: 1 << 20, sorted: false, rss: () => rss, tempDir: tmp(t) });
    for (let i = 0; i < recs.length; i += 100) {
      const batch = recs.slice(i, i + 100);
      table.addRecords(
        batch,
        batch.map((_, j) => i + j + 1),
        'in',
        () => t.fail('no rejects'),
      );
      await table.maybeSpill();
    }
    const out: string[] = [];
    for await (const gs of table.finish()) for (const g of gs) out.push(JSON.stringify(plan.row(g.key, g.s)));
    return { out, spilled: table.spilled };
  };
  const small = await run(640 << 10); // 640 KB resident: under 70 % of 1 MB
  const full = await run(900 << 10); // 900 KB resident: past it
  t.equal(small.spilled, 0, 'a small process keeps its groups');
  t.ok(full.spilled > 0, 'a full process spills');
  t.same(full.out, small.out, 'and the result is the same');
});
