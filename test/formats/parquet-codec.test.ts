// bx's own Parquet column encoder (parquet-encode.ts) and page-to-text decoder (parquet-decode.ts)
// against the paths they replaced: files written by bx's encoder and by hyparquet-writer read
// back to the same records; NDJSON from the direct decoder is byte for byte the records' JSON
// from hyparquet's parquetRead, for bx's files and DuckDB's (data page v1, other encodings);
// DuckDB reads bx's files with the same values and prunes row groups by their statistics.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Field } from '../../src/lib/schema.js';
import { root, sh, tmp } from '../helpers.js';

const helper = join(root, 'test', 'formats', 'parquet-codec.helper.mjs');

type Duck = { rows: (sql: string) => Promise<Record<string, unknown>[]>; run: (sql: string) => Promise<unknown> };
let duck: Duck | undefined;
try {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  duck = {
    run: (sql) => c.run(sql),
    rows: async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[],
  };
} catch {
  duck = undefined;
}

const FIELDS: Field[] = [
  { name: 'id', type: 'integer' },
  { name: 'big', type: 'integer', 'bx:pgType': 'bigint' },
  { name: 'huge', type: 'integer', 'bx:pgType': 'numeric' },
  { name: 'amount', type: 'number', 'bx:scale': 2, 'bx:precision': 18 },
  { name: 'small', type: 'number', 'bx:scale': 4, 'bx:precision': 9 },
  { name: 'tiny', type: 'number', 'bx:scale': 12, 'bx:precision': 15 },
  { name: 'wide', type: 'number', 'bx:scale': 10, 'bx:precision': 38 },
  { name: 'ratio', type: 'number' },
  { name: 'sale_date', type: 'date' },
  { name: 'ts', type: 'datetime', 'bx:pgType': 'timestamp' },
  { name: 'tstz', type: 'datetime' },
  { name: 'at', type: 'time' },
  { name: 'name', type: 'string' },
  { name: 'code', type: 'string' },
  { name: 'ok', type: 'boolean' },
  { name: 'tags', type: 'array' },
  { name: 'obj', type: 'object' },
] as Field[];

// A fixed-seed PRNG: the same records every run.
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');

function record(i: number): Record<string, unknown> {
  const nul = () => rnd() < 0.1;
  const us = BigInt(Math.floor((rnd() - 0.3) * 4e15));
  const iso = (x: bigint) =>
    new Date(Number(x / 1000n)).toISOString().slice(0, 19) +
    `.${String(((x % 1000000n) + 1000000n) % 1000000n).padStart(6, '0')}`;
  return {
    id: nul() ? null : pick([i, -i, 2147483647, -2147483648, 0]),
    big: nul() ? null : pick([String(i), '9007199254740993', '-9223372036854775808', '9223372036854775807', i * 7919]),
    huge: nul() ? null : pick([`${digits(30)}`, `-${digits(20)}`, '0', i]),
    amount: nul()
      ? null
      : pick([`${Math.floor(rnd() * 1e6)}.${digits(2)}`, '-0.01', '0', '9999999999999999.99', '0.1']),
    small: nul() ? null : pick([`${Math.floor(rnd() * 99999)}.${digits(4)}`, '-0.0001', '0']),
    tiny: nul() ? null : pick([`0.${digits(12)}`, '0.000000000001', '-0.000000012345', `${digits(3)}.${digits(12)}`]),
    wide: nul() ? null : pick([`${digits(28)}.${digits(10)}`, '-0.0000000001', '0']),
    ratio: nul() ? null : pick([rnd() * 1e6, -1.5e300, 0, -0, 'NaN', 'Infinity', 5e-324]),
    sale_date: nul() ? null : pick(['2026-11-23', '1969-12-31', '0001-01-01', '9999-12-31', '2000-02-29']),
    ts: nul() ? null : iso(us),
    tstz: nul() ? null : `${iso(us)}Z`,
    at: nul() ? null : pick(['00:00:00', '23:59:59.999999', '12:00:00.5']),
    name: nul() ? null : `${pick(['é ü 中', 'a/b=c d%', '', 'Deluxe Desk', '"quoted"\n', '😀'])} ${i}`,
    code: nul() ? null : pick(['card', 'cash', 'mobile', 'voucher']),
    ok: nul() ? null : rnd() < 0.5,
    tags: nul() ? null : pick([[], ['x', 1, null], [[1, 2]]]),
    obj: nul() ? null : pick([{}, { a: 1, b: '12345678901234567891' }, { '2019': 'x', z: [true] }]),
  };
}

const RECS = Array.from({ length: 6000 }, (_, i) => record(i + 1));
/** Writes `recs` with bx's encoder (bx) or hyparquet-writer's (hy), a row group per `groupRows`. */
async function write(which: 'bx' | 'hy', path: string, recs: Record<string, unknown>[], groupRows: number) {
  const input = `${path}.ndjson`;
  const fields = `${path}.fields.json`;
  writeFileSync(input, recs.map((r) => JSON.stringify(r) + '\n').join(''));
  writeFileSync(fields, JSON.stringify(FIELDS));
  const r = await sh(`node ${helper} write ${which} ${path} ${input} ${groupRows} ${fields}`);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** Records by hyparquet's parquetRead (the object path), one JSON line each. */
async function readLines(path: string): Promise<string> {
  const r = await sh(`node ${helper} records ${path}`);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}
const readRecords = async (path: string) =>
  (await readLines(path))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** NDJSON by a direct decoder (the byte transcoder unless told), and which decoder read each row group. */
async function readDecoded(
  path: string,
  decoder: 'bytes' | 'text' | 'hyparquet' = 'bytes',
  lineage = false,
): Promise<{ text: string; decoded: string[] }> {
  const r = await sh(`node ${helper} text ${path} ${decoder}${lineage ? ' lineage' : ''}`);
  if (r.code !== 0) throw new Error(r.stderr);
  return { text: r.stdout, decoded: JSON.parse(r.stderr) as string[] };
}
const readText = async (path: string) => (await readDecoded(path)).text;

/** The byte transcoder's NDJSON is the reference decoder's, and (unless a row group needs hyparquet) it read every row group. */
async function sameAsReference(t: Test, path: string, label: string, fallback = false): Promise<string> {
  const bytes = await readDecoded(path, 'bytes');
  const text = await readDecoded(path, 'text');
  t.equal(bytes.text, text.text, `${label}: byte transcoder = string decoder, byte for byte`);
  if (!fallback)
    t.ok(
      bytes.decoded.length > 0 && bytes.decoded.every((d) => d.endsWith(' bytes')),
      `${label}: every row group by the byte transcoder (${[...new Set(bytes.decoded.map((d) => d.split(' ')[1]))]})`,
    );
  const lin = await readDecoded(path, 'bytes', true);
  const linRef = await readDecoded(path, 'hyparquet', true);
  t.equal(lin.text, linRef.text, `${label}: with lineage, byte transcoder = object path`);
  return bytes.text;
}

t.test('bx encoder and hyparquet-writer: the same records back, every type, nulls, many row groups', async (t) => {
  const dir = tmp(t);
  for (const rows of [1, 999, 6000]) {
    await write('bx', join(dir, `bx-${rows}.parquet`), RECS, rows);
    await write('hy', join(dir, `hy-${rows}.parquet`), RECS, rows);
    const bx = await readRecords(join(dir, `bx-${rows}.parquet`));
    const hy = await readRecords(join(dir, `hy-${rows}.parquet`));
    t.equal(bx.length, RECS.length);
    t.same(bx, hy, `row groups of ${rows}: bx's file reads as hyparquet-writer's`);
  }
  // Spot checks against the input: exact beyond 2^53, DECIMAL(38), µs, -0, NaN.
  const bx = await readRecords(join(dir, 'bx-999.parquet'));
  const i = RECS.findIndex((r) => r.big === '9223372036854775807');
  t.equal(bx[i].big, '9223372036854775807');
  const w = RECS.findIndex((r) => typeof r.wide === 'string' && (r.wide as string).length > 30);
  t.equal(bx[w].wide, (RECS[w].wide as string).replace(/^0+(?=\d)/, ''));
  const n = RECS.findIndex((r) => r.ratio === 'NaN');
  t.equal(bx[n].ratio, 'NaN');
  const s = RECS.findIndex((r) => r.ts !== null);
  t.equal(bx[s].ts, (RECS[s].ts as string).replace(/\.?0+$/, ''));
});

t.test('all nulls, no rows, one distinct string, long unique strings (PLAIN pages, several per chunk)', async (t) => {
  const dir = tmp(t);
  const nulls = RECS.slice(0, 50).map((r) => Object.fromEntries(Object.keys(r).map((k) => [k, null])));
  const long = Array.from({ length: 5000 }, (_, i) => ({ ...RECS[i], name: `${digits(300)}-${i}`, code: 'one' }));
  for (const [label, recs] of [
    ['nulls', nulls],
    ['empty', []],
    ['long', long],
  ] as const) {
    await write('bx', join(dir, `bx-${label}.parquet`), recs as never, 100000);
    await write('hy', join(dir, `hy-${label}.parquet`), recs as never, 100000);
    const bx = await readLines(join(dir, `bx-${label}.parquet`));
    t.equal(bx, await readLines(join(dir, `hy-${label}.parquet`)), `${label}: the same records`);
    t.equal(await readText(join(dir, `bx-${label}.parquet`)), bx, `${label}: direct text = object path`);
    if (label !== 'empty') await sameAsReference(t, join(dir, `bx-${label}.parquet`), label);
  }
});

t.test('direct decoder: NDJSON byte-identical to the object path, for bx and hyparquet-writer files', async (t) => {
  const dir = tmp(t);
  for (const label of ['bx', 'hy'] as const) {
    const f = join(dir, `${label}.parquet`);
    await write(label, f, RECS, 1500);
    t.equal(await readText(f), await readLines(f), `${label}: same bytes`);
    await sameAsReference(t, f, label);
  }
});

t.test('byte transcoder: escapes, unicode, integer and decimal edges, timestamps before 1970', async (t) => {
  const dir = tmp(t);
  const ctl = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('');
  const names = [ctl, '"\\/', '\x7f', '\u2028\u2029', '\ufeffBOM first', 'é', '中文', '😀 x', 'plain', '', 'a"b\\c'];
  const bigs = [
    '9007199254740991',
    '9007199254740992',
    '-9007199254740991',
    '-9007199254740992',
    '4294967296',
    '-1',
    '0',
    // Each side of every power of ten up to 10^15 (the digit count by comparisons below 2^31), and of 2^31.
    ...Array.from({ length: 15 }, (_, k) => [
      `${10n ** BigInt(k + 1) - 1n}`,
      `${10n ** BigInt(k + 1)}`,
      `-${10n ** BigInt(k + 1)}`,
    ]).flat(),
    '2147483647',
    '2147483648',
    '-2147483648',
  ];
  const amounts = [
    '9999999999999999.99',
    '9999999999999.99',
    '10000000000000.00',
    '-0.01',
    '0.10',
    '12.3',
    '-7',
    '999999999.99',
    '1000000000.01',
    '21474836.48',
  ];
  const tinies = ['0.000001', '0.0000001', '0.000000000001', '-0.000000999999', '1.000000000000', '999.999999999999'];
  const tss = [
    '1969-12-31T23:59:59.999999',
    '1970-01-01T00:00:00',
    '1900-02-28T12:34:56.5',
    '2026-11-23T08:00:00.000001',
    // Beyond 2^53 microseconds of the epoch (the reference text), amid values rendered from bytes.
    '2300-01-01T00:00:00.5',
    '1600-07-01T12:00:00',
  ];
  const recs = Array.from({ length: 3000 }, (_, i) => ({
    ...RECS[i],
    // Unique per row (PLAIN pages) and few distinct (dictionary pages), in turn by row group.
    name: i < 1500 ? `${names[i % names.length]} ${i}` : null,
    code: names[i % names.length],
    big: bigs[i % bigs.length],
    amount: amounts[i % amounts.length],
    tiny: tinies[i % tinies.length],
    ts: i % 9 === 0 ? null : tss[i % tss.length],
    tstz: `${tss[(i + 1) % tss.length]}Z`,
  }));
  for (const label of ['bx', 'hy'] as const) {
    const f = join(dir, `${label}.parquet`);
    await write(label, f, recs, 1000);
    const bytes = await sameAsReference(t, f, label);
    t.equal(bytes, await readLines(f), `${label}: byte transcoder = object path`);
  }
});

t.test('direct decoder on DuckDB files (data page v1, its encodings, ms/ns timestamps)', async (t) => {
  if (!duck) return t.skip('@duckdb/node-api (dev-only oracle) cannot load');
  const dir = tmp(t);
  for (const [i, v2, codec] of [
    [0, false, 'snappy'],
    [1, true, 'snappy'],
    [2, false, 'zstd'],
    [3, false, 'gzip'],
    [4, false, 'uncompressed'],
  ] as const) {
    const f = join(dir, `duck-${i}.parquet`);
    await duck.run(`COPY (SELECT
        CASE WHEN i % 11 = 0 THEN NULL ELSE i::INTEGER END AS id,
        CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 1000003)::BIGINT * 1000000 END AS big,
        (i * 7)::HUGEINT * 100000000000000000000 AS huge,
        CASE WHEN i % 7 = 0 THEN NULL ELSE (i / 100)::DECIMAL(18,2) END AS amount,
        (i / 10000)::DECIMAL(9,4) AS small,
        (i / 3)::DECIMAL(38,10) AS wide,
        i / 7 AS ratio,
        DATE '2026-11-01' + (i % 400)::INTEGER AS d,
        TIMESTAMP '2026-11-01 00:00:00' + to_microseconds(i * 1234567) AS ts,
        (TIMESTAMP '2026-11-01 00:00:00' + to_microseconds(i * 1234567))::TIMESTAMP_MS AS ts_ms,
        (TIMESTAMP '2026-11-01 00:00:00' + to_microseconds(i * 1234567))::TIMESTAMP_NS AS ts_ns,
        (TIMESTAMP '2026-11-01 00:00:00' + to_microseconds(i * 1234567))::TIMESTAMPTZ AS tstz,
        TIME '00:00:00' + to_microseconds(i * 997) AS t,
        CASE WHEN i % 5 = 0 THEN NULL ELSE 'name ' || (i % 97) END AS name,
        'unique ' || i AS uniq,
        CASE WHEN i % 3 = 0 THEN chr((i % 32)::INTEGER) || '"\\' || chr(233) || chr(128512) ELSE 'u' || i END AS esc,
        i % 3 = 0 AS ok
      FROM range(0, 5000) r(i)) TO '${f}' (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION ${codec}${v2 ? ', PARQUET_VERSION v2' : ''})`);
    const lines = await readLines(f);
    t.equal(lines.split('\n').length, 5001);
    t.equal(await readText(f), lines, `duck ${v2 ? 'v2' : 'v1'} ${codec}: same bytes`);
    // DuckDB's v2 files use DELTA encodings (hyparquet reads those row groups).
    await sameAsReference(t, f, `duck ${v2 ? 'v2' : 'v1'} ${codec}`, v2);
  }
});

t.test('DuckDB reads bx-encoded files with the same values and prunes by their statistics', async (t) => {
  if (!duck) return t.skip('@duckdb/node-api (dev-only oracle) cannot load');
  const dir = tmp(t);
  const f = join(dir, 'bx.parquet');
  await write('bx', f, RECS, 1000);
  const ours = await readRecords(f);
  // Every column as DuckDB's text next to bx's values, row by row.
  const rows = await duck.rows(`SELECT id, big::VARCHAR AS big, huge::VARCHAR AS huge, amount::VARCHAR AS amount,
      sale_date::VARCHAR AS sale_date, name, code, ok, tags::VARCHAR AS tags, obj::VARCHAR AS obj
    FROM read_parquet('${f}')`);
  t.equal(rows.length, RECS.length);
  let bad = 0;
  for (let i = 0; i < rows.length; i++) {
    const d = rows[i];
    const b = ours[i];
    const num = (x: unknown) => (x === null ? null : String(x));
    if (
      num(d.id) !== num(b.id) ||
      num(d.big) !== num(b.big) ||
      num(d.huge) !== num(b.huge) ||
      (d.amount === null ? b.amount !== null : Number(d.amount) !== Number(b.amount)) ||
      d.sale_date !== b.sale_date ||
      d.name !== b.name ||
      d.code !== b.code ||
      d.ok !== b.ok ||
      (d.tags === null) !== (b.tags === null) ||
      (d.obj === null) !== (b.obj === null)
    ) {
      if (bad++ < 3) t.fail(`row ${i + 1}: DuckDB ${JSON.stringify(d)} vs bx ${JSON.stringify(b)}`);
    }
  }
  t.equal(bad, 0, 'every row agrees');
  // Row-group statistics: DuckDB skips groups by min/max, so a wrong bound would drop rows.
  const want = (p: (r: Record<string, unknown>) => boolean) => ours.filter(p).length;
  const [c1] = await duck.rows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${f}') WHERE id > 5000`);
  t.equal(
    c1.n,
    want((r) => typeof r.id === 'number' && r.id > 5000),
    'INT32 bounds',
  );
  const [c2] = await duck.rows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${f}') WHERE name >= 'é'`);
  const enc = new TextEncoder();
  t.equal(
    c2.n,
    want((r) => typeof r.name === 'string' && Buffer.compare(enc.encode(r.name), enc.encode('é')) >= 0),
    'string bounds in UTF-8 byte order',
  );
  const [c3] = await duck.rows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${f}') WHERE amount < 0`);
  t.equal(
    c3.n,
    want((r) => r.amount !== null && Number(r.amount) < 0),
    'DECIMAL bounds',
  );
  const [c4] = await duck.rows(
    `SELECT count(*)::INTEGER AS n FROM read_parquet('${f}') WHERE sale_date < DATE '1970-01-01'`,
  );
  t.equal(
    c4.n,
    want((r) => typeof r.sale_date === 'string' && r.sale_date < '1970-01-01'),
    'DATE bounds',
  );
  const [c5] = await duck.rows(`SELECT count(*)::INTEGER AS n FROM read_parquet('${f}') WHERE ratio < 0`);
  t.equal(
    c5.n,
    want((r) => typeof r.ratio === 'number' && r.ratio < 0),
    'DOUBLE bounds',
  );
  writeFileSync(join(dir, 'done'), '');
});
