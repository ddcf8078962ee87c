// The Parquet lake end to end: bx-load --to parquet and bx-extract on real files, DuckDB as the
// independent reader and writer (dev-only), and kills at every step of a partition rewrite.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { checkKilledLake, ndjson, sh, tmp } from '../helpers.js';

type Duck = { run: (sql: string) => Promise<unknown>; rows: (sql: string) => Promise<Record<string, unknown>[]> };
let duck: Duck | undefined;
let duckWhy = '';
try {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  duck = {
    run: (sql) => c.run(sql),
    rows: async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[],
  };
} catch (err) {
  duckWhy = `@duckdb/node-api (dev-only oracle) cannot load: ${(err as Error).message}`;
}

// Every type the lake keeps, as bx writes them: exact numbers beyond a double as strings,
// decimals as numbers when 15 digits hold them, ISO dates and datetimes, nulls in every column.
const SCHEMA = {
  fields: [
    { name: 'id', type: 'integer' },
    { name: 'big', type: 'integer', 'bx:pgType': 'bigint' },
    { name: 'huge', type: 'integer', 'bx:pgType': 'numeric' },
    { name: 'amount', type: 'number', 'bx:scale': 2, 'bx:precision': 18 },
    { name: 'wide', type: 'number', 'bx:scale': 10, 'bx:precision': 38 },
    { name: 'ratio', type: 'number' },
    { name: 'sale_date', type: 'date' },
    { name: 'ts', type: 'datetime', 'bx:pgType': 'timestamp' },
    { name: 'tstz', type: 'datetime' },
    { name: 'at', type: 'time' },
    { name: 'name', type: 'string' },
    { name: 'ok', type: 'boolean' },
    { name: 'tags', type: 'array' },
    { name: 'obj', type: 'object' },
  ],
};
const RECORDS = [
  {
    id: 1,
    big: '9007199254740993',
    huge: '12345678901234567890123456789',
    amount: 10.5,
    wide: '12345678901234567891.1234567891',
    ratio: 0.1,
    sale_date: '2026-11-23',
    ts: '2026-11-23T10:11:12.123456',
    tstz: '2026-11-23T10:11:12.5Z',
    at: '23:59:59.000001',
    name: 'a/b=c d%',
    ok: true,
    tags: ['x', 1, null],
    obj: { a: 1, b: '12345678901234567891', c: { d: [true] } },
  },
  {
    id: -2147483648,
    big: '-9223372036854775808',
    huge: -1,
    amount: -0.01,
    wide: '-99999999999999999999.9999999999',
    ratio: -1.5e300,
    sale_date: '1969-12-31',
    ts: '1969-12-31T23:59:59.999999',
    tstz: '1900-01-01T00:00:00Z',
    at: '00:00:00',
    name: 'é ü 中',
    ok: false,
    tags: [],
    obj: {},
  },
  {
    id: 2147483647,
    big: 9007199254740991,
    huge: 0,
    amount: 0,
    wide: 0,
    ratio: 0,
    sale_date: '2026-11-24',
    ts: '2000-02-29T00:00:00',
    tstz: '2026-11-24T00:00:00.000001Z',
    at: '12:00:00.5',
    name: '',
    ok: true,
    tags: [[1, 2]],
    obj: { '2019': 'x' },
  },
  {
    id: null,
    big: null,
    huge: null,
    amount: null,
    wide: null,
    ratio: null,
    sale_date: null,
    ts: null,
    tstz: null,
    at: null,
    name: null,
    ok: null,
    tags: null,
    obj: null,
  },
];
const lines = (recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function setup(t: { teardown: (fn: () => void) => void }) {
  const dir = tmp(t);
  writeFileSync(join(dir, 'all.schema.json'), JSON.stringify(SCHEMA));
  writeFileSync(join(dir, 'all.ndjson'), lines(RECORDS));
  return dir;
}

t.test('round trip NDJSON → Parquet → NDJSON is exact for every type, nulls included, keys in order', async (t) => {
  const dir = setup(t);
  for (const codec of ['snappy', 'gzip', 'zstd', 'uncompressed']) {
    const lake = join(dir, `lake-${codec}`);
    const w = await sh(
      `bx-load --to parquet --path ${lake} --schema ${dir}/all.schema.json --codec ${codec} ${dir}/all.ndjson`,
    );
    t.equal(w.code, 0, w.stderr);
    const r = await sh(`bx-extract ${lake}`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, lines(RECORDS), `${codec}: byte-identical NDJSON`);
  }
});

t.test(
  'partitioned: the partition field comes back last, typed as written; NULL is __HIVE_DEFAULT_PARTITION__',
  async (t) => {
    const dir = setup(t);
    const lake = join(dir, 'lake');
    const w = await sh(
      `bx-load --to parquet --path ${lake} --partition-by sale_date --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
    );
    t.equal(w.code, 0, w.stderr);
    const parts = readdirSync(lake)
      .filter((n) => !n.startsWith('.'))
      .sort();
    t.same(parts, [
      'sale_date=1969-12-31',
      'sale_date=2026-11-23',
      'sale_date=2026-11-24',
      'sale_date=__HIVE_DEFAULT_PARTITION__',
    ]);
    const r = await sh(`bx-extract ${lake}/`);
    t.equal(r.code, 0, r.stderr);
    const got = ndjson(r.stdout);
    const want = RECORDS.map(({ sale_date, ...rest }) => ({ ...rest, sale_date }));
    // Files in path order: 1969 < 2026-11-23 < 2026-11-24 < __HIVE…
    t.same(got, [want[1], want[0], want[2], want[3]]);
    t.same(Object.keys(got[0]).at(-1), 'sale_date');
    // An integer partition key comes back a number; a string one with / = space % escaped.
    const w2 = await sh(
      `bx-load --to parquet --path ${dir}/byid --partition-by id,name --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
    );
    t.equal(w2.code, 0, w2.stderr);
    t.ok(existsSync(join(dir, 'byid', 'id=1', 'name=a%2Fb%3Dc%20d%25')), 'hive escaping as DuckDB');
    t.ok(
      existsSync(join(dir, 'byid', 'id=2147483647', `name=__HIVE_DEFAULT_PARTITION__`)),
      '"" is the default partition',
    );
    const r2 = await sh(`bx-extract '${dir}/byid/**/*.parquet'`);
    const recs = ndjson(r2.stdout);
    const one = recs.find((x) => x.id === 1);
    t.equal(one?.name, 'a/b=c d%');
    t.equal(one?.big, '9007199254740993');
  },
);

t.test('--columns reads only those columns, in that order, hive fields included', async (t) => {
  const dir = setup(t);
  const lake = join(dir, 'lake');
  await sh(
    `bx-load --to parquet --path ${lake} --partition-by sale_date --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
  );
  const r = await sh(`bx-extract --columns sale_date,wide,id ${lake}`);
  t.equal(r.code, 0, r.stderr);
  t.same(Object.keys(ndjson(r.stdout)[0]), ['sale_date', 'wide', 'id']);
  const bad = await sh(`bx-extract --columns nope ${lake}`);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--columns: .*has no column "nope"/);
});

t.test('inferred types: integers INT64, decimals DECIMAL(18,s), ISO dates DATE; lineage left out', async (t) => {
  const dir = tmp(t);
  const recs = [
    {
      sale_id: '1',
      sale_date: '2026-11-02',
      sold_at: '2026-11-02T17:23:13Z',
      qty: '4',
      unit_price: '387.61',
      note: 'x',
      _file: 'a.csv',
      _line: 2,
    },
    {
      sale_id: '2',
      sale_date: '2026-11-03',
      sold_at: '2026-11-03T19:31:39Z',
      qty: '3',
      unit_price: '148.7',
      note: null,
      _file: 'a.csv',
      _line: 3,
    },
  ];
  writeFileSync(join(dir, 's.ndjson'), lines(recs));
  const w = await sh(`bx-load --to parquet --path ${dir}/lake --partition-by sale_date ${dir}/s.ndjson`);
  t.equal(w.code, 0, w.stderr);
  const r = await sh(`bx-extract ${dir}/lake`);
  t.same(ndjson(r.stdout), [
    { sale_id: 1, sold_at: '2026-11-02T17:23:13Z', qty: 4, unit_price: 387.61, note: 'x', sale_date: '2026-11-02' },
    { sale_id: 2, sold_at: '2026-11-03T19:31:39Z', qty: 3, unit_price: 148.7, note: null, sale_date: '2026-11-03' },
  ]);
  if (!duck) return t.skip(duckWhy);
  const d = await duck.rows(`DESCRIBE SELECT * FROM read_parquet('${dir}/lake/*/*.parquet', hive_partitioning=false)`);
  t.same(
    d.map((x) => `${x.column_name} ${x.column_type}`),
    ['sale_id BIGINT', 'sold_at TIMESTAMP WITH TIME ZONE', 'qty BIGINT', 'unit_price DECIMAL(18,2)', 'note VARCHAR'],
  );
  // A field appearing after the inference window is an error naming its line, and nothing is replaced.
  writeFileSync(join(dir, 'late.ndjson'), lines([{ a: 1 }, { a: 2, b: 3 }]));
  const late = await sh(`bx-load --to parquet --path ${dir}/lake --infer-rows 1 ${dir}/late.ndjson`);
  t.equal(late.code, 65);
  t.match(late.stderr, /late\.ndjson:2: field "b": first seen after the first 1 records/);
});

t.test(
  'DuckDB reads our files with the same types and values (DESCRIBE, and a checksum of every column)',
  async (t) => {
    if (!duck) return t.skip(duckWhy);
    const dir = setup(t);
    const lake = join(dir, 'lake');
    const w = await sh(
      `bx-load --to parquet --path ${lake} --partition-by sale_date --codec zstd --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
    );
    t.equal(w.code, 0, w.stderr);
    const src = `read_parquet('${lake}/*/*.parquet', hive_partitioning=true)`;
    const types = await duck.rows(`DESCRIBE SELECT * FROM ${src}`);
    t.same(Object.fromEntries(types.map((x) => [x.column_name, x.column_type])), {
      id: 'INTEGER',
      big: 'BIGINT',
      huge: 'DECIMAL(38,0)',
      amount: 'DECIMAL(18,2)',
      wide: 'DECIMAL(38,10)',
      ratio: 'DOUBLE',
      ts: 'TIMESTAMP',
      tstz: 'TIMESTAMP WITH TIME ZONE',
      at: 'TIME',
      name: 'VARCHAR',
      ok: 'BOOLEAN',
      tags: 'JSON',
      obj: 'JSON',
      sale_date: 'DATE',
    });
    await duck.run(`SET TimeZone='UTC'`);
    const rows = await duck.rows(`SELECT * FROM ${src} ORDER BY id NULLS LAST`);
    const byId = (id: unknown) => rows.find((r) => r.id === id)!;
    t.same(byId(1), {
      id: 1,
      big: '9007199254740993',
      huge: '12345678901234567890123456789',
      amount: '10.50',
      wide: '12345678901234567891.1234567891',
      ratio: 0.1,
      ts: '2026-11-23 10:11:12.123456',
      tstz: '2026-11-23 10:11:12.5+00',
      at: '23:59:59.000001',
      name: 'a/b=c d%',
      ok: true,
      tags: '["x",1,null]',
      obj: '{"a":1,"b":"12345678901234567891","c":{"d":[true]}}',
      sale_date: '2026-11-23',
    });
    t.equal(byId(-2147483648).wide, '-99999999999999999999.9999999999');
    t.equal(byId(-2147483648).ts, '1969-12-31 23:59:59.999999');
    // One checksum per column over every row: the same sum and null count from DuckDB and from our reader.
    const sums = (
      await duck.rows(
        `SELECT sum(id)::VARCHAR i, sum(big)::VARCHAR b, sum(huge)::VARCHAR h, sum(amount)::VARCHAR a, sum(wide)::VARCHAR w, count(ratio) r,
            sum(epoch_us(ts))::VARCHAR ts, sum(epoch_us(tstz))::VARCHAR tz, count("at") t, string_agg(name, '|' ORDER BY name) n,
            count_if(ok) ok, count(tags) tg, count(sale_date) d, md5(string_agg(sale_date::VARCHAR, ',' ORDER BY sale_date)) dd FROM ${src}`,
      )
    )[0];
    const total = (k: string) =>
      RECORDS.reduce((a, r) => a + BigInt(((r as Record<string, unknown>)[k] as string) ?? 0), 0n).toString();
    t.same(sums, {
      i: total('id'),
      b: total('big'),
      h: total('huge'),
      a: '10.49',
      w: '-87654321098765432108.8765432108',
      r: '3',
      ts: sums.ts,
      tz: sums.tz,
      t: '3',
      n: '|a/b=c d%|é ü 中',
      ok: '2',
      tg: '3',
      d: '3',
      dd: sums.dd,
    });
    const ours = ndjson((await sh(`bx-extract ${lake}`)).stdout);
    const us = (s: unknown) =>
      s == null
        ? 0n
        : BigInt(
            Date.parse(
              String(s)
                .replace(/(\.\d{3})\d*/, '$1')
                .replace(/Z?$/, 'Z'),
            ),
          ) *
            1000n +
          BigInt((/\.\d{3}(\d{1,3})/.exec(String(s))?.[1] ?? '').padEnd(3, '0'));
    t.equal(ours.reduce((a, r) => a + us(r.ts), 0n).toString(), sums.ts, 'timestamps: the same µs');
    t.equal(ours.reduce((a, r) => a + us(r.tstz), 0n).toString(), sums.tz, 'timestamptz: the same µs');
  },
);

t.test(
  'we read DuckDB-written files (zstd, hive PARTITION_BY, nested lists and structs) with the same values',
  async (t) => {
    if (!duck) return t.skip(duckWhy);
    const dir = tmp(t);
    await duck.run(`SET TimeZone='UTC'`);
    await duck.run(`CREATE OR REPLACE TABLE bxpq_src AS SELECT
      i::BIGINT + 9007199254740990 AS big, (i * 1.25)::DECIMAL(18,2) AS amount,
      ('12345678901234567891.123456789' || i)::DECIMAL(38,10) AS wide, (DATE '2026-11-23' + (i % 3)::INT) AS sale_date,
      (TIMESTAMP '2026-11-23 10:11:12.123456' + INTERVAL (i) MICROSECOND) AS ts, (TIMESTAMPTZ '2026-11-23 10:11:12.5+00' + INTERVAL (i) SECOND) AS tstz,
      CASE WHEN i % 4 = 0 THEN NULL ELSE 'name ' || i END AS name, i % 2 = 0 AS ok, [i, i + 1] AS list, {'a': i, 'b': 'x' || i, 'd': (i / 100)::DECIMAL(10,2)} AS st,
      [{'k': i}] AS lst, TIMESTAMP_NS '2026-01-01 00:00:00.123456789' AS ns, TIMESTAMP_MS '2026-01-01 00:00:00.123' AS ms
    FROM range(10) t(i)`);
    await duck.run(`COPY bxpq_src TO '${dir}/one.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 3)`);
    await duck.run(`COPY bxpq_src TO '${dir}/hive' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (sale_date))`);
    const r = await sh(`bx-extract ${dir}/one.parquet`);
    t.equal(r.code, 0, r.stderr);
    const got = ndjson(r.stdout);
    t.equal(got.length, 10);
    t.same(got[1], {
      big: 9007199254740991,
      amount: 1.25,
      wide: '12345678901234567891.1234567891',
      sale_date: '2026-11-24',
      ts: '2026-11-23T10:11:12.123457',
      tstz: '2026-11-23T10:11:13.5Z',
      name: 'name 1',
      ok: false,
      list: [1, 2],
      st: { a: 1, b: 'x1', d: 0.01 },
      lst: [{ k: 1 }],
      ns: '2026-01-01T00:00:00.123456789',
      ms: '2026-01-01T00:00:00.123',
    });
    t.equal(got[3].big, '9007199254740993', 'beyond 2^53: a string');
    t.equal(got[0].name, null);
    const h = await sh(`bx-extract --lineage ${dir}/hive`);
    t.equal(h.code, 0, h.stderr);
    const hrec = ndjson(h.stdout);
    t.equal(hrec.length, 10);
    t.same(new Set(hrec.map((x) => x.sale_date)), new Set(['2026-11-23', '2026-11-24', '2026-11-25']));
    const sum = hrec.reduce((a, x) => a + BigInt(String(x.big)), 0n);
    const dsum = (
      await duck.rows(`SELECT sum(big)::VARCHAR s FROM read_parquet('${dir}/hive/*/*.parquet', hive_partitioning=true)`)
    )[0].s;
    t.equal(sum.toString(), dsum);
    t.match(String(hrec[0]._file), /hive\/sale_date=2026-11-23\/data_0\.parquet$/);
    await duck.run('DROP TABLE bxpq_src');
  },
);

t.test(
  'errors: an empty directory is 66, a corrupt file 65 naming the file and row group, no glob match 66',
  async (t) => {
    const dir = setup(t);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const e = await sh(`bx-extract ${empty}`);
    t.equal(e.code, 66);
    t.match(e.stderr, /no \.parquet files/);
    const g = await sh(`bx-extract '${dir}/none/*.parquet'`);
    t.equal(g.code, 66);
    await sh(
      `bx-load --to parquet --path ${dir}/lake --row-group-size 2 --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
    );
    const file = join(dir, 'lake', readdirSync(join(dir, 'lake'))[0]);
    const bytes = readFileSync(file);
    // Garble the first page header of the second row group (rows 3-4); the footer stays whole.
    const { parquetMetadata } = await import('hyparquet');
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const at = Number(meta.row_groups[1].columns[0].meta_data!.data_page_offset);
    const broken = Buffer.from(bytes);
    broken.fill(0xff, at, at + 12);
    writeFileSync(join(dir, 'bad.parquet'), broken);
    const c = await sh(`bx-extract ${dir}/bad.parquet`);
    t.equal(c.code, 65, c.stderr);
    t.match(c.stderr, /^bx-extract: .*bad\.parquet: row group 1 \(rows 3–4\): corrupt or unreadable/m);
    t.notMatch(c.stderr, /at .*\.js:\d+/, 'no stack trace');
    writeFileSync(join(dir, 'trunc.parquet'), bytes.subarray(0, bytes.length - 10));
    const tr = await sh(`bx-extract ${dir}/trunc.parquet`);
    t.equal(tr.code, 65);
    t.match(tr.stderr, /trunc\.parquet: not a readable Parquet file/);
  },
);

t.test('a re-run replaces exactly the partitions it writes; a failed run changes nothing', async (t) => {
  const dir = setup(t);
  const lake = join(dir, 'lake');
  await sh(
    `bx-load --to parquet --path ${lake} --partition-by sale_date --schema ${dir}/all.schema.json ${dir}/all.ndjson`,
  );
  writeFileSync(
    join(dir, 'day.ndjson'),
    lines([
      { id: 7, sale_date: '2026-11-23', name: 'new' },
      { id: 8, sale_date: '2026-11-23', name: 'new2' },
    ]),
  );
  const w = await sh(
    `bx-load --to parquet --path ${lake} --partition-by sale_date --schema ${dir}/all.schema.json ${dir}/day.ndjson`,
  );
  t.equal(w.code, 0, w.stderr);
  const got = ndjson((await sh(`bx-extract --columns id,sale_date ${lake}`)).stdout);
  t.same(got, [
    { id: -2147483648, sale_date: '1969-12-31' },
    { id: 7, sale_date: '2026-11-23' },
    { id: 8, sale_date: '2026-11-23' },
    { id: 2147483647, sale_date: '2026-11-24' },
    { id: null, sale_date: null },
  ]);
  const before = snapshot(lake);
  writeFileSync(
    join(dir, 'bad.ndjson'),
    lines([
      { id: 9, sale_date: '2026-11-24' },
      { id: 'x', sale_date: '2026-11-25' },
    ]),
  );
  const b = await sh(
    `bx-load --to parquet --path ${lake} --partition-by sale_date --schema ${dir}/all.schema.json ${dir}/bad.ndjson`,
  );
  t.equal(b.code, 65);
  t.match(b.stderr, /bad\.ndjson:2: field "id": expected an integer/);
  t.same(snapshot(lake), before, 'the lake is as it was, no new file anywhere');
  // Unpartitioned: the lake path is the set; a re-run replaces the whole set.
  const flat = join(dir, 'flat');
  await sh(`bx-load --to parquet --path ${flat} --schema ${dir}/all.schema.json ${dir}/all.ndjson`);
  await sh(`bx-load --to parquet --path ${flat} --schema ${dir}/all.schema.json ${dir}/day.ndjson`);
  t.same(ndjson((await sh(`bx-extract --columns id ${flat}`)).stdout), [{ id: 7 }, { id: 8 }]);
  t.ok(lstatSync(flat).isSymbolicLink());
  t.same(readdirSync(join(dir, `.flat.bx`, 'v')).length, 1, 'the old version is gone');
});

t.test('a --path holding other things than a lake is never replaced (exit 73)', async (t) => {
  const dir = setup(t);
  const other = join(dir, 'docs');
  mkdirSync(other);
  writeFileSync(join(other, 'readme.txt'), 'keep me');
  const r = await sh(`bx-load --to parquet --path ${other} --schema ${dir}/all.schema.json ${dir}/all.ndjson`);
  t.equal(r.code, 73);
  t.match(r.stderr, /readme\.txt is not a Parquet file or partition/);
  t.equal(readFileSync(join(other, 'readme.txt'), 'utf8'), 'keep me');
  t.notOk(existsSync(join(dir, '.docs.bx')), 'no hidden leftovers');
  const s = await sh(`bx-extract -f parquet - < ${dir}/all.ndjson`);
  t.equal(s.code, 64);
  t.match(s.stderr, /Parquet cannot be read from stdin/);
});

/** Every file under a lake (hidden ones included), for "nothing changed" checks. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) walk(p);
      else out.push(`${p} ${st.size}`);
    }
  };
  walk(dir);
  return out.sort();
}

t.test('a partition rewrite killed at any step leaves each partition wholly old or wholly new', async (t) => {
  const dir = setup(t);
  const lake = join(dir, 'lake');
  const seed = join(dir, 'seed');
  const old: Record<string, unknown>[] = [];
  const neu: Record<string, unknown>[] = [];
  for (let i = 0; i < 300; i++) old.push({ id: i, sale_date: `2026-11-2${i % 3}`, name: 'old' });
  for (let i = 0; i < 400; i++) neu.push({ id: 1000 + i, sale_date: `2026-11-2${1 + (i % 3)}`, name: 'new' });
  writeFileSync(join(dir, 'old.ndjson'), lines(old));
  writeFileSync(join(dir, 'new.ndjson'), lines(neu));
  const oldBy = group(old);
  const newBy = group(neu);
  // Small row groups and several partitions: the rewrite has many steps (row groups, files, links, removals);
  // a partition writes a row group when it holds 25 rows (partitions no longer share one budget of rows).
  const load = (input: string, env: Record<string, string> = {}) =>
    sh(
      `bx-load -q --to parquet --path ${lake} --partition-by sale_date --row-group-size 25 --schema ${dir}/all.schema.json ${dir}/${input}`,
      { env },
    );
  const a = await load('old.ndjson');
  t.equal(a.code, 0, a.stderr);
  await sh(`cp -a ${lake} ${seed}`);
  // The lake as a reader sees it, read in this process (the same reader bx-extract runs).
  const { ParquetSource } = await import('../../src/sources/parquet.js');
  const { lakeFiles } = await import('../../src/formats/parquet-files.js');
  const read = async () => {
    const recs: Record<string, unknown>[] = [];
    const src = new ParquetSource(lake, ['id', 'sale_date'], false, await lakeFiles(lake));
    for await (const b of src.batches({ log: undefined as never, reject: () => {} })) recs.push(...b.records);
    return group(recs);
  };
  let kills = 0;
  for (let k = 1; k <= 60; k++) {
    await sh(`rm -rf ${lake} && cp -a ${seed} ${lake}`);
    const b = await load('new.ndjson', { BX_TEST_KILL_AT: String(k) });
    if (b.code === 0) break;
    // SIGKILL: bash reports 137; the helper gives 128 for a child ended by a signal.
    t.ok(b.code === 137 || b.code === 128, `killed at step ${k} (exit ${b.code})`);
    kills++;
    const seen = await read();
    checkKilledLake(t, k, ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'], '2026-11-20', seen, oldBy, newBy);
    // Every third kill: the next run cleans up and completes.
    if (k % 3 !== 1) continue;
    const c = await load('new.ndjson');
    t.equal(c.code, 0, c.stderr);
    t.same(
      await read(),
      { ...oldBy, ...newBy, '2026-11-20': oldBy['2026-11-20'] },
      `kill ${k}: the re-run gives the new partitions`,
    );
    // The first run's (2026-11-20 still points there) and the re-run's: the killed run's is swept.
    const v = readdirSync(join(lake, '.bx', 'v'));
    t.equal(v.length, 2, `kill ${k}: two version directories left (${v.join(' ')})`);
  }
  t.ok(kills >= 20, `${kills} kill points`);
});

function group(recs: Record<string, unknown>[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const r of recs) (out[String(r.sale_date)] ??= []).push(Number(r.id));
  for (const k of Object.keys(out)) out[k].sort((a, b) => a - b);
  return out;
}
