// bx-load against a real PostgreSQL (DATABASE_URL: the configured server, else the embedded
// one run-tests.mjs started). Every test works in its own schema, bxload_e2e_<pid>, so two test
// runs on one server (a developer's and CI's) never drop each other's tables.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pg from 'pg';
import { pgSchema, root, sh, shared, tmp } from '../helpers.js';

const { url, S, env, db } = await pgSchema(t, 'bxload_e2e');

const nd = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const load = (args: string, input: string | Buffer, extra: Record<string, string | undefined> = {}) =>
  sh(`bx-load ${args}`, { input, env: { ...env, ...extra } });
const rows = async (sql: string) => (await db.query(sql)).rows;
const count = async (table: string) => Number((await rows(`SELECT count(*) AS n FROM ${table}`))[0].n);

t.test('COPY escaping: every special character arrives as it was sent', async (t) => {
  const values = [
    'back\\slash',
    'tab\there',
    'new\nline',
    'carriage\rreturn',
    '\\N',
    '\\.',
    '\\.\n\\.',
    'ends with backslash\\',
    'unicode: zoë, 東京, 🚀, \u2028',
    'x'.repeat(3_000_000),
    '',
  ];
  const input = nd(...values.map((v, i) => ({ id: i, v })));
  const r = await load(`--table ${S}.esc --create`, input);
  t.equal(r.code, 0, r.stderr);
  const got = await rows(`SELECT id, v FROM ${S}.esc ORDER BY id`);
  t.equal(got.length, values.length, 'no row vanished');
  for (let i = 0; i < values.length; i++) t.equal(got[i].v, values[i], `value ${i} round-trips`);
  t.match(r.stderr, new RegExp(`done: 11 rows in, 11 out.*loaded into "${S}"\\."esc"`));
  t.equal(r.stdout, '', 'bx-load writes nothing to stdout');
});

t.test("Python's json.dumps style (spaces after : and ,, \\u escapes) loads as the compact form does", async (t) => {
  const recs = Array.from({ length: 2000 }, (_, i) => ({
    id: i,
    name: `né ${i} "q"\t`,
    v: i / 7,
    ok: i % 2 === 0,
    note: i % 3 ? null : '東京 🚀',
  }));
  // json.dumps(ensure_ascii=True): ", " and ": " separators, non-ASCII as \uXXXX (pairs for astral).
  const py = (r: object) =>
    JSON.stringify(r)
      .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      .replace(/":/g, '": ')
      .replace(/,"/g, ', "');
  await db.query(`CREATE TABLE ${S}.py (id int, name text, v float8, ok boolean, note text)`);
  await db.query(`CREATE TABLE ${S}.compact (LIKE ${S}.py)`);
  const a = await load(`--table ${S}.py -v`, recs.map(py).join('\n') + '\n');
  const b = await load(`--table ${S}.compact`, nd(...recs));
  t.equal(a.code, 0, a.stderr);
  t.equal(b.code, 0, b.stderr);
  t.match(py(recs[3]), /^\{"id": 3, "name": "n\\u00e9 3/, 'the input is in the Python style');
  const diff = await rows(
    `(SELECT * FROM ${S}.py EXCEPT SELECT * FROM ${S}.compact) UNION ALL (SELECT * FROM ${S}.compact EXCEPT SELECT * FROM ${S}.py)`,
  );
  t.same(diff, [], 'the same rows');
  t.equal(await count(`${S}.py`), 2000);
});

t.test("--create makes the columns in the records' key order, integer-like names too", async (t) => {
  const r = await load(
    `--table ${S}.years --create`,
    nd({ region: 'north', 2019: 5, 2020: 7, x: 'a' }).replace(
      '{"2019":5,"2020":7,"region":"north","x":"a"}',
      '{"region":"north","2019":5,"2020":7,"x":"a"}',
    ),
  );
  t.equal(r.code, 0, r.stderr);
  t.same(
    await rows(
      `SELECT attname::text AS c FROM pg_attribute WHERE attrelid = '${S}.years'::regclass AND attnum > 0 ORDER BY attnum`,
    ),
    [{ c: 'region' }, { c: '2019' }, { c: '2020' }, { c: 'x' }],
  );
  t.same(await rows(`SELECT region, "2019" AS y FROM ${S}.years`), [{ region: 'north', y: 5 }]);
});

t.test('a single-column table: \\. in the data does not end COPY', async (t) => {
  await db.query(`CREATE TABLE ${S}.one (v text)`);
  const r = await load(`--table ${S}.one`, nd({ v: 'a' }, { v: '\\.' }, { v: 'b' }, { v: null }, { v: '\\N' }));
  t.equal(r.code, 0, r.stderr);
  t.same(await rows(`SELECT v FROM ${S}.one`), [{ v: 'a' }, { v: '\\.' }, { v: 'b' }, { v: null }, { v: '\\N' }]);
});

t.test('types: json, big integers, exact decimals, booleans, missing fields', async (t) => {
  await db.query(
    `CREATE TABLE ${S}.typed (id int, doc jsonb, arr json, big numeric, dec numeric, i8 bigint, ok boolean, note text DEFAULT 'dflt', later text)`,
  );
  // 3000 records first, so that the record naming "later" comes in a later batch.
  const filler = nd(
    ...Array.from({ length: 3000 }, (_, i) => ({ id: 100 + i, ok: true, doc: { pad: 'p'.repeat(80) } })),
  );
  const input =
    filler +
    '{"id":1,"doc":{"a":[1,2,{"b":"x\\ty"}]},"arr":[1,"two",null],"big":123456789012345678901234567890,"dec":0.1000000000000000055511151231257827,"i8":9223372036854775807,"ok":true}\n' +
    '{"id":2,"doc":null,"ok":false}\n' +
    '{"id":3,"later":"named late"}\n';
  const r = await load(`--table ${S}.typed`, input);
  t.equal(r.code, 0, r.stderr);
  const got = await rows(
    `SELECT id, doc::text, arr::text, big::text, dec::text, i8::text, ok, note, later FROM ${S}.typed WHERE id < 100 ORDER BY id`,
  );
  t.same(got[0], {
    id: 1,
    doc: '{"a": [1, 2, {"b": "x\\ty"}]}',
    arr: '[1,"two",null]',
    big: '123456789012345678901234567890',
    dec: '0.1000000000000000055511151231257827',
    i8: '9223372036854775807',
    ok: true,
    note: 'dflt',
    later: null,
  });
  t.same(
    got[1],
    { id: 2, doc: null, arr: null, big: null, dec: null, i8: null, ok: false, note: 'dflt', later: null },
    'missing fields load as NULL; unnamed columns keep defaults',
  );
  t.equal(got[2].later, 'named late', 'a column first named by a later record is loaded');
  t.equal(got[2].note, 'dflt', 'a column no record names keeps its default');
  t.equal(got[2].ok, null, 'after the COPY list grew, a missing field is NULL');
  t.equal(await count(`${S}.typed`), 3003);
});

t.test('bad records stop the load, name the record, and leave the table as it was', async (t) => {
  await db.query(`CREATE TABLE ${S}.bad (id int, qty int, s text, _line int)`);
  await db.query(`INSERT INTO ${S}.bad VALUES (0, 0, 'before', NULL)`);
  const cases: [string, string | Buffer, RegExp][] = [
    [
      'NUL byte',
      nd({ id: 1, s: 'ok' }, { id: 2, s: 'a\u0000b' }),
      /^bx-load: stdin:2: field "s": value holds a NUL byte/m,
    ],
    [
      'lone surrogate',
      '{"id":1}\n{"id":2,"s":"\\ud800x"}\n',
      /^bx-load: stdin:2: field "s": value is not valid UTF-8/m,
    ],
    [
      'invalid UTF-8 bytes',
      Buffer.concat([Buffer.from('{"id":1}\n{"id":2,"s":"'), Buffer.from([0xff]), Buffer.from('"}\n')]),
      /stdin:2: invalid UTF-8/m,
    ],
    ['malformed line', nd({ id: 1 }) + '{"id": 2,\n', /^bx-load: stdin:2: not valid JSON/m],
    [
      'unknown field',
      nd({ id: 1 }, { id: 2, nope: 1 }),
      /^bx-load: stdin:2: field "nope": no column of that name in the table \(--ignore-extra/m,
    ],
    [
      'server type error',
      nd({ id: 1, qty: 1 }, { id: 2, qty: 2 }, { id: 3, qty: 'abc' }),
      /^bx-load: stdin:3: field "qty": invalid input syntax for type integer: "abc"/m,
    ],
    [
      'type error with lineage',
      nd({ id: 1, qty: 1, _file: 'sales.csv' }, { id: 2, qty: 'x', _file: 'sales.csv', _line: 7 }),
      /^bx-load: stdin:2: field "qty": invalid input syntax .*\(record from sales\.csv:7\)/m,
    ],
  ];
  for (const [what, input, re] of cases) {
    const r = await load(`--table ${S}.bad`, input);
    t.equal(r.code, 65, `${what}: exit 65`);
    t.match(r.stderr, re, `${what}: the message names the record`);
    t.notMatch(r.stderr, /at .*\.js:\d+/, `${what}: no stack trace`);
  }
  t.same(await rows(`SELECT id, s FROM ${S}.bad`), [{ id: 0, s: 'before' }], 'the table holds what it held before');
  const ok = await load(`--table ${S}.bad --ignore-extra`, nd({ id: 5, nope: 1, _file: 'a.csv', _line: 3 }));
  t.equal(ok.code, 0, ok.stderr);
  t.same(
    await rows(`SELECT _line FROM ${S}.bad WHERE id = 5`),
    [{ _line: 3 }],
    '_line loads into a column of that name',
  );
});

t.test('identifiers are quoted, never injected; names over 63 bytes are refused', async (t) => {
  const rec = {
    select: 1,
    'a b': 'x',
    'semi;colon': 'y',
    'quo"te': 'z',
    UPPER: 'u',
    "it's": 'q',
    'drop table x; --': 'd',
  };
  const table = `${S}."We""ird; DROP TABLE ${S}.bad; --"`;
  const r = await load(`--table '${table}' --create`, nd(rec));
  t.equal(r.code, 0, r.stderr);
  const got = await rows(`SELECT * FROM ${table}`);
  t.same(got, [rec]);
  t.equal(await count(`${S}.bad`), 2, 'no SQL was injected');

  const long = 'x'.repeat(60) + '_one_',
    long2 = 'x'.repeat(60) + '_two_';
  const r2 = await load(`--table ${S}.longnames --create`, nd({ [long]: 1, [long2]: 2 }));
  t.equal(r2.code, 65);
  t.match(r2.stderr, /"x{60}_one_" \(65 bytes, cut to "x{60}_on"\)/);
  t.match(r2.stderr, /"x{60}_two_" \(65 bytes, cut to "x{60}_tw"\)/, 'every long name is named');
  const r3 = await load(`--table ${S}.longnames --create`, nd({ [long]: 1, ['x'.repeat(60) + '_onX_']: 2 }));
  t.match(r3.stderr, /the same name as field/, 'a collision is named');
  t.equal((await rows(`SELECT to_regclass('${S}.longnames') AS r`))[0].r, null, 'no table was created');
  const r4 = await load(`--table ${S}.${'t'.repeat(64)} --create`, nd({ a: 1 }));
  t.equal(r4.code, 64);
  t.match(r4.stderr, /table name "t{64}" is 64 bytes; PostgreSQL would cut it/);
  await db.query(`CREATE TABLE ${S}.shortcol ("${'x'.repeat(60)}_on" int)`);
  const r5 = await load(`--table ${S}.shortcol`, nd({ [long]: 1 }));
  t.equal(r5.code, 65, 'a long field never loads into the column it would be cut to');
  t.match(r5.stderr, /longer than PostgreSQL's 63-byte limit/);
});

t.test('--mode replace swaps in the new rows; with a view it truncates and loads', async (t) => {
  await db.query(`CREATE TABLE ${S}.rep (id int PRIMARY KEY, v text)`);
  await db.query(`INSERT INTO ${S}.rep SELECT g, 'old' FROM generate_series(1, 5) g`);
  const r = await load(`--table ${S}.rep --mode replace -v`, nd({ id: 1, v: 'new' }, { id: 2, v: 'new' }));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /replaced \(swapped in\)/);
  t.same(await rows(`SELECT id, v FROM ${S}.rep ORDER BY id`), [
    { id: 1, v: 'new' },
    { id: 2, v: 'new' },
  ]);
  const pk = await rows(
    `SELECT count(*)::int AS n FROM pg_index WHERE indrelid = '${S}.rep'::regclass AND indisprimary`,
  );
  t.equal(pk[0].n, 1, 'the new table has the primary key');

  // What a swap keeps: index and constraint names, the table's comment, UNLOGGED.
  await db.query(
    `CREATE UNLOGGED TABLE ${S}.kept (id int CONSTRAINT kept_id_key PRIMARY KEY, v text, w text CHECK (w <> 'bad'))`,
  );
  await db.query(`CREATE INDEX "kept v idx" ON ${S}.kept (v)`);
  await db.query(`CREATE INDEX kept_lower_v ON ${S}.kept (lower(v)) WHERE v IS NOT NULL`);
  await db.query(`CREATE INDEX kept_v_again ON ${S}.kept (v)`);
  await db.query(`COMMENT ON TABLE ${S}.kept IS 'nightly sales, it''s replaced'`);
  const shape = () =>
    rows(`SELECT (SELECT array_agg(relname::text ORDER BY relname) FROM pg_class WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '${S}.kept'::regclass)) AS indexes,
                 (SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint WHERE conrelid = '${S}.kept'::regclass) AS constraints,
                 obj_description('${S}.kept'::regclass, 'pg_class') AS comment,
                 (SELECT relpersistence FROM pg_class WHERE oid = '${S}.kept'::regclass) AS persistence`);
  const before = await shape();
  for (let i = 0; i < 2; i++) {
    const k = await load(`--table ${S}.kept --mode replace -v`, nd({ id: 1, v: 'a', w: 'x' }));
    t.equal(k.code, 0, k.stderr);
    t.match(k.stderr, /replaced \(swapped in\)/);
  }
  t.same(await shape(), before, 'index and constraint names, the comment and UNLOGGED survive two swaps');

  // What a swap would lose: the table is truncated and loaded instead.
  await db.query(`CREATE TABLE ${S}.parent (id int PRIMARY KEY)`);
  await db.query(`INSERT INTO ${S}.parent VALUES (1), (2)`);
  await db.query(`CREATE TABLE ${S}.child (id int PRIMARY KEY REFERENCES ${S}.parent (id) ON DELETE CASCADE)`);
  await db.query(`INSERT INTO ${S}.child VALUES (2)`);
  await db.query(`CREATE TABLE ${S}.ident (id int GENERATED ALWAYS AS IDENTITY, v text)`);
  await db.query(`INSERT INTO ${S}.ident (v) VALUES ('a'), ('b')`);
  for (const [tbl, why, rec] of [
    ['child', 'it has foreign keys', { id: 1 }],
    ['ident', 'it has an identity column', { v: 'c' }],
  ] as const) {
    const k = await load(`--table ${S}.${tbl} --mode replace -v`, nd(rec));
    t.equal(k.code, 0, k.stderr);
    t.match(k.stderr, new RegExp(`${why}; truncating`), `${tbl}: ${why}`);
  }
  t.same(
    await rows(`SELECT conname::text FROM pg_constraint WHERE conrelid = '${S}.child'::regclass AND contype = 'f'`),
    [{ conname: 'child_id_fkey' }],
    'the foreign key is still there',
  );
  t.same(await rows(`SELECT id, v FROM ${S}.ident`), [{ id: 3, v: 'c' }], 'the identity goes on from where it was');
  // A table other tables reference: refused before anything is loaded; nothing cascades.
  const ref = await load(`--table ${S}.parent --mode replace`, nd({ id: 1 }));
  t.equal(ref.code, 78);
  t.match(
    ref.stderr,
    new RegExp(
      `^bx-load: --mode replace: "${S}"\\."parent" is referenced by foreign keys from ${S}\\.child \\(child_id_fkey\\); .*upsert`,
      'm',
    ),
  );
  t.same(
    await rows(`SELECT (SELECT count(*)::int FROM ${S}.parent) AS p, (SELECT count(*)::int FROM ${S}.child) AS c`),
    [{ p: 2, c: 1 }],
    'parent and child unchanged',
  );

  await db.query(`CREATE VIEW ${S}.rep_v AS SELECT id FROM ${S}.rep`);
  const r2 = await load(`--table ${S}.rep --mode replace -v`, nd({ id: 7, v: 'again' }));
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stderr, /a view depends on it; truncating/);
  t.same(await rows(`SELECT id FROM ${S}.rep_v`), [{ id: 7 }], 'the view sees the new rows');
  const bad = await load(`--table ${S}.rep --mode replace`, nd({ id: 8 }, { id: 'x' }));
  t.equal(bad.code, 65);
  t.same(await rows(`SELECT id FROM ${S}.rep_v`), [{ id: 7 }], 'a failed replace leaves the old rows');
});

t.test('--mode upsert updates by key, and names records holding the same key twice', async (t) => {
  await db.query(`CREATE TABLE ${S}.ups (id int, region text, v int, PRIMARY KEY (id, region))`);
  await db.query(`INSERT INTO ${S}.ups VALUES (1, 'n', 10), (2, 'n', 20)`);
  const r = await load(
    `--table ${S}.ups --mode upsert --key id,region`,
    nd({ id: 2, region: 'n', v: 21 }, { id: 3, region: 'n', v: 30 }),
  );
  t.equal(r.code, 0, r.stderr);
  t.same(await rows(`SELECT id, v FROM ${S}.ups ORDER BY id`), [
    { id: 1, v: 10 },
    { id: 2, v: 21 },
    { id: 3, v: 30 },
  ]);
  const dup = await load(
    `--table ${S}.ups --mode upsert --key id,region`,
    nd({ id: 4, region: 'n', v: 1 }, { id: 1, region: 's', v: 1 }, { id: 4, region: 'n', v: 2 }),
  );
  t.equal(dup.code, 65);
  t.match(
    dup.stderr,
    /^bx-load: stdin:1: key \{"id" : 4, "region" : "n"\} appears 2 times in this load \(records at stdin:1, stdin:3\)/m,
  );
  t.equal(await count(`${S}.ups`), 3, 'nothing changed');
  const nokey = await load(`--table ${S}.ups --mode upsert --key v`, nd({ id: 9, region: 'n', v: 1 }));
  t.equal(nokey.code, 78);
  t.match(nokey.stderr, /--key v: .* has no primary key or unique index on exactly \(v\)/);
  const created = await load(
    `--table ${S}.ups_new --create --mode upsert --key id`,
    nd({ id: 1, v: 'a' }, { id: 2, v: 'b' }),
  );
  t.equal(created.code, 0, created.stderr);
  const again = await load(`--table ${S}.ups_new --create --mode upsert --key id`, nd({ id: 2, v: 'B' }));
  t.equal(again.code, 0, again.stderr);
  t.same(
    await rows(`SELECT id, v FROM ${S}.ups_new ORDER BY id`),
    [
      { id: 1, v: 'a' },
      { id: 2, v: 'B' },
    ],
    '--create makes the key the primary key',
  );
});

t.test('--replace-where is idempotent, checks the partition, and serialises concurrent runs', async (t) => {
  await db.query(`CREATE TABLE ${S}.daily (sale_date date, n int)`);
  await db.query(`INSERT INTO ${S}.daily VALUES ('2026-11-22', 1)`);
  const day = nd(...Array.from({ length: 500 }, (_, i) => ({ sale_date: '2026-11-23', n: i })));
  for (let i = 0; i < 2; i++) {
    const r = await load(`--table ${S}.daily --replace-where sale_date=2026-11-23`, day);
    t.equal(r.code, 0, r.stderr);
  }
  t.same(await rows(`SELECT sale_date::text AS d, count(*)::int AS n FROM ${S}.daily GROUP BY 1 ORDER BY 1`), [
    { d: '2026-11-22', n: 1 },
    { d: '2026-11-23', n: 500 },
  ]);
  const outside = await load(
    `--table ${S}.daily --replace-where "sale_date='2026-11-23'"`,
    nd({ sale_date: '2026-11-23', n: 1 }, { sale_date: '2026-11-24', n: 2 }),
  );
  t.equal(outside.code, 65);
  t.match(outside.stderr, /stdin:2: field "sale_date": value "2026-11-24" is outside the partition/);
  const dir = tmp(t);
  writeFileSync(join(dir, 'day.ndjson'), day);
  const both = await sh(
    `for i in 1 2 3; do bx-load --table ${S}.daily --replace-where sale_date=2026-11-23 ${dir}/day.ndjson & done; wait`,
    { env },
  );
  t.equal(both.code, 0, both.stderr);
  t.equal(await count(`${S}.daily WHERE sale_date = '2026-11-23'`), 500, 'three concurrent runs leave one copy');
});

t.test('atomic: a killed or failed upstream, SIGTERM or kill -9 of bx-load commit nothing', async (t) => {
  await db.query(`CREATE TABLE ${S}.atom (id int)`);
  await db.query(`INSERT INTO ${S}.atom VALUES (0)`);
  const dir = tmp(t);
  const file = join(dir, 'rows.ndjson');
  writeFileSync(file, nd(...Array.from({ length: 20000 }, (_, i) => ({ id: i + 1 }))));

  // The producer dies (kill -9) mid-stream: under BX_SEAL=1 bx-load sees no trailer.
  const sealed = await sh(`(head -n 5000 ${file}; kill -9 $BASHPID) | bx-load --table ${S}.atom`, {
    env: { ...env, BX_SEAL: '1' },
  });
  t.equal(sealed.code, 65);
  t.match(sealed.stderr, /input ended without its end-of-stream mark; upstream stage failed/);
  t.equal(await count(`${S}.atom`), 1);

  const sealedOk = await sh(`(cat ${file}; echo '{"@bx":"end","records":20000}') | bx-load --table ${S}.atom`, {
    env: { ...env, BX_SEAL: '1' },
  });
  t.equal(sealedOk.code, 0, sealedOk.stderr);
  t.equal(await count(`${S}.atom`), 20001);
  await db.query(`DELETE FROM ${S}.atom WHERE id > 0`);

  for (const sig of ['TERM', 'KILL']) {
    const r = await sh(
      `{ cat ${file}; sleep 30; } | bx-load --table ${S}.atom & pid=$!
       for i in $(seq 100); do sleep 0.1; n=$(psql "$DATABASE_URL" -Atc "select count(*) from pg_stat_activity where application_name = 'bx-load' and query like 'COPY%'"); [ "$n" -gt 0 ] && break; done
       sleep 0.3; kill -${sig} $pid; wait $pid; echo "exit=$?"`,
      { env },
    );
    t.match(r.stdout, sig === 'TERM' ? /exit=143/ : /exit=137/, `SIGKILL/SIGTERM: ${r.stdout.trim()}`);
    if (sig === 'TERM') t.match(r.stderr, /interrupted by SIGTERM/);
    t.equal(await count(`${S}.atom`), 1, `after SIG${sig} the table is unchanged`);
  }
});

t.test('connection problems: exit codes, and no password in any message', async (t) => {
  const secret = 'S3cretPassw0rd';
  const u = new URL(url.replace(/^postgres(ql)?:/, 'http:'));
  const refused = await load(`--table x --db postgres://bob:${secret}@127.0.0.1:1/db`, nd({ a: 1 }));
  t.equal(refused.code, 69);
  t.match(refused.stderr, /bob@127\.0\.0\.1:1\/db: connection refused/);
  t.match(refused.stderr, /warning: a password on the command line/);
  t.notMatch(refused.stderr, secret);
  const nodb = await load(`--table x`, nd({ a: 1 }), {
    DATABASE_URL: `postgres://${u.username}:${secret}@${u.host}/no_such_db_bx`,
  });
  t.equal(nodb.code, 78);
  t.match(nodb.stderr, /no_such_db_bx/);
  t.notMatch(nodb.stderr, secret);
  const badSsl = await load(`--table x`, nd({ a: 1 }), {
    DATABASE_URL: `${url}${url.includes('?') ? '&' : '?'}sslmode=sometimes`,
  });
  t.equal(badSsl.code, 78);
  t.match(badSsl.stderr, /sslmode "sometimes" is not one of/);
  const noCa = await load(`--table x --sslmode verify-full`, nd({ a: 1 }), { PGSSLROOTCERT: '/nonexistent/ca.pem' });
  t.equal(noCa.code, 78);
  t.match(noCa.stderr, /needs a CA file/);
  const missing = await load(`--table ${S}.nope`, nd({ a: 1 }));
  t.equal(missing.code, 78);
  t.match(missing.stderr, new RegExp(`table "${S}"\\."nope" does not exist \\(add --create`));
  const pgvars = await load(`--table ${S}.viaenv --create`, nd({ a: 1 }), {
    DATABASE_URL: undefined,
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password) || undefined,
    PGDATABASE: u.pathname.slice(1),
  });
  t.equal(pgvars.code, 0, `PG* variables: ${pgvars.stderr}`);
});

t.test('a lock timeout is worth a retry: exit 75', async (t) => {
  await db.query(`CREATE TABLE ${S}.locked (id int)`);
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  await other.query(`BEGIN; LOCK TABLE ${S}.locked IN ACCESS EXCLUSIVE MODE`);
  const r = await load(`--table ${S}.locked --mode replace`, nd({ id: 1 }), { PGOPTIONS: '-c lock_timeout=200' });
  await other.query('ROLLBACK');
  await other.end();
  t.equal(r.code, 75, r.stderr);
  t.match(r.stderr, /lock timeout; worth a retry/);
});

t.test('superstore: bx-extract | bx-load --create, then --mode replace twice', async (t) => {
  const csv = shared('superstore.csv');
  await db.query(`DROP TABLE IF EXISTS ${S}.superstore`);
  const r = await sh(`bx-extract ${csv} | bx-load --table ${S}.superstore --create`, { env });
  t.equal(r.code, 0, r.stderr);
  t.equal(await count(`${S}.superstore`), 10194);
  for (let i = 0; i < 2; i++) {
    const again = await sh(`bx-extract ${csv} | bx-load --table ${S}.superstore --create --mode replace`, { env });
    t.equal(again.code, 0, again.stderr);
  }
  t.equal(await count(`${S}.superstore`), 10194);
  t.same(await rows(`SELECT "Product Name" AS p FROM ${S}.superstore WHERE "Row ID" = 1`), [
    { p: 'Message Book, Wirebound, Four 5 1/2" X 4" Forms/Pg., 200 Dupl. Sets/Book' },
  ]);
});

t.test('lines transcoded without parsing load what JSON.parse reads, over many batches', async (t) => {
  // Each shape many times in a row (the fast path learns a layout per shape), in batches of
  // several chunks; the values are what the table must hold, as text.
  await db.query(`CREATE TABLE ${S}.fast (id int, s text, n text, b text, extra text)`);
  const shapes = [
    '{"id":ID,"s":"plain, with a comma","n":12,"b":true}',
    '{"id":ID,"s":"q\\"uote \\\\ back\\tslash \\/ \\n\\r \\b\\f","n":-0,"b":false}',
    '{"id":ID,"s":"東京 🚀 \\u00e9\\ud83d\\ude80","n":123456789012345678901234567890,"b":null}',
    '{"id":ID,"n":1.50,"s":"\\\\N"}',
    ' { "id" : ID , "s" : "spaced" , "n" : 1e2 } ',
    '{"id":ID,"s":{"nested":["x\\ty"]},"n":0.1234567890123456789}',
    '{"s":"\\\\.","id":ID}',
  ];
  const lines: string[] = [];
  for (let i = 0; i < 7000; i++) lines.push(shapes[Math.floor(i / 500) % shapes.length].replace('ID', String(i)));
  const r = await load(`--table ${S}.fast`, lines.join('\n') + '\n');
  t.equal(r.code, 0, r.stderr);
  const got = await rows(`SELECT id, s, n, b FROM ${S}.fast ORDER BY id`);
  t.equal(got.length, lines.length);
  const asText = (v: unknown) =>
    v === undefined || v === null ? null : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const bad: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const want = JSON.parse(lines[i]);
    const row = got[i];
    // Numbers a double cannot hold arrive as written; the rest as String(number) (-0 as 0).
    const n = /\d{20}|\d\.\d{17}/.test(lines[i])
      ? lines[i].match(/"n":([\d.]+)/)![1]
      : asText(Object.is(want.n, -0) ? 0 : want.n);
    const s = typeof want.s === 'object' ? JSON.stringify(want.s) : asText(want.s);
    if (row.id !== i || row.s !== s || row.n !== n || row.b !== asText(want.b))
      bad.push(`line ${i + 1}: ${JSON.stringify(row)}`);
  }
  t.same(bad.slice(0, 5), [], 'every row holds the values of its line');

  // After thousands of fast lines, a bad line is reported as the record path reports it.
  const tail = (line: string) => lines.slice(0, 3000).join('\n') + '\n' + line + '\n';
  const cases: [string, RegExp][] = [
    [
      '{"id":1,"nope":2}',
      /^bx-load: stdin:3001: field "nope": no column of that name in the table \(--ignore-extra skips unknown fields\)$/m,
    ],
    [
      '{"id":1,"s":"a\\u0000b"}',
      /^bx-load: stdin:3001: field "s": value holds a NUL byte, which PostgreSQL text cannot store$/m,
    ],
    [
      '{"id":1,"s":"\\udc00"}',
      /^bx-load: stdin:3001: field "s": value is not valid UTF-8 \(a lone UTF-16 surrogate from a \\u escape\)$/m,
    ],
    ['{"id":1,"s":"x",}', /^bx-load: stdin:3001: not valid JSON: /m],
    ['{"id":"x1"}', /^bx-load: stdin:3001: field "id": invalid input syntax for type integer: "x1"/m],
  ];
  for (const [line, re] of cases) {
    const bad = await load(`--table ${S}.fast`, tail(line));
    t.equal(bad.code, 65, `${line}: exit 65`);
    t.match(bad.stderr, re, `${line}: the message`);
  }
  t.equal(await count(`${S}.fast`), lines.length, 'failed loads left the table as it was');
});

t.test(
  'rows held back for one large COPY write: a wider COPY, the end and a refused row still come out right',
  async (t) => {
    // bx-load without --rejects writes ~256 KiB of rows at a time: the rows held when a record
    // names a new column go in before the wider COPY starts, the last ones at the end, and a row
    // the server refuses is still named by its own line.
    await db.query(`CREATE TABLE ${S}.held (id int, s text, extra text)`);
    const line = (i: number) => JSON.stringify({ id: i, s: `row ${i} ${'x'.repeat(i % 50)}` });
    const lines: string[] = [];
    for (let i = 0; i < 30000; i++) lines.push(line(i));
    lines[20000] = JSON.stringify({ id: 20000, s: 'wider', extra: 'e' });
    const r = await load(`--table ${S}.held`, lines.join('\n') + '\n');
    t.equal(r.code, 0, r.stderr);
    const got = await rows(`SELECT id, s, extra FROM ${S}.held ORDER BY id`);
    t.equal(got.length, lines.length, 'every row arrived');
    const bad = got.filter(
      (g, i) => g.id !== i || JSON.stringify({ id: i, s: g.s, ...(g.extra ? { extra: g.extra } : {}) }) !== lines[i],
    );
    t.same(bad.slice(0, 3), [], 'each row holds its line');

    const refused = [...lines];
    refused[25000] = '{"id":"x25001"}';
    const f = await load(`--table ${S}.held`, refused.join('\n') + '\n');
    t.equal(f.code, 65);
    t.match(f.stderr, /^bx-load: stdin:25001: field "id": invalid input syntax for type integer: "x25001"/m);
    t.equal(await count(`${S}.held`), lines.length, 'the failed load left the table as it was');
  },
);

t.test('rows held back go to the server when the input pauses, not only at 256 KiB or the end', async (t) => {
  // A trickling input (a broker followed live): 100 rows, then the pipe stays open. The rows must
  // reach the COPY (pg_stat_progress_copy counts them) while bx-load waits for more.
  await db.query(`CREATE TABLE ${S}.trickle (id int)`);
  const penv = { ...process.env, ...env, PATH: `${join(root, 'bin')}:${process.env.PATH}` };
  delete penv.NODE_OPTIONS;
  const p = spawn('bash', ['-c', `unset NODE_OPTIONS; exec bx-load -q --table ${S}.trickle`], {
    env: penv,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  p.stdin.write(nd(...Array.from({ length: 100 }, (_, id) => ({ id }))));
  let copied = 0;
  for (let i = 0; i < 100 && copied < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await rows(
      `SELECT coalesce(max(p.tuples_processed), 0)::int AS n FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.query ILIKE '%COPY%trickle%'`,
    );
    copied = r[0].n;
  }
  t.equal(copied, 100, 'the 100 rows were in the COPY while the input stayed open');
  p.stdin.end(nd({ id: 100 }));
  t.equal(await done, 0, stderr);
  t.equal(await count(`${S}.trickle`), 101, 'and the load completed with every row');
});
