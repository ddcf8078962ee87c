// Issue 22: a system schema (or an unqualified name that resolves to a system catalog) as the
// target table is refused with 64 before any SQL runs.
import t from 'tap';
import { ExitCode } from '../../src/lib/errors.js';
import { CATALOG_RELATIONS, parseTableName } from '../../src/lib/ident.js';
import { databaseUrl, sh } from '../helpers.js';

t.test('parseTableName refuses system schemas and catalog names, keeps the rest', async (t) => {
  for (const bad of [
    'pg_catalog.pg_class',
    'pg_catalog.anything',
    'information_schema.tables',
    'pg_toast.pg_toast_1259',
    'pg_toast_temp_3.x',
    '"pg_catalog"."x"',
    'pg_class',
    'pg_attribute',
    'pg_stat_activity',
    '"pg_namespace"',
  ]) {
    t.throws(
      () => parseTableName(bad),
      { exitCode: ExitCode.Usage, message: /^--table .*(system schema|system catalog)/ },
      bad,
    );
  }
  for (const ok of [
    'public.pg_class',
    'sales',
    'pg_sales',
    'pg_mytable',
    'PG_CATALOG.x',
    '"Pg_Catalog".x',
    'pg_temp.x',
    'information_schema_x.t',
    'my.pg_catalog',
  ]) {
    t.doesNotThrow(() => parseTableName(ok), ok);
  }
  t.same(parseTableName('public.pg_class'), { schema: 'public', name: 'pg_class' });
});

t.test('bx-load and bx-schema stop with 64 before connecting', async (t) => {
  // Nothing listens on port 1: had any SQL been tried, the exit would be 69.
  const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' };
  for (const table of ['pg_catalog.pg_class', 'information_schema.tables', 'pg_toast.x', 'pg_class']) {
    const r = await sh(`printf '{"a":1}\\n' | bx-load --table '${table}'`, { env });
    t.equal(r.code, 64, `bx-load --table ${table}: exit 64 (${r.stderr.trim()})`);
    t.match(r.stderr, /^bx-load: --table .*(system schema|system catalog)/m);
    const c = await sh(`printf '{"a":1}\\n' | bx-load --create --table '${table}'`, { env });
    t.equal(c.code, 64, `bx-load --create --table ${table}: exit 64`);
  }
  const s = await sh(`printf '{"a":1}\\n' | bx-schema --sql --table pg_catalog.evil`);
  t.equal(s.code, 64);
  t.match(s.stderr, /^bx-schema: --table "pg_catalog\.evil": pg_catalog is a system schema/m);
});

t.test(
  "every table and view of the server's pg_catalog is in the refused list",
  { skip: databaseUrl() ? false : 'no DATABASE_URL' },
  async (t) => {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: databaseUrl() });
    try {
      await client.connect();
    } catch (err) {
      t.skip(`PostgreSQL not reachable: ${(err as Error).message}`);
      return;
    }
    const r = await client.query(
      "SELECT relname FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1",
    );
    await client.end();
    t.ok(r.rows.length > 100, `${r.rows.length} catalog relations`);
    t.same(
      r.rows.map((x) => x.relname).filter((n) => !CATALOG_RELATIONS.has(n)),
      [],
      'none missing',
    );
  },
);

t.test('columnNameProblem: every over-long name at once, an empty name, too many fields', async (t) => {
  const { columnNameProblem } = await import('../../src/lib/ident.js');
  const at = (line: number) => ({ file: 'in', line });
  t.equal(
    columnNameProblem(
      new Map([
        ['a', at(1)],
        ['b', at(1)],
      ]),
    ),
    undefined,
  );
  const long = columnNameProblem(
    new Map([
      ['x'.repeat(70), at(1)],
      ['ok', at(1)],
      ['y'.repeat(64), at(2)],
      ['é'.repeat(32), at(3)],
    ]),
  );
  t.equal(long?.exitCode, ExitCode.DataErr);
  t.match(long?.message, /^in:1: 3 field names are longer than PostgreSQL's 63-byte limit/);
  t.match(
    long?.message,
    /"x{70}" \(70 bytes, cut to "x{63}"\), "y{64}" \(64 bytes, cut to "y{63}"\), "é{32}" \(64 bytes, cut to "é{31}"\)/,
  );
  t.match(
    columnNameProblem(
      new Map([
        ['a', at(1)],
        ['', at(4)],
      ]),
    )?.message,
    /^in:4: field "": an empty field name/,
  );
  const wide = new Map<string, ReturnType<typeof at>>();
  for (let i = 0; i < 10000; i++) wide.set(`c${i}`, at(1));
  t.match(
    columnNameProblem(wide)?.message,
    /^in:1: the records have 10000 fields; a PostgreSQL table has at most 1600 columns/,
  );
  const full = new Map([...wide].slice(0, 1600));
  full.set('_file', at(1));
  full.set('_line', at(1));
  t.equal(columnNameProblem(full), undefined, 'lineage fields get no column');
});
