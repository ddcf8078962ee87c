// bx-agg in real pipes: exact totals on the Superstore data, PostgreSQL's top 5, the split /
// partial / merge law by hand and through GNU parallel, the shuffle model, spilling, errors.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { databaseUrl, fx, ndjson, root, sh, shared, tmp } from '../helpers.js';

const csv = shared('superstore.csv');
const TOTALS = { Furniture: '754747.7613', 'Office Supplies': '731893.314', Technology: '839893.279' };

t.test('sum of Sales by Category is exact, on raw strings and on typed decimals', async (t) => {
  const raw = await sh(`bx-extract ${csv} | bx-agg -q --by Category --agg total=sum:Sales`);
  t.equal(raw.code, 0, raw.stderr);
  t.same(
    ndjson(raw.stdout),
    Object.entries(TOTALS).map(([Category, s]) => ({ Category, total: Number(s) })),
  );

  const typed = await sh(
    `bx-extract ${csv} | bx-clean -q --type Sales:decimal | bx-agg -q --by Category --agg total=sum:Sales`,
  );
  if (typed.code !== 0 && /Unknown argument|placeholder/.test(typed.stderr)) t.skip('bx-clean --type is not there yet');
  else t.equal(typed.stdout, raw.stdout, 'bx-clean --type Sales:decimal gives the same totals');

  const sealed = await sh(`bx-extract ${csv} | bx-agg -q --by Category --agg total=sum:Sales`, {
    env: { BX_SEAL: '1' },
  });
  t.equal(sealed.code, 0, sealed.stderr);
  t.equal(sealed.stdout, raw.stdout + '{"@bx":"end","records":3}\n');
});

t.test('top 5 products by summed Sales match PostgreSQL', async (t) => {
  const url = databaseUrl();
  if (!url) return t.skip('no DATABASE_URL');
  const header = readFileSync(csv, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)[0]
    .split(',');
  const cols = header.map((c) => `"${c}" ${c === 'Sales' ? 'numeric' : 'text'}`).join(', ');
  const table = 'agg_e2e_superstore';
  const setup = await sh(
    `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -c 'drop table if exists ${table}' -c 'create table ${table} (${cols})' -c "\\copy ${table} from '${csv}' csv header"`,
    { env: { DATABASE_URL: url, PGOPTIONS: '--client-min-messages=warning' } },
  );
  t.equal(setup.code, 0, setup.stderr);
  t.teardown(() => sh(`psql "$DATABASE_URL" -q -c 'drop table if exists ${table}'`, { env: { DATABASE_URL: url } }));
  // Ties: both sides order by name (code point order, collate "C") after the sum.
  const pg = await sh(
    `psql "$DATABASE_URL" -At -F '|' -c 'select "Product Name", sum("Sales") from ${table} group by 1 order by 2 desc, "Product Name" collate "C" limit 5'`,
    { env: { DATABASE_URL: url } },
  );
  t.equal(pg.code, 0, pg.stderr);
  const expected = pg.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
  t.equal(expected.length, 5);
  const ours = await sh(
    `bx-extract ${csv} | bx-agg -q --by 'Product Name' --agg revenue=sum:Sales --sort revenue:desc --top 5`,
  );
  t.equal(ours.code, 0, ours.stderr);
  t.same(
    ndjson(ours.stdout).map((r) => [r['Product Name'], String(r.revenue)]),
    expected,
  );
});

const AGG = `--by Region,Category --agg 'revenue=sum:Sales,n=count,avg:Sales,min:Profit,max:Profit,median:Sales,p90:Sales,stddev:Profit,count_distinct:Customer ID,first:Order ID,last:Order ID'`;

t.test('4 parts, --partial each, --merge in any order: byte-identical to one run', async (t) => {
  const dir = tmp(t);
  const recs = join(dir, 'recs.ndjson');
  t.equal((await sh(`bx-extract -q --lineage ${csv} > ${recs}`)).code, 0);
  const single = await sh(`bx-agg -q ${AGG} ${recs}`);
  t.equal(single.code, 0, single.stderr);
  t.equal(ndjson(single.stdout).length, 12);
  const split = await sh(
    `cd ${dir} && split -n l/4 recs.ndjson part. && for p in part.a?; do bx-agg -q --partial ${AGG} $p > $p.state || exit 1; done`,
  );
  t.equal(split.code, 0, split.stderr);
  const merged = await sh(
    `cat ${dir}/part.ac.state ${dir}/part.aa.state ${dir}/part.ad.state ${dir}/part.ab.state | bx-agg -q --merge ${AGG}`,
  );
  t.equal(merged.code, 0, merged.stderr);
  t.equal(merged.stdout, single.stdout);
  const combined = await sh(
    `cat ${dir}/part.aa.state ${dir}/part.ad.state | bx-agg -q --merge --partial ${AGG} | bx-agg -q --merge ${AGG} - ${dir}/part.ab.state ${dir}/part.ac.state`,
  );
  t.equal(combined.stdout, single.stdout, 'a combiner level in between changes nothing');

  const hadoop = await sh(
    `for p in ${dir}/part.a?; do bx-agg -q --partial --keyed ${AGG} $p; done | sort | bx-agg -q --merge --keyed --sorted ${AGG}`,
  );
  t.equal(hadoop.code, 0, hadoop.stderr);
  t.same(hadoop.stdout.split('\n').sort(), single.stdout.split('\n').sort(), 'map | sort | reduce: same records');

  if ((await sh('command -v parallel')).code !== 0) {
    t.comment('GNU parallel is not installed: skipping the parallel --pipe run (CI installs it)');
    return;
  }
  const par = await sh(
    `parallel --will-cite --pipe -N 1500 "bx-agg -q --partial ${AGG}" < ${recs} | bx-agg -q --merge ${AGG}`,
  );
  t.equal(par.code, 0, par.stderr);
  t.equal(par.stdout, single.stdout, 'GNU parallel --pipe across cores: byte-identical');
});

t.test('more groups than --memory allows: spills and still gives the same answer', async (t) => {
  const dir = tmp(t);
  const f = join(dir, 'sales.ndjson');
  t.equal((await sh(`node ${join(root, 'bench', 'gen-sales.mjs')} 60000 ndjson > ${f}`)).code, 0);
  const A = '--by sale_id --agg sum:unit_price,avg:quantity,max:sold_at,count_distinct:payment';
  const inMemory = await sh(`bx-agg -q ${A} ${f} | md5sum`);
  const spilled = await sh(`bx-agg ${A} --memory 1MB --temp-dir ${dir} ${f} | md5sum`);
  t.equal(spilled.code, 0, spilled.stderr);
  t.match(spilled.stderr, /spilled \d+ group states to disk/);
  t.equal(spilled.stdout, inMemory.stdout);
  t.same((await sh(`ls ${dir}`)).stdout.trim().split('\n'), ['sales.ndjson'], 'spilled runs are removed');
  const top = await sh(
    `bx-agg -q --by product_id --agg revenue=sum:unit_price --sort revenue:desc --top 3 --memory 64k ${f}`,
  );
  t.equal(
    top.stdout,
    (await sh(`bx-agg -q --by product_id --agg revenue=sum:unit_price --sort revenue:desc --top 3 ${f}`)).stdout,
  );
});

t.test('a non-numeric Sales names file, line and field; --rejects keeps going', async (t) => {
  const bad = await sh(`bx-extract --lineage test/fixtures/agg/bad-sales.csv | bx-agg --by Category --agg sum:Sales`);
  t.equal(bad.code, 65);
  t.equal(bad.stdout, '');
  t.match(bad.stderr, /^bx-agg: test\/fixtures\/agg\/bad-sales\.csv:3: field "Sales": expected a number, got "n\/a"$/m);
  t.notMatch(bad.stderr, /\n\s+at /);
  const dir = tmp(t);
  const ok = await sh(
    `bx-extract test/fixtures/agg/bad-sales.csv | bx-agg -q --by Category --agg sum:Sales --rejects ${dir}/rej.ndjson`,
  );
  t.equal(ok.code, 0, ok.stderr);
  t.same(ndjson(ok.stdout), [
    { Category: 'Furniture', sum_Sales: 10.5 },
    { Category: 'Technology', sum_Sales: 2 },
  ]);
  t.match(
    readFileSync(`${dir}/rej.ndjson`, 'utf8'),
    /"source":"stdin:2"/,
    'without lineage: the line of the NDJSON stream',
  );
  const missing = await sh('bx-agg no-such-file.ndjson');
  t.equal(missing.code, 66);
  const usage = await sh(`bx-agg --agg 'median'`);
  t.equal(usage.code, 64);
  t.match(usage.stderr, /^bx-agg: --agg: median needs a field/);
});

t.test('| head: bx-agg stops quietly with 0', async (t) => {
  const dir = tmp(t);
  const f = join(dir, 'many.ndjson');
  writeFileSync(f, Array.from({ length: 20000 }, (_, i) => `{"k":${i}}\n`).join(''));
  const r = await sh(`bx-agg -q --by k ${f} | head -n 2`);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '{"k":0,"count":1}\n{"k":1,"count":1}\n');
});
