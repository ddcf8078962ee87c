// bx-extract --query/--table against the machine's PostgreSQL and MariaDB, in real pipes into
// bx-load. Tables are named bxdb_e2e_*; every test cleans up. A server that cannot be reached
// skips its tests with the reason.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pg from 'pg';
import { bin, ndjson, sh, tmp } from '../helpers.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MY = process.env.BX_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';
const env = { DATABASE_URL: url };
// The databases the URLs name (each helper has its own), as they appear in messages.
const PGDB = new URL(url).pathname.slice(1) || 'postgres';
// How bx names the server in messages (user@host:port/db): the configured server or the embedded one.
const PGWHERE = (() => {
  const u = new URL(url);
  return `${decodeURIComponent(u.username) || 'postgres'}@${u.hostname}:${u.port || '5432'}/${PGDB}`;
})();
const MYDB = new URL(MY.replace(/^mysql:/, 'http:')).pathname.slice(1) || 'test';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const db = new pg.Client({ connectionString: url });
let pgDown: string | false = false;
let myDown: string | false = false;
const my = (sql: string) =>
  execFileSync('mysql', ['-uroot', '-h127.0.0.1', '-P3306', '--default-character-set=utf8mb4', MYDB, '-e', sql], {
    encoding: 'utf8',
  });
const q = async (sql: string) => (await db.query(sql)).rows;

t.before(async () => {
  try {
    await db.connect();
  } catch (err) {
    pgDown = `PostgreSQL at ${url.replace(/:[^:@/]*@/, '@')} is not reachable (${(err as Error).message})`;
  }
  try {
    my('select 1');
  } catch (err) {
    myDown = `MariaDB at 127.0.0.1:3306 is not reachable with mysql -uroot (${(err as Error).message.split('\n')[0]})`;
  }
});
t.teardown(async () => {
  if (!pgDown) {
    await db.query(
      `DO $$ DECLARE r record; BEGIN FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bxdb\\_e2e\\_%' LOOP EXECUTE format('DROP TABLE %I', r.tablename); END LOOP; END $$`,
    );
    await db
      .query(
        `DO $$ BEGIN IF to_regclass('public.bx_state') IS NOT NULL THEN DELETE FROM public.bx_state WHERE key LIKE '%#bxdb\\_e2e\\_%'; END IF; END $$`,
      )
      .catch(() => {});
    await db.query('DROP ROLE IF EXISTS bxdb_e2e_noperm').catch(() => {});
    await db.end();
  }
  if (!myDown)
    my("DROP TABLE IF EXISTS bxdb_e2e_mtypes, bxdb_e2e_minc, bxdb_e2e_mbig; DROP USER IF EXISTS 'bxdb_e2e_np'@'%'");
});

/** Both tables hold the same rows, compared both ways with EXCEPT on `cols` (SQL expressions). */
async function sameRows(
  t: { same: (a: unknown, b: unknown, m?: string) => unknown },
  a: string,
  b: string,
  colsA: string,
  colsB = colsA,
) {
  const ab = await q(`SELECT ${colsA} FROM ${a} EXCEPT ALL SELECT ${colsB} FROM ${b}`);
  const ba = await q(`SELECT ${colsB} FROM ${b} EXCEPT ALL SELECT ${colsA} FROM ${a}`);
  t.same(ab, [], `${a} has no row missing from ${b}`);
  t.same(ba, [], `${b} has no row missing from ${a}`);
}

const PG_TYPES = `id int8 PRIMARY KEY, i2 int2, i4 int4, big int8, n numeric(38,10), nn numeric, f8 float8, f4 real, b bool,
  d date, ts timestamp, tz timestamptz, tm time, iv interval, j jsonb, js json, t text, vc varchar(20), u uuid, ip inet`;
const PG_ROWS = [
  `1, 32767, -2147483648, 9007199254740993, 12345678901234567890.1234567890, 0.1, 0.1, 1.5, true,
   '2026-11-23', '2026-11-23 00:30:00.123456', '2026-11-23 00:30:00.5+09', '23:59:59.999999', '1 day 02:03:04.5', '{"a": [1, 2.50], "s": "x\\ny", "deep": {"k": [true, null]}}', E'{"x":\\n 1}',
   E'tab\\there\\nnew "line" \\\\ é 🎉', 'short', '77036648-d76e-459a-8caa-412ae51ed7ac', '10.0.0.1/8'`,
  `2, -1, 0, -9223372036854775808, -0.0000000001, 'NaN', 'NaN', '-Infinity', false,
   '0044-03-15 BC', 'infinity', '-infinity', '00:00', '-1 mons', '[]', '[{"nested": "str"}]', '', 'x', NULL, '::1'`,
  `3, NULL, NULL, 9223372036854775807, 99999999999999.99, 123456789012345678901234567890, 1e300, 3.4e38, NULL,
   '9999-12-31', '2000-02-29 12:00:00', '1970-01-01 00:00:00+00', NULL, NULL, '{"n": 1.5e3}', NULL, NULL, NULL, NULL, NULL`,
  `4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
];
// int[], text[], bytea for each row.
const PG_ARRAYS = [
  `'{1,NULL,3}', '{"a b",NULL,"c\\"d","x\\\\y",""}', '\\x00ff10'`,
  `'{}', '{{a,b},{c,d}}', ''`,
  `'{-1}', '{"{braces}"}', '\\x'`,
  'NULL, NULL, NULL',
];
const PG_COLS = 'id, i2, i4, big, n, nn, f8, f4, b, d, ts, tz, tm, iv, j, js::jsonb, t, vc, u, ip';

t.test('PostgreSQL: every common type goes through NDJSON into a table of the same types unchanged', async (t) => {
  if (pgDown) return t.skip(pgDown);
  await q(`DROP TABLE IF EXISTS bxdb_e2e_types, bxdb_e2e_types_copy; CREATE TABLE bxdb_e2e_types (${PG_TYPES}, arr int[], tarr text[], by bytea);
    CREATE TABLE bxdb_e2e_types_copy (${PG_TYPES}, arr jsonb, tarr jsonb, by text)`);
  await q(`INSERT INTO bxdb_e2e_types VALUES ${PG_ROWS.map((r, i) => `(${r}, ${PG_ARRAYS[i]})`).join(', ')}`);
  const r = await sh('bx-extract --table bxdb_e2e_types | bx-load --table bxdb_e2e_types_copy', {
    env: { ...env, TZ: 'Asia/Tokyo' },
  });
  t.equal(r.code, 0, r.stderr);
  await sameRows(
    t,
    'bxdb_e2e_types',
    'bxdb_e2e_types_copy',
    `${PG_COLS}, to_jsonb(arr), to_jsonb(tarr), replace(encode(by, 'base64'), E'\\n', '')`,
    `${PG_COLS}, arr, tarr, by`,
  );
  t.equal((await q('SELECT count(*)::int AS n FROM bxdb_e2e_types_copy'))[0].n, 4);
});

t.test('PostgreSQL: values are written exactly, whatever the TZ of bx-extract', async (t) => {
  if (pgDown) return t.skip(pgDown);
  const r = await sh(
    `bx-extract --query "SELECT 9007199254740993::int8 AS big, 9007199254740991::int8 AS safe, 10.50::numeric(10,2) AS money, 0.1234567890123456789 AS long, '2026-11-23'::date AS d, '2026-11-23 00:30:00.123456'::timestamp AS ts, '2026-11-23 00:30:00.5+09'::timestamptz AS tz, 'null'::jsonb AS jnull, NULL::jsonb AS sqlnull, 'NaN'::float8 AS nan, '\\\\x48690a'::bytea AS by, ARRAY[1.5, NULL]::numeric[] AS arr"`,
    { env: { ...env, TZ: 'Asia/Tokyo' } },
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(
    r.stdout,
    '{"big":"9007199254740993","safe":9007199254740991,"money":10.5,"long":"0.1234567890123456789","d":"2026-11-23","ts":"2026-11-23T00:30:00.123456","tz":"2026-11-22T15:30:00.500000+00:00","jnull":null,"sqlnull":null,"nan":"NaN","by":"SGkK","arr":[1.5,null]}\n',
  );
});

t.test('PostgreSQL: a bad query, a duplicate column, a missing privilege, a server that is down', async (t) => {
  if (pgDown) return t.skip(pgDown);
  let r = await sh(`bx-extract --query "SELECT oid, nosuch FROM pg_class"`, { env });
  t.equal(r.code, 65);
  t.match(
    r.stderr,
    new RegExp(
      `^bx-extract: ${esc(PGWHERE)}: the query: column "nosuch" does not exist \\(at line 1, column 13 of the query, near "nosuch FROM pg_class"\\)$`,
      'm',
    ),
  );
  t.equal(r.stdout, '');
  r = await sh(`bx-extract --query "SELECT 1 AS a, 2 AS b, 3 AS a"`, { env });
  t.equal(r.code, 64);
  t.match(r.stderr, /column name "a" \(columns 1 and 3\) more than once/);
  await q(
    `DROP TABLE IF EXISTS bxdb_e2e_secret; CREATE TABLE bxdb_e2e_secret (x int); DROP ROLE IF EXISTS bxdb_e2e_noperm; CREATE ROLE bxdb_e2e_noperm LOGIN PASSWORD 'np-pw-7'`,
  );
  r = await sh(`bx-extract --table bxdb_e2e_secret`, {
    // A password too: the embedded server asks for one (trust auth ignores it).
    env: { DATABASE_URL: url.replace(/\/\/[^@/]*@/, '//bxdb_e2e_noperm:np-pw-7@') },
  });
  t.equal(r.code, 77, r.stderr);
  t.match(r.stderr, /permission denied for table bxdb_e2e_secret/);
  r = await sh(`bx-extract --db postgres://postgres:hunter2pw@127.0.0.1:1/test --table x`, { env });
  t.equal(r.code, 69);
  t.match(r.stderr, /127\.0\.0\.1:1\/test: connection refused/);
  t.match(r.stderr, /warning: a password on the command line/);
  t.notMatch(r.stderr, /hunter2pw/);
});

t.test('PostgreSQL: | head stops the extract at once and cleanly', async (t) => {
  if (pgDown) return t.skip(pgDown);
  await q(
    `DROP TABLE IF EXISTS bxdb_e2e_many; CREATE TABLE bxdb_e2e_many AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 300000) g`,
  );
  const r = await sh('bx-extract --table bxdb_e2e_many | head -n 3', { env });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.split('\n').length, 4);
  t.notMatch(r.stderr, /Error|at .*\.js/);
  // No backend stays behind in COPY.
  await new Promise((res) => setTimeout(res, 300));
  t.same(
    await q(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY (%bxdb_e2e_many%' AND pid <> pg_backend_pid()`),
    [],
  );
});

const seal = { ...env, BX_SEAL: '1' };
const incPipe = (extra = '') =>
  `bx-extract --table bxdb_e2e_inc --incremental updated_at --key id --from-state "$DATABASE_URL" ${extra}| tee "$OUT" | bx-load --table bxdb_e2e_inc_copy --mode upsert --key id`;
const idsOf = (text: string) =>
  ndjson(text)
    .filter((r) => !('@bx' in r))
    .map((r) => r.id as number)
    .sort((a, b) => a - b);
const stateOf = async (key: string) =>
  (await q(`SELECT position, records::int FROM public.bx_state WHERE key LIKE '%#${key}@%'`))[0];

t.test(
  'PostgreSQL incremental: ties on the watermark, inserts and updates, a failed load that leaves the watermark',
  async (t) => {
    if (pgDown) return t.skip(pgDown);
    const dir = tmp(t);
    const OUT = join(dir, 'out.ndjson');
    await q(`DROP TABLE IF EXISTS bxdb_e2e_inc, bxdb_e2e_inc_copy;
    CREATE TABLE bxdb_e2e_inc (id int PRIMARY KEY, v text, updated_at timestamptz);
    CREATE TABLE bxdb_e2e_inc_copy (id int PRIMARY KEY, v text CHECK (v <> 'bad'), updated_at timestamptz);
    DO $$ BEGIN IF to_regclass('public.bx_state') IS NOT NULL THEN DELETE FROM public.bx_state WHERE key LIKE '%#bxdb\\_e2e\\_inc@%'; END IF; END $$;
    INSERT INTO bxdb_e2e_inc SELECT g, 'v' || g, '2026-11-23 10:00:00+00' FROM generate_series(1, 5) g;
    INSERT INTO bxdb_e2e_inc VALUES (6, 'no time yet', NULL)`);
    let r = await sh(incPipe(), { env: { ...seal, OUT } });
    t.equal(r.code, 0, r.stderr);
    t.same(idsOf(readFile(OUT)), [1, 2, 3, 4, 5], 'first run: every row with a value; the NULL one waits');
    let st = await stateOf('bxdb_e2e_inc');
    t.same(st.position, { value: '2026-11-23 10:00:00+00', key: ['5'] });
    t.equal(st.records, 5);

    // New rows that tie with the watermark (ids above and a late low one), one update, one untouched.
    await q(`INSERT INTO bxdb_e2e_inc VALUES (7, 'tie', '2026-11-23 10:00:00+00'), (8, 'later', '2026-11-23 11:00:00+00');
    UPDATE bxdb_e2e_inc SET v = 'changed', updated_at = '2026-11-23 10:30:00+00' WHERE id = 2`);
    r = await sh(incPipe(), { env: { ...seal, OUT } });
    t.equal(r.code, 0, r.stderr);
    t.same(idsOf(readFile(OUT)), [2, 7, 8], 'second run: exactly the new and the updated rows');
    // The row whose column is NULL is never read by an incremental run (documented).
    await sameRows(
      t,
      '(SELECT * FROM bxdb_e2e_inc WHERE updated_at IS NOT NULL) s',
      'bxdb_e2e_inc_copy',
      'id, v, updated_at',
    );
    st = await stateOf('bxdb_e2e_inc');
    t.same(st.position, { value: '2026-11-23 11:00:00+00', key: ['8'] });

    r = await sh(incPipe(), { env: { ...seal, OUT } });
    t.equal(r.code, 0, r.stderr);
    t.same(idsOf(readFile(OUT)), [], 'nothing new: nothing read');
    t.same((await stateOf('bxdb_e2e_inc')).position, { value: '2026-11-23 11:00:00+00', key: ['8'] });

    // A load that fails (a CHECK in the target) commits neither rows nor the watermark.
    await q(
      `INSERT INTO bxdb_e2e_inc VALUES (9, 'fine', '2026-11-23 12:00:00+00'), (10, 'bad', '2026-11-23 12:00:00+00')`,
    );
    r = await sh(incPipe(), { env: { ...seal, OUT } });
    t.equal(r.code, 65, 'the load fails on the constraint');
    t.same(
      (await stateOf('bxdb_e2e_inc')).position,
      { value: '2026-11-23 11:00:00+00', key: ['8'] },
      'the watermark stayed',
    );
    t.equal((await q('SELECT count(*)::int AS n FROM bxdb_e2e_inc_copy WHERE id >= 9'))[0].n, 0);
    // Fixed at the source without touching updated_at: the re-run reads 9 and 10 again, once each.
    await q(`UPDATE bxdb_e2e_inc SET v = 'good' WHERE id = 10`);
    r = await sh(incPipe(), { env: { ...seal, OUT } });
    t.equal(r.code, 0, r.stderr);
    t.same(idsOf(readFile(OUT)), [9, 10]);
    t.same(await q('SELECT id, v FROM bxdb_e2e_inc_copy WHERE id >= 9 ORDER BY id'), [
      { id: 9, v: 'fine' },
      { id: 10, v: 'good' },
    ]);
    t.equal((await stateOf('bxdb_e2e_inc')).records, 2);
  },
);

t.test(
  'PostgreSQL incremental: a load killed with SIGKILL leaves the watermark; the re-run loads each row once',
  async (t) => {
    if (pgDown) return t.skip(pgDown);
    await q(`DROP TABLE IF EXISTS bxdb_e2e_kill, bxdb_e2e_kill_copy;
    CREATE TABLE bxdb_e2e_kill (id int PRIMARY KEY, pad text, updated_at timestamptz);
    CREATE TABLE bxdb_e2e_kill_copy (id int PRIMARY KEY, pad text, updated_at timestamptz);
    DO $$ BEGIN IF to_regclass('public.bx_state') IS NOT NULL THEN DELETE FROM public.bx_state WHERE key LIKE '%#bxdb\\_e2e\\_kill@%'; END IF; END $$;
    INSERT INTO bxdb_e2e_kill SELECT g, repeat('p', 100), '2026-11-23 00:00:00+00'::timestamptz + g * interval '1 ms' FROM generate_series(1, 300000) g`);
    const pipe = `bx-extract --table bxdb_e2e_kill --incremental updated_at --key id --from-state "$DATABASE_URL" | bx-load --table bxdb_e2e_kill_copy --mode upsert --key id`;
    // Kill bx-load (the pipeline's last process: $!) once its COPY is running: its transaction never commits.
    const child = spawn('bash', ['-c', `unset NODE_OPTIONS; ${pipe} & echo $!; wait`], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...seal },
    });
    const pid = await new Promise<number>((res) =>
      child.stdout.once('data', (d: Buffer) => res(Number(String(d).trim()))),
    );
    const ended = new Promise((res) => child.on('close', res));
    let copying = false;
    for (let i = 0; i < 400 && !copying; i++) {
      await new Promise((res) => setTimeout(res, 25));
      copying =
        (
          await q(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = 'bx-load' AND query LIKE 'COPY%' AND state = 'active'`,
          )
        ).length > 0;
    }
    t.ok(copying, 'bx-load was in its COPY');
    process.kill(pid, 'SIGKILL');
    await ended;
    t.equal(
      (await q('SELECT count(*)::int AS n FROM bxdb_e2e_kill_copy'))[0].n,
      0,
      'nothing of the killed load is visible',
    );
    t.equal(await stateOf('bxdb_e2e_kill'), undefined, 'no watermark was stored');
    const again = await sh(pipe, { env: seal });
    t.equal(again.code, 0, again.stderr);
    t.equal((await q('SELECT count(*)::int AS n FROM bxdb_e2e_kill_copy'))[0].n, 300000);
    t.equal((await stateOf('bxdb_e2e_kill')).records, 300000);
    await sameRows(t, 'bxdb_e2e_kill', 'bxdb_e2e_kill_copy', 'id, pad, updated_at');
  },
);

const readFile = (p: string) => execFileSync('cat', [p], { encoding: 'utf8' });

// ---- MariaDB ---------------------------------------------------------------------------------

const M_TYPES = `id bigint PRIMARY KEY, big bigint, ubig bigint unsigned, n decimal(38,10), flag tinyint(1), i int, f double, d date, dt datetime(6),
  ts timestamp(6) NULL, tm time(6), y year, e enum('red','green'), s varchar(50), tx text, bl blob, vb varbinary(8), j json`;
const M_ROWS = `(1, 9007199254740993, 18446744073709551615, 12345678901234567890.1234567890, 1, -2147483648, 0.1, '2026-11-23', '2026-11-23 00:30:00.123456',
    '2026-11-23 00:30:00.500000', '23:59:59.999999', 2026, 'green', 'tab\\there', 'new\\nline "q" \\\\ é 🎉', x'00ff10', x'01', '{"a": [1, 2.5], "s": "x\\\\ny"}'),
  (2, -9223372036854775808, 0, -0.0000000001, 0, 0, -1.5e300, '1000-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01.000000', '-838:59:59', 1901, 'red', '', '', x'', x'', '[]'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;
// The same rows as PostgreSQL types, binary as base64 text: the independent reference.
const M_PG_TYPES = `id int8, big int8, ubig numeric(20), n numeric(38,10), flag int2, i int4, f float8, d date, dt timestamp, ts timestamptz, tm text, y int4, e text, s text, tx text, bl text, vb text, j jsonb`;
const M_PG_ROWS = `(1, 9007199254740993, 18446744073709551615, 12345678901234567890.1234567890, 1, -2147483648, 0.1, '2026-11-23', '2026-11-23 00:30:00.123456',
    '2026-11-23 00:30:00.5+00', '23:59:59.999999', 2026, 'green', E'tab\\there', E'new\\nline "q" \\\\ é 🎉', 'AP8Q', 'AQ==', '{"a": [1, 2.5], "s": "x\\ny"}'),
  (2, -9223372036854775808, 0, -0.0000000001, 0, 0, -1.5e300, '1000-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01+00', '-838:59:59.000000', 1901, 'red', '', '', '', '', '[]'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

t.test('MariaDB: every common type goes through NDJSON into PostgreSQL exactly', async (t) => {
  if (myDown) return t.skip(myDown);
  if (pgDown) return t.skip(pgDown);
  my(
    `DROP TABLE IF EXISTS bxdb_e2e_mtypes; CREATE TABLE bxdb_e2e_mtypes (${M_TYPES}) DEFAULT CHARSET utf8mb4; INSERT INTO bxdb_e2e_mtypes VALUES ${M_ROWS}`,
  );
  await q(
    `DROP TABLE IF EXISTS bxdb_e2e_mref, bxdb_e2e_mcopy; CREATE TABLE bxdb_e2e_mref (${M_PG_TYPES}); CREATE TABLE bxdb_e2e_mcopy (${M_PG_TYPES}); INSERT INTO bxdb_e2e_mref VALUES ${M_PG_ROWS}`,
  );
  const r = await sh(`bx-extract --db ${MY} --table bxdb_e2e_mtypes | bx-load --table bxdb_e2e_mcopy`, {
    env: { ...env, TZ: 'America/New_York' },
  });
  t.equal(r.code, 0, r.stderr);
  await sameRows(t, 'bxdb_e2e_mref', 'bxdb_e2e_mcopy', '*');
  t.equal((await q('SELECT count(*)::int AS n FROM bxdb_e2e_mcopy'))[0].n, 3);
  const one = await sh(
    `bx-extract --db ${MY} --query "SELECT big, ubig, n, flag, d, dt, ts, bl, j FROM bxdb_e2e_mtypes WHERE id = 1"`,
    { env: { TZ: 'Asia/Tokyo' } },
  );
  t.equal(
    one.stdout,
    '{"big":"9007199254740993","ubig":"18446744073709551615","n":"12345678901234567890.1234567890","flag":1,"d":"2026-11-23","dt":"2026-11-23T00:30:00.123456","ts":"2026-11-23T00:30:00.500000+00:00","bl":"AP8Q","j":{"a":[1,2.5],"s":"x\\ny"}}\n',
    one.stderr,
  );
});

t.test('MariaDB: zero dates are refused with the column and row, or read as null', async (t) => {
  if (myDown) return t.skip(myDown);
  my(
    `DROP TABLE IF EXISTS bxdb_e2e_mtypes; SET SESSION sql_mode = ''; CREATE TABLE bxdb_e2e_mtypes (id int, d date, dt datetime); INSERT INTO bxdb_e2e_mtypes VALUES (1, '2026-01-01', '2026-01-01 10:00:00'), (2, '0000-00-00', '2026-01-01 10:00:00'), (3, '2026-01-01', '0000-00-00 00:00:00')`,
  );
  let r = await sh(`bx-extract --db ${MY} --query "SELECT * FROM bxdb_e2e_mtypes ORDER BY id"`);
  t.equal(r.code, 65);
  t.match(r.stderr, /^bx-extract: query:2: field "d": zero date "0000-00-00" is not a date; give --zero-dates null/m);
  r = await sh(`bx-extract --db ${MY} --query "SELECT * FROM bxdb_e2e_mtypes ORDER BY id" --zero-dates null`);
  t.equal(r.code, 0, r.stderr);
  t.same(ndjson(r.stdout), [
    { id: 1, d: '2026-01-01', dt: '2026-01-01T10:00:00.000000' },
    { id: 2, d: null, dt: '2026-01-01T10:00:00.000000' },
    { id: 3, d: '2026-01-01', dt: null },
  ]);
});

t.test(
  'MariaDB: bad query 65, privilege 77, down 69, passwords never shown, ~/.my.cnf and MYSQL_PWD read',
  async (t) => {
    if (myDown) return t.skip(myDown);
    let r = await sh(`bx-extract --db ${MY} --query "SELECT nosuch FROM bxdb_e2e_nope"`);
    t.equal(r.code, 65);
    t.match(
      r.stderr,
      new RegExp(
        `root@127\\.0\\.0\\.1:3306\\/${esc(MYDB)}: the query: Table '${esc(MYDB)}\\.bxdb_e2e_nope' doesn't exist`,
      ),
    );
    r = await sh(`bx-extract --db ${MY} --query "SELECT 1 +"`);
    t.equal(r.code, 65);
    t.match(r.stderr, /SQL syntax.* at the end of the query$/m);
    my(
      `DROP USER IF EXISTS 'bxdb_e2e_np'@'%'; CREATE USER 'bxdb_e2e_np'@'%' IDENTIFIED BY 'np-secret-9'; GRANT USAGE ON *.* TO 'bxdb_e2e_np'@'%'; CREATE TABLE IF NOT EXISTS bxdb_e2e_mtypes (id int)`,
    );
    r = await sh(
      `bx-extract --db mysql://bxdb_e2e_np@127.0.0.1:3306/ --query "SELECT * FROM ${MYDB}.bxdb_e2e_mtypes"`,
      {
        env: { MYSQL_PWD: 'np-secret-9' },
      },
    );
    t.equal(r.code, 77, r.stderr);
    t.match(r.stderr, /SELECT command denied to user 'bxdb_e2e_np'/);
    r = await sh(`bx-extract --db mysql://bxdb_e2e_np@127.0.0.1:3306/ --query "SELECT 1"`, {
      env: { MYSQL_PWD: 'wrong-secret-1' },
    });
    t.equal(r.code, 78, 'a wrong MYSQL_PWD is used, and refused');
    t.notMatch(r.stderr, /wrong-secret-1/);
    const home = tmp(t);
    writeFileSync(
      join(home, '.my.cnf'),
      '[mysql]\nuser=nobody\n[client]\nuser = bxdb_e2e_np\npassword = "np-secret-9"\n',
      { mode: 0o600 },
    );
    r = await sh(`bx-extract --db mysql://127.0.0.1:3306/ --query "SELECT CURRENT_USER() AS u"`, {
      env: { HOME: home },
    });
    t.equal(r.code, 0, r.stderr);
    t.same(ndjson(r.stdout), [{ u: 'bxdb_e2e_np@%' }]);
    r = await sh(`bx-extract --db mysql://root:my-secret-7@127.0.0.1:1/test --table x`);
    t.equal(r.code, 69);
    t.match(r.stderr, /root@127\.0\.0\.1:1\/test: connection refused/);
    t.match(r.stderr, /warning: a password on the command line/);
    t.notMatch(r.stderr, /my-secret-7/);
  },
);

t.test('MariaDB: | head ends at once; an incremental run without --key takes exactly the new rows', async (t) => {
  if (myDown) return t.skip(myDown);
  if (pgDown) return t.skip(pgDown);
  my(
    `DROP TABLE IF EXISTS bxdb_e2e_mbig; CREATE TABLE bxdb_e2e_mbig (id bigint primary key, pad varchar(100)); INSERT INTO bxdb_e2e_mbig SELECT seq, REPEAT('x', 100) FROM seq_1_to_200000`,
  );
  let r = await sh(`bx-extract --db ${MY} --table bxdb_e2e_mbig | head -n 2`);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.split('\n').length, 3);
  const dir = tmp(t);
  const OUT = join(dir, 'out.ndjson');
  my(
    `DROP TABLE IF EXISTS bxdb_e2e_minc; CREATE TABLE bxdb_e2e_minc (id bigint primary key, v varchar(10), seq bigint); INSERT INTO bxdb_e2e_minc VALUES (1, 'a', 9007199254740993), (2, 'b', 9007199254740994)`,
  );
  await q(
    `DROP TABLE IF EXISTS bxdb_e2e_minc_copy; CREATE TABLE bxdb_e2e_minc_copy (id int8 PRIMARY KEY, v text, seq int8); DO $$ BEGIN IF to_regclass('public.bx_state') IS NOT NULL THEN DELETE FROM public.bx_state WHERE key LIKE 'mysql://%#bxdb\\_e2e\\_minc@%'; END IF; END $$`,
  );
  const pipe = `bx-extract --db ${MY} --table bxdb_e2e_minc --incremental seq --from-state "$DATABASE_URL" | tee "$OUT" | bx-load --table bxdb_e2e_minc_copy --mode upsert --key id`;
  r = await sh(pipe, { env: { ...seal, OUT } });
  t.equal(r.code, 0, r.stderr);
  t.same(idsOf(readFile(OUT)), [1, 2]);
  // 9007199254740995 differs from 9007199254740994 only past a double's precision.
  my(`INSERT INTO bxdb_e2e_minc VALUES (3, 'c', 9007199254740995)`);
  r = await sh(pipe, { env: { ...seal, OUT } });
  t.equal(r.code, 0, r.stderr);
  t.same(idsOf(readFile(OUT)), [3]);
  t.same(
    (await q(`SELECT position FROM public.bx_state WHERE key LIKE 'mysql://%#bxdb\\_e2e\\_minc@seq'`))[0].position,
    { value: '9007199254740995' },
  );
  t.same(await q('SELECT id::int, v, seq::text FROM bxdb_e2e_minc_copy ORDER BY id'), [
    { id: 1, v: 'a', seq: '9007199254740993' },
    { id: 2, v: 'b', seq: '9007199254740994' },
    { id: 3, v: 'c', seq: '9007199254740995' },
  ]);
});
