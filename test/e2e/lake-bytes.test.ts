// bx-load --to parquet's byte path (formats/parquet-bytes.ts) against the record path it skips
// (BX_TEST_LAKE_RECORDS=1: every line parsed and encoded by the column plans): the same lake,
// byte for byte, from lines that take the byte path and lines that must leave it (escapes,
// numbers for strings, exponents, keys out of order or missing, duplicates, lineage), and the
// same error for a bad value whichever path saw the line first.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sh, tmp } from '../helpers.js';

const SCHEMA = {
  fields: [
    { name: 'id', type: 'integer' },
    { name: 'big', type: 'integer', 'bx:pgType': 'bigint' },
    { name: 'amount', type: 'number', 'bx:scale': 2, 'bx:precision': 18 },
    { name: 'small', type: 'number', 'bx:scale': 3, 'bx:precision': 9 },
    { name: 'ratio', type: 'number' },
    { name: 'day', type: 'date' },
    { name: 'ts', type: 'datetime', 'bx:pgType': 'timestamp' },
    { name: 'tstz', type: 'datetime' },
    { name: 'name', type: 'string' },
    { name: 'code', type: 'string' },
    { name: 'ok', type: 'boolean' },
  ],
};

let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];

/** Values as JSON text: the first three of each the byte path takes, then others it may leave. */
const VALUES: Record<string, string[]> = {
  id: ['1', '-7', '"42"', '"-0"', '-0', '2147483647', '"007"', '1.0', '1e3', '" 5"', 'null'],
  big: ['"123456789012345"', '-12', '"12"', '9007199254740991', '"9223372036854775807"', 'null'],
  amount: ['"387.61"', '387.61', '"0.1"', '"-0.00"', '"1.500"', '5', '"9999999999999999.99"', '1e2', '0.10', 'null'],
  small: ['"1.5"', '"-0.125"', '"000.001"', '2.25', 'null'],
  ratio: ['0.1', '"0.1"', '-0', '"-0"', '1e300', '"NaN"', '12345678901234567890', '"1.25"', '5e-324', 'null'],
  day: ['"2026-11-23"', '"2000-02-29"', '"1969-12-31"', '"0001-01-01"', 'null'],
  ts: [
    '"2026-11-23T10:11:12"',
    '"2026-11-23T10:11:12.5"',
    '"1969-12-31T23:59:59.999999"',
    '"2026-11-23 10:11:12"',
    'null',
  ],
  tstz: [
    '"2026-11-23T10:11:12Z"',
    '"2026-11-23T10:11:12.123456Z"',
    'null',
    '"2026-11-23T10:11:12+02:00"',
    '"2300-01-01T00:00:00.000001Z"',
  ],
  name: [
    '"plain"',
    '"Eco Cable 2\\" 4089"',
    '"tab\\there\\\\ and \\/ slash"',
    '"\\u00e9t\\u00E9 \\ud83d\\ude00"',
    '"é ü 中 😀"',
    '"a/b=c d%"',
    '""',
    '12',
    'true',
    'null',
  ],
  code: ['"card"', '"cash"', '"mobile"', '"voucher"'],
  ok: ['true', 'false', '"true"', '"false"', 'null'],
};
const KEYS = Object.keys(VALUES);

function line(i: number): string {
  const keys = [...KEYS];
  // Now and then: keys out of order, a key missing, a lineage key, spaces, a duplicate key.
  const r = rnd();
  if (r < 0.05) keys.reverse();
  else if (r < 0.1) keys.splice(Math.floor(rnd() * keys.length), 1);
  // Half the lines hold only values the byte path takes.
  const easy = rnd() < 0.5;
  const fields = keys.map((k) => `"${k}":${pick(easy ? VALUES[k].slice(0, 3) : VALUES[k])}`);
  if (r > 0.97) fields.push(`"code":"dup"`);
  else if (r > 0.95) return `{ ${fields.join(', ')} }`;
  return `{${fields.join(',')}}`;
}

/** Each file of a lake (its run id taken out of the name) → its bytes, base64. */
function lakeFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory() || e.isSymbolicLink()) walk(p, `${rel}${e.name}/`);
      else
        out[rel + e.name.replace(/^part-.*-(\d+)\.parquet$/, 'part-$1.parquet')] = readFileSync(p).toString('base64');
    }
  };
  walk(dir, '');
  return out;
}

async function load(dir: string, name: string, args: string, input: string, records: boolean) {
  const env = { BX_RUN_ID: 'r1', ...(records ? { BX_TEST_LAKE_RECORDS: '1' } : {}) };
  return sh(`bx-load -v --to parquet --path ${dir}/${name} ${args} ${input}`, { env });
}

t.test('byte path = record path: the same files, byte for byte', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(SCHEMA));
  const input = join(dir, 'in.ndjson');
  writeFileSync(input, Array.from({ length: 6000 }, (_, i) => line(i + 1) + '\n').join(''));
  for (const [label, args] of [
    ['schema, by code', `--schema ${dir}/schema.json --partition-by code --row-group-size 700`],
    ['schema, by day and code', `--schema ${dir}/schema.json --partition-by day,code`],
    ['schema, unpartitioned', `--schema ${dir}/schema.json --codec uncompressed`],
  ] as const) {
    const slug = label.replace(/\W+/g, '-');
    const bytes = await load(dir, `b-${slug}`, args, input, false);
    const recs = await load(dir, `r-${slug}`, args, input, true);
    t.equal(bytes.code, 0, `${label}: ${bytes.stderr}`);
    t.equal(recs.code, 0, recs.stderr);
    const taken = Number(/(\d+) of 6000 rows from their bytes/.exec(bytes.stderr)?.[1]);
    t.ok(taken > 2000 && taken < 6000, `${label}: the byte path took ${taken} rows, the record path the rest`);
    t.match(recs.stderr, /\b0 of 6000 rows from their bytes/);
    const b = lakeFiles(join(dir, `b-${slug}`));
    t.ok(Object.keys(b).length > 0);
    t.same(b, lakeFiles(join(dir, `r-${slug}`)), `${label}: identical files`);
  }
});

t.test('inferred types (the first lines parsed), then the byte path: the same files', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in.ndjson');
  const canon = (i: number) =>
    `{"sale_id":"${i}","sale_date":"2026-11-${String((i % 28) + 1).padStart(2, '0')}","sold_at":"2026-11-02T17:23:${String(i % 60).padStart(2, '0')}Z","name":"Desk \\"${i % 97}\\"","price":"${(i % 500) + 0.5}","qty":${i % 7}}`;
  // Every 100th line carries lineage (left to the record path, which keeps it out of the files).
  const text = (i: number) => (i % 100 ? canon(i) : canon(i).replace(/}$/, `,"_file":"x.csv","_line":${i}}`));
  writeFileSync(input, Array.from({ length: 5000 }, (_, i) => text(i + 1) + '\n').join(''));
  const args = '--partition-by sale_date --infer-rows 1000';
  const bytes = await load(dir, 'b', args, input, false);
  const recs = await load(dir, 'r', args, input, true);
  t.equal(bytes.code, 0, bytes.stderr);
  t.match(bytes.stderr, /\b3960 of 5000 rows from their bytes/);
  t.same(lakeFiles(join(dir, 'b')), lakeFiles(join(dir, 'r')));
});

t.test('a bad value: the same error and exit code on both paths', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(SCHEMA));
  const good = Array.from({ length: 50 }, (_, i) => line(i + 1));
  for (const [bad, want] of [
    ['{"id":"x"}', /line 51|:51/],
    ['{"id":2147483648}', /outside INT32/],
    ['{"amount":"1.234"}', /more fraction digits/],
    ['{"day":"2026-02-30"}', /expected an ISO date/],
    ['{"tstz":"2026-11-23T25:00:00Z"}', /tstz/],
    ['{"ts":"2026-11-23T10:00:00Z"}', /with a zone in a column without one/],
    ['{"nope":1}', /not a field of the --schema/],
    ['{"name":"\u0001"}', /line 51|:51/],
    ['{"code":"card"', /line 51|:51/],
  ] as const) {
    const input = join(dir, 'bad.ndjson');
    writeFileSync(input, [...good, bad, good[0]].join('\n') + '\n');
    const args = `--schema ${dir}/schema.json --partition-by code`;
    const b = await load(dir, 'b', args, input, false);
    const r = await load(dir, 'r', args, input, true);
    t.equal(b.code, 65, `${bad}: ${b.stderr}`);
    t.equal(b.code, r.code);
    const err = (s: string) => s.split('\n').find((l) => /error|:\d+: /.test(l) && !/debug/.test(l)) ?? s;
    t.equal(err(b.stderr), err(r.stderr), `${bad}: the same message`);
    t.match(err(b.stderr), want);
  }
});

t.test('more partitions than open files, escaped partition values: the same files', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in.ndjson');
  // 80 partitions taken in turn, five lines each (MAX_OPEN is 64: files are closed and others
  // opened again and again); one value in nine written with an escape (`\u0070` is `p`), one in 13
  // with a quote in it.
  const part = (i: number) => (i % 13 === 0 ? 'q\\"x' : `${i % 9 === 0 ? '\\u0070' : 'p'}${Math.floor(i / 5) % 80}`);
  const text = (i: number) => `{"id":"${i}","part":"${part(i)}","name":"n${i % 37}","price":"${i % 50}.25"}`;
  writeFileSync(input, Array.from({ length: 2500 }, (_, i) => text(i + 1) + '\n').join(''));
  const args = '--partition-by part --infer-rows 500';
  const bytes = await load(dir, 'b', args, input, false);
  const recs = await load(dir, 'r', args, input, true);
  t.equal(bytes.code, 0, bytes.stderr);
  t.equal(recs.code, 0, recs.stderr);
  t.match(bytes.stderr, /\b2000 of 2500 rows from their bytes/);
  const b = lakeFiles(join(dir, 'b'));
  t.ok(Object.keys(b).length > 200, `${Object.keys(b).length} files: files were closed and opened again`);
  t.same(b, lakeFiles(join(dir, 'r')));
});
