// bx-join in real pipes: the lookup appended, composite keys, --missing, clashes, duplicate keys,
// the memory ceiling, and sealed streams end to end.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ndjson, sh, tmp } from '../helpers.js';

const CATALOGUE =
  [
    '{"sku":"A-1","name":"Kite","category":"Toys","reorder_level":5}',
    '{"sku":"B-2","name":"Rice","category":"Food","reorder_level":10}',
    '{"sku":"C-3","name":"Soap","category":"Home","reorder_level":2}',
  ].join('\n') + '\n';
const STOCK =
  [
    '{"sku":"A-1","store":1,"on_hand":3}',
    '{"sku":"B-2","store":1,"on_hand":30}',
    '{"sku":"Z-9","store":2,"on_hand":7}',
    '{"sku":"C-3","store":2,"on_hand":1}',
  ].join('\n') + '\n';

function files(t: Parameters<typeof tmp>[0]) {
  const dir = tmp(t);
  const cat = join(dir, 'catalogue.ndjson');
  const stock = join(dir, 'stock.ndjson');
  writeFileSync(cat, CATALOGUE);
  writeFileSync(stock, STOCK);
  return { dir, cat, stock };
}

t.test('appends all but the key; a key not in the lookup stops with 65 naming file:line and key', async (t) => {
  const { cat, stock } = files(t);
  const r = await sh(`cat ${stock} | bx-join -q --lookup ${cat} --on sku --missing keep`);
  t.equal(r.code, 0, r.stderr);
  t.equal(
    r.stdout.split('\n')[0],
    '{"sku":"A-1","store":1,"on_hand":3,"name":"Kite","category":"Toys","reorder_level":5}',
  );
  t.equal(r.stdout.split('\n')[2], '{"sku":"Z-9","store":2,"on_hand":7}', '--missing keep: unchanged');
  const bad = await sh(`bx-join --lookup ${cat} --on sku ${stock}`);
  t.equal(bad.code, 65);
  t.match(bad.stderr, /stock\.ndjson:3: field "sku": key \(sku "Z-9"\) is not in the lookup/);
  t.notMatch(bad.stderr, /\n\s+at /);
});

t.test('--missing null|drop, --rejects, --fields and --prefix', async (t) => {
  const { dir, cat, stock } = files(t);
  const n = ndjson((await sh(`bx-join -q -l ${cat} --on sku --missing null --fields category ${stock}`)).stdout);
  t.same(n[2], { sku: 'Z-9', store: 2, on_hand: 7, category: null });
  t.same(Object.keys(n[0]), ['sku', 'store', 'on_hand', 'category']);
  const d = await sh(`bx-join -l ${cat} --on sku --missing drop --prefix p_ --fields name,reorder_level ${stock}`);
  t.equal(d.code, 0);
  t.same(
    ndjson(d.stdout).map((r) => r.p_name),
    ['Kite', 'Rice', 'Soap'],
  );
  t.match(d.stderr, /1 dropped/);
  const rej = join(dir, 'rej.ndjson');
  const r = await sh(`bx-join -q -l ${cat} --on sku --rejects ${rej} ${stock}`);
  t.equal(r.code, 0);
  t.equal(ndjson(r.stdout).length, 3);
  const rejects = ndjson(readFileSync(rej, 'utf8'));
  t.equal(rejects.length, 1);
  t.same(rejects[0].record, { sku: 'Z-9', store: 2, on_hand: 7 });
  t.equal(rejects[0].source, `${stock}:3`);
  t.equal((rejects[0].errors as { rule: string }[])[0].rule, 'lookup');
  const max = await sh(`bx-join -q -l ${cat} --on sku --rejects ${rej} --max-rejects 0 ${stock}`);
  t.equal(max.code, 65, 'too many rejects');
});

t.test('a name clash is refused unless --prefix; duplicate lookup keys name both lines', async (t) => {
  const { dir, cat } = files(t);
  const clash = await sh(`echo '{"sku":"A-1","category":"mine"}' | bx-join -l ${cat} --on sku`);
  t.equal(clash.code, 65);
  t.match(clash.stderr, /stdin:1: field "category": the record already has this field.*--prefix/);
  const ok = await sh(`echo '{"sku":"A-1","category":"mine"}' | bx-join -q -l ${cat} --on sku --prefix cat_`);
  t.same(ndjson(ok.stdout)[0], {
    sku: 'A-1',
    category: 'mine',
    cat_name: 'Kite',
    cat_category: 'Toys',
    cat_reorder_level: 5,
  });
  const dup = join(dir, 'dup.ndjson');
  writeFileSync(dup, CATALOGUE + '\n{"sku":"B-2","name":"Other"}\n');
  const d = await sh(`echo '{"sku":"A-1"}' | bx-join -l ${dup} --on sku`);
  t.equal(d.code, 65);
  t.match(d.stderr, /dup\.ndjson:5: duplicate key in the lookup \(sku "B-2"\): line 2 has it too/);
  t.equal(d.stdout, '', 'nothing written');
  const nokey = join(dir, 'nokey.ndjson');
  writeFileSync(nokey, '{"name":"x"}\n');
  const nk = await sh(`echo '{"sku":"A-1"}' | bx-join -l ${nokey} --on sku`);
  t.equal(nk.code, 65);
  t.match(nk.stderr, /nokey\.ndjson:1: field "sku": the lookup record has no key value/);
});

t.test('composite keys with other names in the lookup; lineage names the origin', async (t) => {
  const dir = tmp(t);
  const prices = join(dir, 'prices.ndjson');
  writeFileSync(prices, '{"shop":1,"item":"A-1","price":"2.50"}\n{"shop":2,"item":"A-1","price":"2.75"}\n');
  const csv = join(dir, 'sales.csv');
  writeFileSync(csv, 'store,sku\n1,A-1\n2,A-1\n3,A-1\n');
  const r = await sh(
    `bx-extract -q --lineage ${csv} | bx-clean -q --type store:integer | bx-join -q -l ${prices} --on store,sku --on-lookup shop,item --fields price`,
  );
  t.equal(r.code, 65);
  t.match(r.stderr, /sales\.csv:4: field "store": key \(store 3, sku "A-1"\) is not in the lookup/);
  const ok = await sh(
    `bx-extract -q ${csv} | bx-clean -q --type store:integer | bx-join -q -l ${prices} --on store,sku --on-lookup shop,item --fields price --missing drop`,
  );
  t.same(
    ndjson(ok.stdout).map((x) => x.price),
    ['2.50', '2.75'],
  );
  const text = await sh(
    `bx-extract -q ${csv} | bx-join -q -l ${prices} --on store,sku --on-lookup shop,item --missing drop`,
  );
  t.equal(text.stdout, '', 'the text "1" is not the number 1: keys compare as JSON');
  const usage = await sh(`echo '{}' | bx-join -l ${prices} --on store,sku --on-lookup shop`);
  t.equal(usage.code, 64);
  t.equal((await sh(`echo '{}' | bx-join --on sku`)).code, 64, '--lookup is required');
  t.equal((await sh(`echo '{}' | bx-join -l ${join(dir, 'nope.ndjson')} --on sku`)).code, 66);
});

t.test('a lookup past --memory is refused with 73, saying how big it got', async (t) => {
  const dir = tmp(t);
  const big = join(dir, 'big.ndjson');
  let text = '';
  for (let i = 0; i < 20000; i++)
    text += JSON.stringify({ sku: `S${i}`, name: `product number ${i} with a long name`, category: 'Things' }) + '\n';
  writeFileSync(big, text);
  const r = await sh(`echo '{"sku":"S1"}' | bx-join -l ${big} --on sku --memory 1MB`);
  t.equal(r.code, 73);
  t.match(r.stderr, /big\.ndjson:\d+: the lookup passed --memory 1MB \(about 1\.0 MB held after \d+ records\)/);
  t.equal(r.stdout, '');
  const ok = await sh(`echo '{"sku":"S19999"}' | bx-join -q -l ${big} --on sku --memory 64MB --fields name`);
  t.same(ndjson(ok.stdout), [{ sku: 'S19999', name: 'product number 19999 with a long name' }]);
});

t.test('sealed pipes: the lookup may be plain, a cut upstream fails the join', async (t) => {
  const { cat, stock } = files(t);
  const env = { BX_SEAL: '1' };
  const r = await sh(
    `bx-extract -q ${stock} | bx-join -q -l ${cat} --on sku --missing drop | bx-agg -q --agg n=count,units=sum:on_hand`,
    { env },
  );
  t.equal(r.code, 0, r.stderr);
  t.same(ndjson(r.stdout), [
    { n: 3, units: 34 },
    { '@bx': 'end', records: 1 },
  ]);
  const cut = await sh(`bx-extract -q ${stock} | head -n 2 | bx-join -q -l ${cat} --on sku`, { env });
  t.equal(cut.code, 65);
  t.match(cut.stderr, /end-of-stream|end mark|trailer|sealed/i);
});
