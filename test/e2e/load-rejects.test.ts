// bx-load --rejects FILE --max-rejects N against a real PostgreSQL: rows the server refuses go to
// the rejects file with its reason and the record's origin, the rest loads in the same
// transaction; past the limit nothing loads. Also: a missing privilege is exit 77, and bytea and
// array columns take what bx-extract --query writes for them. Each test in its own schema.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pgSchema, ndjson, sh, tmp } from '../helpers.js';

const { url, S, env, db } = await pgSchema(t, 'bxrej_e2e', (db) =>
  db.query(`DROP ROLE IF EXISTS bxrej_e2e_${process.pid}_ro`).catch(() => {}),
);

const nd = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const load = (args: string, input: string | Buffer, extra: Record<string, string | undefined> = {}) =>
  sh(`bx-load ${args}`, { input, env: { ...env, ...extra } });
const one = async (sql: string) => Object.values((await db.query(sql)).rows[0] ?? {})[0];
const ids = async (table: string) =>
  String(await one(`SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM ${S}.${table}`));
const readRejects = (file: string) => (existsSync(file) ? ndjson(readFileSync(file, 'utf8')) : []);
type Reject = { record: Record<string, unknown>; errors: Record<string, unknown>[]; source: string };

t.test('a constraint violation and a bad type value: rejected with the reason, the rest loads', async (t) => {
  await db.query(
    `CREATE TABLE ${S}.c (id int PRIMARY KEY, name text NOT NULL CHECK (name <> 'bad'), day date, qty int)`,
  );
  const rej = join(tmp(t), 'rej.ndjson');
  const input = nd(
    { id: 1, name: 'a', qty: 1 },
    { id: 2, name: 'b', qty: 'abc' },
    { id: 3, name: 'bad' },
    { id: 4 },
    { id: 1, name: 'again' },
    { id: 6, name: 'f', day: '2026-02-30' },
    { id: 7, name: 'g', day: '2026-11-23' },
  );
  const r = await load(`--table ${S}.c --rejects ${rej}`, input);
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('c'), '1,7', 'the good rows loaded');
  t.match(r.stderr, /7 rows in, 2 out, 5 rejected/);
  const got = readRejects(rej) as unknown as Reject[];
  t.same(
    got.map((g) => g.source),
    ['stdin:2', 'stdin:3', 'stdin:4', 'stdin:5', 'stdin:6'],
    'in line order',
  );
  t.same(got[0].record, { id: 2, name: 'b', qty: 'abc' }, 'the record as it came');
  t.match(got[0].errors[0], {
    field: 'qty',
    rule: 'invalid_text_representation',
    sqlstate: '22P02',
    value: 'abc',
    message: /invalid input syntax for type integer/,
  });
  t.match(got[1].errors[0], { rule: 'check_violation', sqlstate: '23514', constraint: 'c_name_check' });
  t.match(got[2].errors[0], { field: 'name', rule: 'not_null_violation', sqlstate: '23502' });
  t.match(got[3].errors[0], {
    rule: 'unique_violation',
    sqlstate: '23505',
    constraint: 'c_pkey',
    message: /\(id\)=\(1\)/,
  });
  t.match(got[4].errors[0], { field: 'day', sqlstate: '22008', value: '2026-02-30' });
  t.equal((readFileSync(rej).length > 0 ? (await import('node:fs')).statSync(rej).mode & 0o777 : 0).toString(8), '600');
});

t.test('several refused rows in one batch and across batches; the first and the last row', async (t) => {
  await db.query(`CREATE TABLE ${S}.many (id int PRIMARY KEY, v int CHECK (v >= 0))`);
  // 120,000 rows: more than two savepoint groups (50,000 rows each); refused rows at both ends of
  // the input, side by side, and either side of a group's edge.
  const n = 120000;
  const bad = new Set([1, 2, 500, 501, 502, 9999, 49999, 50000, 50001, 100000, 119999, n]);
  const lines: string[] = [];
  for (let i = 1; i <= n; i++)
    lines.push(JSON.stringify({ id: i, v: bad.has(i) ? (i % 2 ? -1 : 'x') : i, pad: 'p'.repeat(40) }));
  const dir = tmp(t);
  const file = join(dir, 'in.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  const rej = join(dir, 'rej.ndjson');
  const r = await load(`--table ${S}.many --ignore-extra --rejects ${rej} --max-rejects 12 ${file}`, '');
  t.equal(r.code, 0, r.stderr);
  t.equal(Number(await one(`SELECT count(*) FROM ${S}.many`)), n - bad.size);
  t.equal(Number(await one(`SELECT count(*) FROM ${S}.many WHERE id IN (${[...bad].join(',')})`)), 0);
  const got = readRejects(rej) as unknown as Reject[];
  t.same(
    got.map((g) => g.source),
    [...bad].map((i) => `${file}:${i}`),
  );
  // A single row that is refused: the batch is that row alone.
  await db.query(`CREATE TABLE ${S}.single (id int)`);
  const r1 = await load(`--table ${S}.single --rejects ${rej}`, '{"id":"no"}\n');
  t.equal(r1.code, 0, r1.stderr);
  t.equal(readRejects(rej).length, 1);
  t.equal(Number(await one(`SELECT count(*) FROM ${S}.single`)), 0);
});

t.test('records bx-load cannot send (not JSON, no such column, a NUL) are rejects too under --rejects', async (t) => {
  await db.query(`CREATE TABLE ${S}.cl (id int, s text)`);
  const rej = join(tmp(t), 'rej.ndjson');
  const input = '{"id":1}\n{"id":2,\n{"id":3,"nope":1}\n{"id":4,"s":"a\\u0000b"}\n{"id":"x"}\n{"id":6}\n';
  const r = await load(`--table ${S}.cl --rejects ${rej}`, input);
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('cl'), '1,6');
  t.match(r.stderr, /6 rows in, 2 out, 4 rejected/);
  const got = readRejects(rej) as unknown as Reject[];
  t.same(
    got.map((g) => [g.source, g.errors[0].rule]),
    [
      ['stdin:2', 'record'],
      ['stdin:3', 'record'],
      ['stdin:4', 'record'],
      ['stdin:5', 'invalid_text_representation'],
    ],
  );
  t.equal(got[0].record as unknown, '{"id":2,', 'a line that is not JSON, as text');
  t.match(got[1].errors[0], { field: 'nope', message: /no column of that name/ });
  t.match(got[2].errors[0], { field: 's', message: /NUL/ });
});

t.test('past --max-rejects: exit 65, the table untouched, the rejects file whole', async (t) => {
  await db.query(`CREATE TABLE ${S}.lim (id int PRIMARY KEY, v int NOT NULL); INSERT INTO ${S}.lim VALUES (100, 1)`);
  const rej = join(tmp(t), 'rej.ndjson');
  const input = nd({ id: 1, v: 1 }, { id: 2 }, { id: 3, v: 'x' }, { id: 4, v: 4 }, { id: 5 });
  const r = await load(`--table ${S}.lim --rejects ${rej} --max-rejects 2`, input);
  t.equal(r.code, 65, r.stderr);
  t.match(r.stderr, /too many rejects: more than --max-rejects 2/);
  t.equal(await ids('lim'), '100', 'nothing committed');
  const got = readRejects(rej) as unknown as Reject[];
  t.same(
    got.map((g) => g.source),
    ['stdin:2', 'stdin:3', 'stdin:5'],
    'every reject up to the one past the limit',
  );
  const pct = await load(`--table ${S}.lim --rejects ${rej} --max-rejects 10%`, input);
  t.equal(pct.code, 65, 'a percentage too');
  t.equal(await ids('lim'), '100');
  const zero = await load(`--table ${S}.lim --rejects ${rej} --max-rejects 0`, nd({ id: 9, v: 'y' }));
  t.equal(zero.code, 65);
  const ok = await load(`--table ${S}.lim --rejects ${rej} --max-rejects 3`, input);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(await ids('lim'), '1,4,100');
  const usage = await load(`--table ${S}.lim --max-rejects 3`, input);
  t.equal(usage.code, 64, '--max-rejects without --rejects');
});

t.test('a refused row in the middle of a file with lineage names the source file and line', async (t) => {
  await db.query(`CREATE TABLE ${S}.lin (id int, qty int)`);
  const dir = tmp(t);
  const csv = join(dir, 'sales.csv');
  writeFileSync(csv, 'id,qty\n1,5\n2,7\n3,many\n4,9\n');
  const rej = join(dir, 'rej.ndjson');
  const r = await sh(`bx-extract --lineage ${csv} | bx-load --table ${S}.lin --rejects ${rej}`, { env });
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('lin'), '1,2,4');
  const got = readRejects(rej) as unknown as Reject[];
  t.equal(got.length, 1);
  t.equal(got[0].source, `${csv}:4`, 'the CSV file and its line, not stdin:3');
  t.match(got[0].record, { id: '3', qty: 'many' });
});

t.test('every mode: append, replace, replace-where, upsert, --create; foreign keys found by halving', async (t) => {
  await db.query(
    `CREATE TABLE ${S}.cust (id int PRIMARY KEY); INSERT INTO ${S}.cust SELECT generate_series(1, 10);
     CREATE TABLE ${S}.ord (id int PRIMARY KEY, cust int REFERENCES ${S}.cust, qty int CHECK (qty > 0), day text);
     INSERT INTO ${S}.ord VALUES (1000, 1, 1, 'old'), (1001, 1, 1, 'keep')`,
  );
  const dir = tmp(t);
  const rej = join(dir, 'rej.ndjson');
  const recs = (day: string) =>
    nd(
      { id: 1, cust: 1, qty: 1, day },
      { id: 2, cust: 99, qty: 1, day },
      { id: 3, cust: 2, qty: 0, day },
      { id: 4, cust: 3, qty: 1, day },
      { id: 5, cust: 77, qty: 1, day },
      { id: 6, cust: 4, qty: 1, day },
    );
  // append: the foreign key is checked at the end of COPY, naming no line; halving finds both rows.
  let r = await load(`--table ${S}.ord --rejects ${rej}`, recs('new'));
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('ord'), '1,4,6,1000,1001');
  let got = readRejects(rej) as unknown as Reject[];
  t.same(
    got.map((g) => [g.source, g.errors[0].rule]),
    [
      ['stdin:2', 'foreign_key_violation'],
      ['stdin:3', 'check_violation'],
      ['stdin:5', 'foreign_key_violation'],
    ],
  );
  // replace-where
  r = await load(
    `--table ${S}.ord --replace-where day=old --rejects ${rej}`,
    recs('old').replace(/"id":(\d)/g, '"id":2$1'),
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('ord'), '1,4,6,21,24,26,1001');
  t.equal(readRejects(rej).length, 3);
  // upsert: refusals by the target table's constraints, at the INSERT from the staging table.
  r = await load(
    `--table ${S}.ord --mode upsert --key id --rejects ${rej}`,
    nd(
      { id: 1, cust: 5, qty: 2, day: 'up' },
      { id: 4, cust: 55, qty: 2, day: 'up' },
      { id: 8, cust: 5, qty: -3, day: 'up' },
      { id: 9, cust: 6, qty: 'x' },
      { id: 10, cust: 6, qty: 1, day: 'up' },
    ),
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(
    await one(`SELECT string_agg(id || ':' || cust, ',' ORDER BY id) FROM ${S}.ord WHERE day = 'up'`),
    '1:5,10:6',
  );
  t.equal(await one(`SELECT cust FROM ${S}.ord WHERE id = 4`), 3, 'the refused update left the row as it was');
  got = readRejects(rej) as unknown as Reject[];
  t.same(got.map((g) => [g.source, g.errors[0].rule]).sort(), [
    ['stdin:2', 'foreign_key_violation'],
    ['stdin:3', 'check_violation'],
    ['stdin:4', 'invalid_text_representation'],
  ]);
  t.match(got.find((g) => g.source === 'stdin:2')!.record, { id: 4, cust: 55 });
  // replace (no foreign keys on this one: swapped in)
  await db.query(
    `CREATE TABLE ${S}.rep (id int PRIMARY KEY, v int CHECK (v > 0)); INSERT INTO ${S}.rep VALUES (50, 1)`,
  );
  r = await load(
    `--table ${S}.rep --mode replace --rejects ${rej}`,
    nd({ id: 1, v: 1 }, { id: 2, v: 0 }, { id: 3, v: 3 }),
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('rep'), '1,3');
  t.equal(readRejects(rej).length, 1);
  // --create: the inferred integer column refuses a later text value.
  const many = Array.from({ length: 5 }, (_, i) => ({ id: i, n: i === 3 ? 'three' : i }));
  r = await load(`--table ${S}.made --create --infer-rows 2 --rejects ${rej}`, nd(...many));
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('made'), '0,1,2,4');
});

t.test('the sealed stream: the checkpoint is stored with the rows, and only when they commit', async (t) => {
  await db.query(
    `CREATE TABLE ${S}.inc (id int PRIMARY KEY, v int, updated_at timestamptz);
     INSERT INTO ${S}.inc VALUES (1, 1, '2026-01-01'), (2, -2, '2026-01-02'), (3, 3, '2026-01-03');
     CREATE TABLE ${S}.inc_copy (id int PRIMARY KEY, v int CHECK (v > 0), updated_at timestamptz)`,
  );
  const rej = join(tmp(t), 'rej.ndjson');
  const sealed = { ...env, BX_SEAL: '1' };
  const pipe = (extra: string) =>
    `bx-extract --table ${S}.inc --incremental updated_at --key id --from-state "$DATABASE_URL" | bx-load --table ${S}.inc_copy --mode upsert --key id --rejects ${rej} ${extra}`;
  const state = async () =>
    (await db.query(`SELECT position::text AS p FROM public.bx_state WHERE key LIKE '%inc%' AND key LIKE '%${S}%'`))
      .rows[0]?.p as string | undefined;
  const r = await sh(pipe(''), { env: sealed });
  t.equal(r.code, 0, r.stderr);
  t.equal(await ids('inc_copy'), '1,3');
  t.equal(readRejects(rej).length, 1, 'the refused row is in the rejects file');
  const first = await state();
  t.ok(first, 'the watermark is stored with the rows');
  t.match(first, /2026-01-03/);
  // The next batch has a refused row too many: nothing loads, the watermark stays.
  await db.query(`INSERT INTO ${S}.inc VALUES (4, 4, '2026-01-04'), (5, -5, '2026-01-05')`);
  const over = await sh(pipe('--max-rejects 0'), { env: sealed });
  t.equal(over.code, 65, over.stderr);
  t.equal(await ids('inc_copy'), '1,3');
  t.equal(await state(), first, 'the watermark where it was');
  // The re-run with room for the reject reads the same rows again.
  const again = await sh(pipe('--max-rejects 1'), { env: sealed });
  t.equal(again.code, 0, again.stderr);
  t.equal(await ids('inc_copy'), '1,3,4');
  t.match(await state(), /2026-01-05/);
});

t.test('a missing privilege is exit 77 (EX_NOPERM), as the database sources say it', async (t) => {
  const role = `${S}_ro`;
  await db.query(
    `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'bx-np-pw'; CREATE TABLE ${S}.priv (id int);
     GRANT USAGE ON SCHEMA ${S} TO ${role}; GRANT SELECT ON ${S}.priv TO ${role}`,
  );
  const u = new URL(url);
  u.username = role;
  u.password = 'bx-np-pw';
  const r = await load(`--table ${S}.priv`, nd({ id: 1 }), { DATABASE_URL: u.toString() });
  t.equal(r.code, 77, r.stderr);
  t.match(r.stderr, /permission denied for table priv/);
});

t.test('bytea and array columns: PG → bx-extract --query → bx-load → the same table', async (t) => {
  await db.query(
    `CREATE TABLE ${S}.src (id int, b bytea, ia int[], ta text[], na numeric[], m int[][], ba bytea[], j jsonb);
     INSERT INTO ${S}.src VALUES
       (1, '\\x00ff10205c0a'::bytea, '{1,2,NULL,-3}', ARRAY['a,b', 'c"d', 'e\\f', 'NULL', '', ' sp ', '{x}', E'tab\\there', E'nl\\n'], '{1.50,123456789012345678901234567890}', '{{1,2},{3,4}}', ARRAY['\\x0001'::bytea, NULL], '[1,"two"]'),
       (2, '', '{}', '{}', NULL, NULL, '{}', '{"a": [1, 2]}'),
       (3, NULL, NULL, ARRAY[NULL, 'x'], '{}', '{{NULL,5}}', NULL, NULL)`,
  );
  await db.query(`CREATE TABLE ${S}.dst (LIKE ${S}.src)`);
  const r = await sh(`bx-extract --query "SELECT * FROM ${S}.src" | bx-load --table ${S}.dst`, { env });
  t.equal(r.code, 0, r.stderr);
  const diff = await one(
    `SELECT count(*) FROM ((TABLE ${S}.src EXCEPT ALL TABLE ${S}.dst) UNION ALL (TABLE ${S}.dst EXCEPT ALL TABLE ${S}.src)) d`,
  );
  t.equal(Number(diff), 0, 'the two tables hold the same rows');
  t.equal(Number(await one(`SELECT count(*) FROM ${S}.dst`)), 3);
  t.equal(await one(`SELECT encode(b, 'hex') FROM ${S}.dst WHERE id = 1`), '00ff10205c0a', 'bytea as its bytes');
  t.equal(await one(`SELECT ta[3] FROM ${S}.dst WHERE id = 1`), 'e\\f');
  t.equal(await one(`SELECT ta[4] IS NULL FROM ${S}.dst WHERE id = 1`), false, "'NULL' stays text");
  t.equal(await one(`SELECT ta[1] IS NULL FROM ${S}.dst WHERE id = 3`), true, 'a null element is NULL');
  // Not base64 into a bytea: a data error naming the line and column.
  const bad = await load(`--table ${S}.dst`, nd({ id: 9, b: 'not base64!' }));
  t.equal(bad.code, 65, bad.stderr);
  t.match(bad.stderr, /stdin:1.*b.*base64/);
  // Tables without such columns keep the byte path (the encoder's counter says which path ran).
});
