// bx-schema in real pipes: inference on the superstore file, --sample, --copy-compatible, the
// DDL a schema implies (checked against a real PostgreSQL), and one-line errors.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { databaseUrl, fx, sh, shared, tmp } from '../helpers.js';

t.test('superstore: types, formats, nullability, primary key; then the DDL', async (t) => {
  const r = await sh(`bx-extract ${shared('superstore.csv')} | bx-schema`);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const byName = Object.fromEntries(s.fields.map((f: { name: string }) => [f.name, f]));
  t.match(byName['Row ID'], { type: 'integer', constraints: { required: true } });
  t.match(byName.Quantity, { type: 'integer' });
  t.match(byName.Sales, { type: 'number', 'bx:scale': 4 });
  t.match(byName.Discount, { type: 'number', 'bx:scale': 2 });
  t.match(byName.Profit, { type: 'number', 'bx:scale': 4 });
  t.match(byName['Order Date'], { type: 'date', format: '%d/%m/%y' });
  t.match(byName['Ship Date'], { type: 'date', format: '%d/%m/%y' });
  t.match(byName['Postal Code'], { type: 'string' });
  t.same(s.primaryKey, ['Row ID']);
  t.equal(s.fields.length, 21);
  t.match(r.stderr, /bx-schema: done: 10194 rows in/);

  const sql = await sh(
    `bx-extract ${shared('superstore.csv')} | bx-schema | bx-schema --sql --table 'bx_schema_test."Super Store"'`,
  );
  t.equal(sql.code, 0, sql.stderr);
  t.match(
    sql.stdout,
    /^CREATE TABLE "bx_schema_test"\."Super Store" \(\n  "Row ID" integer NOT NULL,\n  "Order ID" text NOT NULL,\n  "Order Date" date NOT NULL,/,
  );
  t.match(sql.stdout, /  "Sales" numeric NOT NULL,\n/);
  t.match(sql.stdout, /  PRIMARY KEY \("Row ID"\)\n\);\n$/);
  const direct = await sh(
    `bx-extract ${shared('superstore.csv')} | bx-schema --sql --table 'bx_schema_test."Super Store"'`,
  );
  t.equal(direct.stdout, sql.stdout, 'records straight into --sql: inferred first');
});

t.test(
  'the DDL runs on PostgreSQL and the cleaned file loads into it',
  { skip: !databaseUrl() && 'no DATABASE_URL' },
  async (t) => {
    const d = tmp(t);
    const schema = join(d, 's.json');
    const url = databaseUrl()!;
    const psql = (sql: string) => sh(`psql "${url}" -v ON_ERROR_STOP=1 -qAt -c '${sql.replace(/'/g, "'\\''")}'`);
    const hasPsql = (await sh('command -v psql')).code === 0;
    if (!hasPsql) return t.skip('no psql on PATH');
    await sh(`bx-extract ${shared('superstore.csv')} | bx-schema > ${schema}`);
    const ddl = await sh(`bx-schema --sql --table 'bx_schema_e2e."Super Store"' ${schema}`);
    t.equal(ddl.code, 0);
    t.equal(
      (await psql(`DROP SCHEMA IF EXISTS bx_schema_e2e CASCADE; CREATE SCHEMA bx_schema_e2e; ${ddl.stdout}`)).code,
      0,
      'CREATE TABLE accepted',
    );
    t.teardown(() => psql('DROP SCHEMA IF EXISTS bx_schema_e2e CASCADE').then(() => undefined));
    const load = await sh(
      `bx-extract ${shared('superstore.csv')} | bx-clean --schema ${schema} | bx-load --table 'bx_schema_e2e."Super Store"'`,
    );
    t.equal(load.code, 0, load.stderr);
    const q = await psql(`SELECT count(*), min("Order Date"), sum("Sales") FROM bx_schema_e2e."Super Store"`);
    t.match(q.stdout.trim(), /^10194\|2019-01-03\|/);
  },
);

t.test('--sample, --copy-compatible, --no-primary-key, ambiguity warnings', async (t) => {
  const input =
    [
      '{"id":"1","d":"03/01/19","iso":"2019-01-03","e":""}',
      '{"id":"2","d":"04/01/19","iso":"2019-01-04","e":"x"}',
      '{"id":"x","d":"13/01/19","iso":"2019-01-05","e":"y"}',
    ].join('\n') + '\n';
  const all = JSON.parse((await sh('bx-schema', { input })).stdout);
  t.same(
    all.fields.map((f: { type: string }) => f.type),
    ['string', 'date', 'date', 'string'],
  );
  const sample = await sh('bx-schema --sample 2', { input });
  const ss = JSON.parse(sample.stdout);
  t.same(
    ss.fields.map((f: { type: string }) => f.type),
    ['integer', 'date', 'date', 'string'],
  );
  t.same(ss.primaryKey, ['id']);
  t.match(
    sample.stderr,
    /field "d": day\/month order is ambiguous \(no day above 12 seen\); chose "%d\/%m\/%y" over "%m\/%d\/%y"/,
  );
  t.match(sample.stderr, /inferred from the first 2 records/);
  const copy = JSON.parse((await sh('bx-schema --copy-compatible --sample 2', { input })).stdout);
  t.same(
    copy.fields.map((f: { type: string }) => f.type),
    ['integer', 'string', 'date', 'string'],
    'COPY reads only ISO dates',
  );
  t.equal(copy.missingValues, undefined);
  const nopk = JSON.parse((await sh('bx-schema --no-primary-key --sample 2', { input })).stdout);
  t.equal(nopk.primaryKey, undefined);
  const sealed = await sh('bx-schema', { input, env: { BX_SEAL: '1' } });
  t.equal(sealed.code, 65, 'a sealed pipeline wants the end mark');
  const sealedSample = await sh('bx-schema --sample 1', { input, env: { BX_SEAL: '1' } });
  t.equal(sealedSample.code, 0, 'a sample stops reading before any end mark');
});

t.test('a bad schema is one line naming the file and the problem; usage errors are 64', async (t) => {
  const d = tmp(t);
  const cases: [string, string, number, RegExp][] = [
    [
      'bad.json',
      '{"fields":[{"name":"a","type":"decimal"}]}',
      78,
      /^bx-schema: .*bad\.json: fields\[0\] \("a"\): unknown type "decimal"; write "type": "number" with "bx:scale": N$/m,
    ],
    [
      'inj.json',
      '{"fields":[{"name":"a","bx:pgType":"text); DROP TABLE x; --"}]}',
      78,
      /inj\.json: fields\[0\] \("a"\): "bx:pgType" .* is not a plain PostgreSQL type name/,
    ],
    ['broken.json', '{\n  "fields": [\n', 78, /broken\.json: not valid JSON/],
  ];
  for (const [name, text, code, re] of cases) {
    writeFileSync(join(d, name), text);
    const r = await sh(`bx-schema --sql --table t ${join(d, name)}`);
    t.equal(r.code, code, name);
    t.match(r.stderr, re, name);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
    t.equal(r.stdout, '');
  }
  const broken = await sh('bx-schema', { input: '{"a":1}\n{"a":2,,}\n' });
  t.equal(broken.code, 65, 'a broken record is a data error');
  t.match(broken.stderr, /^bx-schema: stdin:2: not valid JSON/m);
  const brokenFirst = await sh('bx-schema', { input: '{"a":1,,}\n{"a":2}\n' });
  t.equal(brokenFirst.code, 65, 'also on the first line');
  t.equal((await sh('bx-schema --sql', { input: '{}' })).code, 64, '--sql needs --table');
  t.equal((await sh('bx-schema --table t', { input: '{}' })).code, 64);
  t.equal((await sh('bx-schema --sample 0', { input: '{}' })).code, 64);
  t.equal((await sh('bx-schema --sql --table a.b.c', { input: '{}' })).code, 64);
  const empty = await sh('bx-schema', { input: '' });
  t.equal(empty.code, 64);
  t.match(empty.stderr, /stdin: no input: expected NDJSON records or a Table Schema/);
  t.equal((await sh(`bx-schema ${join(d, 'none.ndjson')}`)).code, 66);
  const pretty = await sh(`bx-schema --sql --table 'x"y' ${fx('clean/orders.schema.json')}`);
  t.equal(pretty.code, 0);
  t.match(pretty.stdout, /^CREATE TABLE "x""y" \(\n  "order_id" integer NOT NULL,\n  "order_date" date NOT NULL,/);
  t.match(pretty.stdout, /"unit_price" numeric\(12,2\),/);
});
