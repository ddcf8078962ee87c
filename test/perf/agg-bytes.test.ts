// bx-agg's byte path (src/agg/line-scan.ts) must give exactly what the object path gives
// (BX_AGG_OBJECT_PATH=1): the same output, exit code, error and rejects, on a table of tricky
// lines, on random lines, and with the input cut at every place.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
type Test = Parameters<Parameters<typeof t.test>[1]>[0];
import { spec } from '../../src/commands/agg.js';
import { pieces, runIn } from '../helpers.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  rejects?: string;
}

const dir = mkdtempSync(join(tmpdir(), 'bx-agg-bytes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

/** bx-agg in this process, its stdin fed in `chunks`; `object` forces the object path. */
async function agg(argv: string[], chunks: Buffer[], object: boolean, extraEnv: Record<string, string> = {}) {
  const rejectsAt = argv.indexOf('--rejects');
  const rejectsPath = join(dir, `rejects-${runs++}.ndjson`);
  const args = rejectsAt >= 0 ? argv.map((a, i) => (i === rejectsAt + 1 ? rejectsPath : a)) : argv;
  const env = { ...extraEnv, ...(object ? { BX_AGG_OBJECT_PATH: '1' } : {}) };
  const r: Result = await runIn('bx-agg', spec, args, chunks, env, dir);
  if (rejectsAt >= 0) {
    try {
      r.rejects = readFileSync(rejectsPath, 'utf8');
    } catch {
      r.rejects = '(none)';
    }
  }
  return r;
}

/** How many lines the byte path took (bx-agg -v says so). */
async function scanned(argv: string[], input: string): Promise<number> {
  const r = await agg(['-v', ...argv], [Buffer.from(input)], false);
  const m = /byte path: (\d+) of (\d+) lines/.exec(r.stderr);
  return m ? Number(m[1]) : -1;
}

async function same(t: Test, argv: string[], chunks: Buffer[], what: string) {
  const a = await agg(['-q', ...argv], chunks, false);
  const b = await agg(['-q', ...argv], chunks, true);
  t.same(a, b, what);
  return a;
}

// Lines the scanner must either read exactly or leave to the object path: every one, alone and
// beside ordinary lines, under several --by/--agg layouts.
const TRICKY = [
  '{}',
  '{"g":"a","x":1}',
  '{"g": "a", "x": 1}',
  '{ "g":"a" , "x":1 }',
  ' {"g":"a","x":1} ',
  '{"g":"a","x":1}\r',
  '{"g":"a","x":1,"g":"b"}',
  '{"g":"a","x":1,"x":2}',
  '{"o":1,"o":2,"g":"a"}',
  '{"g":"a","x":"1.50"}',
  '{"g":"a","x":1.50}',
  '{"g":"a","x":1.5}',
  '{"g":"a","x":1.0}',
  '{"g":"a","x":1e5}',
  '{"g":"a","x":1E-5}',
  '{"g":"a","x":-0}',
  '{"g":"a","x":-0.0}',
  '{"g":"a","x":-0.5}',
  '{"g":"a","x":0}',
  '{"g":"a","x":0.000001}',
  '{"g":"a","x":0.0000001}',
  '{"g":"a","x":123456789012345}',
  '{"g":"a","x":1234567890123456}',
  '{"g":"a","x":9007199254740993}',
  '{"g":"a","x":"9007199254740993"}',
  '{"g":"a","x":0.1234567890123456789}',
  '{"g":"a","x":"0.1234567890123456789"}',
  '{"g":"a","x":12345678901234.5}',
  '{"g":"a","x":1e400}',
  '{"g":"a","x":01}',
  '{"g":"a","x":-}',
  '{"g":"a","x":.5}',
  '{"g":"a","x":"5."}',
  '{"g":"a","x":"+1"}',
  '{"g":"a","x":"-.5"}',
  '{"g":"a","x":"."}',
  '{"g":"a","x":" 1"}',
  '{"g":"a","x":"1e3"}',
  '{"g":"a","x":""}',
  '{"g":"a","x":null}',
  '{"g":"a"}',
  '{"x":2}',
  '{"g":null,"x":2}',
  '{"g":"","x":2}',
  '{"g":1,"x":2}',
  '{"g":"1","x":2}',
  '{"g":1.5,"x":2}',
  '{"g":true,"x":2}',
  '{"g":false,"x":2}',
  '{"g":{"a":1},"x":2}',
  '{"g":[1,2],"x":2}',
  '{"g":"a","x":true}',
  '{"g":"a","x":"abc"}',
  '{"g":"a","x":{"y":1}}',
  '{"g":"a","x":[1]}',
  '{"g":"a","x":1,"n":{"deep":[1,{"e":null}]}}',
  '{"g":"a","x":1,"s":"x\\"y\\\\z\\/\\n\\t\\r\\b\\f\\u00e9\\ud83d\\ude00"}',
  '{"g":"a","x":1,"s":"\\ud800"}',
  '{"g":"a","x":1,"s":"\\x41"}',
  '{"g":"a","x":1,"s":"\\u12"}',
  '{"g":"a","x":1,"s":"tab\there"}',
  // An unwanted string read fast up to its first escape, checked from there on.
  '{"g":"a","x":1,"s":"2\\" cable, then \\x41"}',
  '{"g":"a","x":1,"s":"2\\" cable, then \\u12"}',
  '{"g":"a","x":1,"s":"2\\" cable, then a tab\there"}',
  '{"g":"a","x":1,"s":"ends in an escape\\""}',
  '{"g":"a","x":1,"s":"\\\\"}',
  '{"g":"a","x":1,"s":"abc\\"}',
  '{"g":"a","s":"abcd\\u00e9\\"\\n","x":"2.5"}',
  '{"g":"a","x":1,"s":"unterminated}',
  '{"g":"a","x":1,"n":1e5,"m":-0.5E+3,"k":0}',
  '{"g":"a","x":1,"n":1.}',
  '{"g":"a","x":1,"n":-01}',
  '{"g":"a","x":1,"b":tru}',
  '{"g":"a","x":1,"b":nul}',
  '{"g":"a\\"b","x":1}',
  '{"g":"a\\u0062","x":1}',
  '{"g":"ab","x":1}',
  '{"\\u0067":"a","x":1}',
  '{"g\\"":"a","x":1}',
  '{"g":"é ✓ 😀 \u2028","x":"3.25"}',
  '{"g":"日本","x":"1"}',
  '{"é":"k","g":"a","x":1}',
  '{"g":"\\u0000a","x":1}',
  '{"g":"a","x":1}garbage',
  '{"g":"a","x":1',
  '{"g":"a","x":1,}',
  '{"g":"a" "x":1}',
  '{"g":"a",,"x":1}',
  '{"g":"a","x"1}',
  '{"g":"a","x":1}}',
  '[1,2]',
  '"just a string"',
  '42',
  'null',
  'not json',
  '{"g":"a","x":1,"_file":"f.csv","_line":7}',
  '{"g":"a","x":"99999999999999999999.99"}',
  '{"g":"a","x":"-0.00"}',
  '{"g":"a","x":"007"}',
];

const LAYOUTS: string[][] = [
  ['--by', 'g', '--agg', 'count,sum:x,avg:x,min:x,max:x,count_distinct:x,count:x'],
  ['--by', 'g,x', '--agg', 'count'],
  ['--agg', 'count,sum:x,stddev:x,min:g,max:g,count_distinct:g'],
  ['--by', 'x', '--agg', 'count,count_distinct:g,min:g'],
  ['--by', 'g', '--agg', 'revenue=sum:x', '--sort', 'revenue:desc', '--top', '2'],
  ['--by', 'g', '--agg', 'sum:x', '--rejects', 'R'],
];

const ORDINARY = ['{"g":"a","x":"1.25"}', '{"g":"b","x":2}', '{"g":"a","x":"0.1"}'];

t.test('each tricky line, alone and among ordinary ones: byte path = object path', async (t) => {
  for (const layout of LAYOUTS) {
    for (const line of TRICKY) {
      const input = Buffer.from([...ORDINARY, line, ...ORDINARY].join('\n') + '\n');
      await same(t, layout, [input], `${layout.join(' ')} | ${JSON.stringify(line).replace(/[\u2028\u2029]/g, '?')}`);
    }
  }
});

t.test('keys remembered with the separator before them: repeated layouts, white space, ends', async (t) => {
  // A key after the first is remembered with the comma and white space before it (line-scan.ts),
  // so each of these layouts is read once to learn it and again to match it; then the next one.
  const layouts = [
    '{"g":"a","x":1,"y":"p"}',
    '{"g":"a" , "x" : 1 ,"y":"p"}',
    '{"g":"a",\t"x":1,\r"y":"p"}',
    '{"g":"a","x":1}',
    '{"g":"a","x":1,"y":"p","z":2}',
    '{"g":"a","x":1,"x":2}',
    '{"g":"a","x":1,"y":"p",}',
    '{"g":"a","x":1 "y":"p"}',
    '{"g":"a","x":1,,"y":"p"}',
    '{"g":"a","x":1,"y":"p"} ',
    '{"g":"a","x":1,"y":"p"}}',
    '{"g":"a","y":"p","x":1}',
    '{"g":"a","x":1,"y":"p\\"q"}',
    '{"g":"a","x":1,"y":"p","g":"b"}',
  ];
  const lines: string[] = [];
  for (const l of layouts) lines.push(l, l, '{"g":"b","x":2,"y":"q"}', l);
  for (const argv of [
    ['--by', 'g', '--agg', 'count,sum:x'],
    ['--by', 'y', '--agg', 'count,sum:x', '--rejects', 'R'],
  ]) {
    for (let n = 1; n <= lines.length; n++) {
      // Every prefix: a bad line stops the run, so what comes before it must be right too.
      const input = Buffer.from(lines.slice(0, n).join('\n') + '\n');
      await same(t, argv, [input], `${argv.join(' ')}: first ${n} lines`);
    }
  }
  const spaced = [layouts[1], layouts[1], layouts[2], layouts[2], layouts[0]].join('\n') + '\n';
  t.equal(await scanned(['--by', 'g', '--agg', 'count,sum:x'], spaced), 5, 'white space between keys: still bytes');
});

t.test('the byte path takes ordinary lines and leaves the others', async (t) => {
  const argv = ['--by', 'g', '--agg', 'count,sum:x'];
  t.equal(await scanned(argv, ORDINARY.join('\n') + '\n'), 3);
  t.equal(await scanned(argv, '{"g":"a\\"b","x":1}\n{"g":"a","x":1e5}\n{"g":"a","x":"1"}\n'), 1);
  t.equal(
    await scanned(['--by', 'g', '--agg', 'first:x'], ORDINARY.join('\n') + '\n'),
    -1,
    'first/last need the record',
  );
});

t.test('every chunk cut of a mixed input: the same result', async (t) => {
  const lines = [
    '{"g":"a","x":"1.25","s":"x\\ny"}',
    '{"g":"é😀","x":2}',
    '{"g":"a\\u0062","x":"0.1"}',
    '{"g":"b","x":null}',
    '{"x":"3"}',
    '',
    '{"g":"b","x":-0.5}',
  ];
  const input = Buffer.from(lines.join('\n') + '\n');
  const argv = ['--by', 'g', '--agg', 'count,sum:x,min:x,max:x,count_distinct:x'];
  const want = await agg(['-q', ...argv], [input], true);
  t.equal(want.code, 0, want.stderr);
  for (let c = 1; c < input.length; c++) {
    const r = await agg(['-q', ...argv], pieces(input, [c]), false);
    if (JSON.stringify(r) !== JSON.stringify(want)) t.same(r, want, `cut at ${c}`);
  }
  for (let c = 1; c + 7 < input.length; c += 3) {
    const r = await agg(['-q', ...argv], pieces(input, [c, c + 2, c + 7]), false);
    if (JSON.stringify(r) !== JSON.stringify(want)) t.same(r, want, `cuts at ${c}, ${c + 2}, ${c + 7}`);
  }
  t.pass('every cut');
});

t.test('exact decimal sums from the bytes', async (t) => {
  const input = Buffer.from(
    Array.from({ length: 3000 }, (_, i) => `{"g":"k${i % 3}","x":${i % 2 ? '"0.1"' : '0.2'}}`).join('\n') + '\n',
  );
  const r = await same(t, ['--by', 'g', '--agg', 'sum:x,avg:x'], [input], 'sums');
  t.equal(r.code, 0);
  const sums = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).sum_x);
  t.same(sums, [150, 150, 150], '0.1 + 0.2 sums without float noise');
  const big = Buffer.from(
    Array.from({ length: 2000 }, () => '{"x":999999999999999}').join('\n') + '\n{"x":"0.000001"}\n',
  );
  const b = await same(t, ['--agg', 'sum:x'], [big], 'a sum past 2^53');
  t.same(JSON.parse(b.stdout), { sum_x: '1999999999999998000.000001' });
  // A key's sum in its column (slots.ts, SumColumn): scales that rise and fall, values that take
  // it past 2^53 when scaled (left to the group's ExactSum, and the column goes on), nulls, and
  // lines of the same key on the object path; checked against a sum by hand in BigInt.
  const values = [
    '999999999999999',
    '"0.5"',
    '1',
    'null',
    '"0.000001"',
    '-999999999999999',
    '"123456789.123"',
    '""',
    '7',
  ];
  const mixed: string[] = [];
  let want = 0n; // in units of 10^-6
  let n = 0;
  for (let i = 0; i < 4000; i++) {
    const v = values[(i * 5 + (i >> 4)) % values.length];
    mixed.push(i % 97 === 0 ? `{"g":"k","x":${v},"e":"\\n"}` : `{"g":"k","x":${v}}`);
    const text = v.replace(/"/g, '');
    if (text === 'null' || text === '') continue;
    const [int, frac = ''] = text.split('.');
    want += BigInt(int + frac.padEnd(6, '0'));
    n++;
  }
  const m = await same(
    t,
    ['--by', 'g', '--agg', 'sum:x,count:x,count'],
    [Buffer.from(mixed.join('\n') + '\n')],
    'mixed',
  );
  const row = JSON.parse(m.stdout) as { sum_x: string | number; count_x: number; count: number };
  // Over 15 digits: a string, at the largest scale of the values (6).
  const digits = want.toString();
  t.equal(row.sum_x, `${digits.slice(0, -6)}.${digits.slice(-6)}`, 'exact');
  t.same([row.count_x, row.count], [n, 4000]);
});

t.test('random lines: byte path = object path', async (t) => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
  const keys = ['a', 'b', 'ä', '😀', 'a\\"q', '', 'long key with spaces', 'x\\u0041'];
  const nums = [
    '1',
    '-2',
    '0.5',
    '"3.25"',
    '"-0.001"',
    '12345678901234',
    '1e3',
    '"1e3"',
    '"abc"',
    'null',
    '""',
    '1.10',
    'true',
  ];
  const others = ['"plain"', '"esc\\n\\"q\\""', '17', '-0.25e-2', 'false', 'null', '{"n":[1]}', '[]'];
  const fields = ['g', 'x', 'y', 'z'];
  for (let round = 0; round < 30; round++) {
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      const parts: string[] = [];
      for (const f of fields) {
        if (rnd() < 0.15) continue;
        const v = f === 'g' ? `"${pick(keys)}"` : f === 'x' ? pick(nums) : pick(others);
        parts.push(`${rnd() < 0.1 ? ' ' : ''}"${f}":${rnd() < 0.1 ? ' ' : ''}${v}`);
      }
      if (rnd() < 0.3) parts.reverse();
      lines.push(`{${parts.join(',')}}`);
    }
    const input = Buffer.from(lines.join('\n') + '\n');
    const cut = Math.floor(rnd() * input.length);
    await same(
      t,
      ['--by', 'g', '--agg', 'count,sum:x,avg:x,min:x,max:x,count_distinct:y,count:z', '--rejects', 'R'],
      pieces(input, [cut]),
      `round ${round}`,
    );
    await same(t, ['--by', 'g,y', '--agg', 'count,min:z,max:z'], pieces(input, [cut]), `round ${round}, two keys`);
  }
});

t.test('a sealed input and a spilling memory bound: the same', async (t) => {
  const body = Array.from({ length: 5000 }, (_, i) => `{"g":"k${i % 1700}","x":"${i}.5"}`);
  const sealed = Buffer.from([...body, `{"@bx":"end","records":${body.length}}`].join('\n') + '\n');
  const argv = ['--seal', '--memory', '100KB', '--by', 'g', '--agg', 'count,sum:x,max:x'];
  const r = await same(t, argv, [sealed], 'sealed, spilled');
  t.equal(r.code, 0, r.stderr);
  const cut = await same(
    t,
    ['--seal', '--by', 'g', '--agg', 'count'],
    [Buffer.from(body.join('\n') + '\n')],
    'unsealed',
  );
  t.equal(cut.code, 65);
});

t.test('the byte index (byte-keys.ts): keys equal as JSON values group together, whatever their bytes', async (t) => {
  // Strings equal as JSON strings with other bytes (escapes go to the object path, which must
  // find the group the byte path made), a string "1" and a number 1, null and a missing field,
  // two-field keys whose bytes run together, and enough keys to grow the table several times.
  const variants = [
    '"A"',
    '"\\u0041"',
    '"ab"',
    '"a\\u0062"',
    '"é"',
    '"\\u00e9"',
    '"1"',
    '1',
    '1.5',
    '"1.5"',
    '-2',
    'null',
    'true',
    'false',
    '""',
  ];
  const lines: string[] = [];
  for (let i = 0; i < 6000; i++) {
    const v = i % 3 === 0 ? variants[(i / 3) % variants.length] : `"k${i % 2500}"`;
    const x = `"${i % 7}.${i % 10}"`;
    lines.push(i % 11 === 0 ? `{"x":${x},"h":"c"}` : `{"g":${v},"h":"${i % 2 ? 'bc' : 'c'}","x":${x}}`);
    if (i % 13 === 0) lines.push(`{"g":"a","h":"bc","x":1}`, `{"g":"ab","h":"c","x":2}`);
  }
  const input = Buffer.from(lines.join('\n') + '\n');
  for (const argv of [
    ['--by', 'g', '--agg', 'count,sum:x'],
    ['--by', 'g,h', '--agg', 'count,sum:x'],
    ['--by', 'h,g', '--agg', 'count'],
    ['--by', 'x', '--agg', 'count,count_distinct:g'],
  ]) {
    const r = await same(t, argv, pieces(input, [input.length >> 1]), argv.join(' '));
    t.equal(r.code, 0, r.stderr);
  }
  const one = await agg(['-q', '--by', 'g', '--agg', 'count'], [input], false);
  const byKey = new Map(
    one.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { g: unknown; count: number })
      .map((r) => [JSON.stringify(r.g), r.count]),
  );
  // What JSON.parse makes of each line, counted by hand.
  const want = new Map<string, number>();
  for (const l of lines) {
    const k = JSON.stringify((JSON.parse(l) as { g?: unknown }).g ?? null);
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  t.same(byKey, want, 'one group per JSON value');
  t.ok((byKey.get('"A"') ?? 0) > 0 && !byKey.has('"\\u0041"'), '"\\u0041" and "A": one group');
  t.ok(byKey.has('"1"') && byKey.has('1'), 'a string "1" and a number 1: two groups');
});

t.test('keys that never repeat: the byte index is dropped, results stay the same', async (t) => {
  // Past 65536 keys with fewer hits than keys the index stops; groups made before stay in use.
  const lines: string[] = [];
  for (let i = 0; i < 70000; i++) lines.push(`{"g":"id${i}","x":"${i % 100}.25"}`);
  for (let i = 0; i < 3000; i++) lines.push(`{"g":"id${(i * 37) % 70000}","x":1}`);
  const input = Buffer.from(lines.join('\n') + '\n');
  const r = await same(t, ['--by', 'g', '--agg', 'count,sum:x', '--sort', 'count:desc', '--top', '5'], [input], 'top');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').length, 5);
});
