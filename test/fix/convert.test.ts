// Issue 22: Table Schema `number` takes NaN, INF and -INF (in any case) as Frictionless allows,
// and `number` and `integer` treat white space around a value alike: refused, unless --trim.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Bad, converterFor } from '../../src/lib/convert.js';
import { ndjson, sh, tmp } from '../helpers.js';

t.test('number: special values and white space', async (t) => {
  const num = converterFor({ name: 'x', type: 'number' });
  const dec = converterFor({ name: 'x', type: 'number', 'bx:scale': 2 } as never);
  const int = converterFor({ name: 'x', type: 'integer' });
  const ok: [unknown, unknown][] = [
    ['NaN', 'NaN'],
    ['nan', 'NaN'],
    ['INF', 'Infinity'],
    ['inf', 'Infinity'],
    ['-INF', '-Infinity'],
    ['-Inf', '-Infinity'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    ['1.5', 1.5],
    ['1e3', 1000],
  ];
  for (const [v, want] of ok) {
    t.same(num(v), want, `number ${String(v)}`);
    t.same(dec(v), typeof want === 'string' ? want : dec(String(v)), `decimal ${String(v)}`);
  }
  for (const v of [' 1', '1 ', '\t2.5', '3\n', ' NaN', 'INF ', '+INF', 'Infinity', 'NA N', '']) {
    const r = num(v);
    t.ok(r instanceof Bad, `number refuses ${JSON.stringify(v)}`);
  }
  for (const v of [' 1', '1 ', '\t2', '3\n']) {
    const n = num(v) as Bad;
    const i = int(v) as Bad;
    t.ok(n instanceof Bad && i instanceof Bad, `both refuse ${JSON.stringify(v)}`);
    t.match(n.message, /white space around it; --trim strips it/);
    t.match(i.message, /white space around it; --trim strips it/);
  }
  for (const v of ['NaN', 'INF']) t.ok(int(v) instanceof Bad, `integer refuses ${v}`);
});

t.test('bx-clean --schema: NaN/INF typed, spaces refused alike, --trim accepts them', async (t) => {
  const dir = tmp(t);
  const schema = join(dir, 's.json');
  writeFileSync(
    schema,
    JSON.stringify({
      fields: [
        { name: 'n', type: 'number' },
        { name: 'i', type: 'integer' },
      ],
    }),
  );
  const good = await sh(`bx-clean --schema ${schema}`, {
    input: '{"n":"NaN","i":"1"}\n{"n":"INF","i":"2"}\n{"n":"-INF","i":"3"}\n',
  });
  t.equal(good.code, 0, good.stderr);
  t.same(ndjson(good.stdout), [
    { n: 'NaN', i: 1 },
    { n: 'Infinity', i: 2 },
    { n: '-Infinity', i: 3 },
  ]);
  for (const [rec, field] of [
    ['{"n":" 1.5","i":"1"}', 'n'],
    ['{"n":"1.5","i":" 1"}', 'i'],
  ]) {
    const r = await sh(`bx-clean --schema ${schema}`, { input: rec + '\n' });
    t.equal(r.code, 65, `${rec}: 65`);
    t.match(r.stderr, new RegExp(`stdin:1: field "${field}": .*white space around it`), r.stderr.trim());
  }
  const trimmed = await sh(`bx-clean --trim --schema ${schema}`, { input: '{"n":" 1.5 ","i":" 7 "}\n' });
  t.equal(trimmed.code, 0, trimmed.stderr);
  t.same(ndjson(trimmed.stdout), [{ n: 1.5, i: 7 }]);
});
