// The schema model and what stands on it: strict dates, inference, validation, CREATE TABLE,
// compiled converters and constraints, digest sets, privacy transforms.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Bad, CompiledSchema, converterFor } from '../../src/lib/convert.js';
import { patternInfo, temporalParser, weekdayOf } from '../../src/lib/dates.js';
import { digest128, DigestSet, keyText } from '../../src/lib/dedupe.js';
import { ConfigError, InputMissingError } from '../../src/lib/errors.js';
import { Hasher, mask } from '../../src/lib/hash.js';
import {
  createTableSql,
  parseSchema,
  pgType,
  readSchemaFile,
  SchemaInferrer,
  validateSchema,
  type Field,
} from '../../src/lib/schema.js';
import { tmp } from '../helpers.js';

t.test('dates: the formats real files use, strictly', async (t) => {
  const d = (fmt: string | undefined, s: string) => temporalParser('date', fmt)(s);
  t.equal(d(undefined, '2026-02-28'), '2026-02-28');
  t.equal(d(undefined, '2026-02-30'), undefined, '30 February is invalid, not 2 March');
  t.equal(d(undefined, '2024-02-29'), '2024-02-29', 'leap year');
  t.equal(d(undefined, '2100-02-29'), undefined, '2100 is not a leap year');
  t.equal(d(undefined, '2026-13-01'), undefined);
  t.equal(d(undefined, '2026-1-01'), undefined, 'ISO wants two digits');
  t.equal(d('%d/%m/%y', '03/01/19'), '2019-01-03');
  t.equal(d('%d/%m/%y', '31/12/69'), '1969-12-31', '%y: 69-99 are 19xx');
  t.equal(d('%d/%m/%y', '01/01/68'), '2068-01-01', '%y: 00-68 are 20xx');
  t.equal(d('%m/%d/%Y', '2/29/2024'), '2024-02-29', 'one-digit month and day');
  t.equal(d('%m/%d/%Y', '02/30/2024'), undefined);
  t.equal(d('%d.%m.%Y', '29.11.2026'), '2026-11-29');
  t.equal(d('%d %b %Y', '3 Jan 2019'), '2019-01-03');
  t.equal(d('%B %d %Y', 'march 05 2019'), '2019-03-05');
  t.equal(d('%d/%m/%y', '03/01/2019'), undefined, 'no trailing text');
  const dt = (fmt: string | undefined, s: string) => temporalParser('datetime', fmt)(s);
  t.equal(dt(undefined, '2026-11-23T14:05:09Z'), '2026-11-23T14:05:09Z');
  t.equal(dt(undefined, '2026-11-23 14:05'), '2026-11-23T14:05:00');
  t.equal(dt(undefined, '2026-11-23T14:05:09.123+0100'), '2026-11-23T14:05:09.123+01:00');
  t.equal(dt(undefined, '2026-11-23T14:05:09-05'), '2026-11-23T14:05:09-05:00');
  t.equal(dt(undefined, '2026-11-23T25:00:00'), undefined);
  t.equal(dt(undefined, '2026-11-23T14:60:00'), undefined);
  t.equal(dt(undefined, '2026-02-30T10:00:00'), undefined);
  t.equal(dt('%d/%m/%Y %H:%M %z', '23/11/2026 14:05 +01:00'), '2026-11-23T14:05:00+01:00');
  t.equal(dt('%m/%d/%Y %I:%M %p', '11/23/2026 2:05 PM'), '2026-11-23T14:05:00');
  t.equal(dt('%m/%d/%Y %I:%M %p', '11/23/2026 12:05 am'), '2026-11-23T00:05:00');
  t.equal(dt('%m/%d/%Y %I:%M %p', '11/23/2026 13:05 pm'), undefined);
  t.equal(temporalParser('time', undefined)('23:59:60'), '23:59:60', 'a leap second, as PostgreSQL');
  t.equal(temporalParser('time', undefined)('24:01'), undefined);
  t.match(patternInfo('%d/%q'), /unknown directive "%q"/);
  t.same(patternInfo('%Y-%m-%d %H:%M%z'), { date: true, time: true, zone: true });
  t.equal(weekdayOf('1970-01-01'), 4);
  t.equal(weekdayOf('2000-02-29'), 2);
  t.equal(weekdayOf('1969-12-28'), 7);
});

t.test('inference: types, formats, nullability, primary key', async (t) => {
  const inf = new SchemaInferrer({ primaryKey: true });
  const rows = [
    {
      id: '1',
      qty: '2',
      price: '3.50',
      d: '03/01/19',
      ts: '2026-11-23 10:00:00',
      ok: 'true',
      big: '9007199254740993',
      n: 1,
      zip: '01040',
      note: '',
      tags: ['a'],
      j: { a: 1 },
    },
    {
      id: '2',
      qty: '-1',
      price: '10',
      d: '13/01/19',
      ts: '2026-11-23 11:00:00',
      ok: 'FALSE',
      big: '2',
      n: 2.25,
      zip: '77095',
      note: null,
      tags: [],
      j: {},
    },
    {
      id: '3',
      qty: '4',
      price: '0.125',
      d: '31/12/19',
      ts: '2026-11-23 12:00:00',
      ok: 'true',
      big: '3',
      n: 3,
      zip: '12345',
      tags: [],
      j: {},
    },
  ];
  for (const r of rows) inf.add(r);
  const s = inf.result();
  const f = (name: string) => s.fields.find((x) => x.name === name)!;
  t.same(f('id'), { name: 'id', type: 'integer', constraints: { required: true } });
  t.same(f('qty'), { name: 'qty', type: 'integer', constraints: { required: true } });
  t.same(f('price'), { name: 'price', type: 'number', 'bx:scale': 3, constraints: { required: true } });
  t.same(
    f('d'),
    { name: 'd', type: 'date', format: '%d/%m/%y', constraints: { required: true } },
    'a day above 12 proves dd/mm',
  );
  t.same(f('ts'), {
    name: 'ts',
    type: 'datetime',
    format: 'default',
    'bx:pgType': 'timestamp',
    constraints: { required: true },
  });
  t.same(f('ok'), { name: 'ok', type: 'boolean', constraints: { required: true } });
  t.same(f('big'), { name: 'big', type: 'integer', 'bx:pgType': 'bigint', constraints: { required: true } });
  t.same(f('n'), { name: 'n', type: 'number', 'bx:scale': 2, constraints: { required: true } });
  t.same(
    f('zip'),
    { name: 'zip', type: 'string', constraints: { required: true } },
    'leading zeros keep a code a string',
  );
  t.same(f('note'), { name: 'note', type: 'string' }, 'only empty values: a nullable string');
  t.same(f('tags'), { name: 'tags', type: 'array', constraints: { required: true } });
  t.same(f('j'), { name: 'j', type: 'object', constraints: { required: true } });
  t.same(s.primaryKey, ['id']);
  t.same(s.missingValues, ['']);
  t.same(inf.warnings, []);

  const amb = new SchemaInferrer();
  amb.add({ d: '03/01/19' });
  amb.add({ d: '04/02/19' });
  t.equal(amb.result().fields[0].format, '%d/%m/%y');
  t.match(amb.warnings[0], /day\/month order is ambiguous/);
  const us = new SchemaInferrer();
  us.add({ d: '12/31/2019' });
  us.add({ d: '1/2/2019' });
  t.equal(us.result().fields[0].format, '%m/%d/%Y', 'a "day" above 12 in second place proves mm/dd');
  const mixed = new SchemaInferrer();
  mixed.add({ d: '2019-01-03', n: '1', late: 1 });
  mixed.add({ d: 'soon', n: 'x' });
  const ms = mixed.result();
  t.same(
    ms.fields.map((x) => [x.name, x.type, x.constraints?.required ?? false]),
    [
      ['d', 'string', true],
      ['n', 'string', true],
      ['late', 'integer', false],
    ],
  );
  t.notOk(ms.primaryKey, 'no primary key unless asked');
});

t.test('copy-compatible inference: only what COPY reads as it is', async (t) => {
  const inf = new SchemaInferrer({ copyCompatible: true });
  inf.add({ a: '1', d: '03/01/19', iso: '2019-01-03', ts: '2019-01-03T10:00:00+01:00', e: '', b: true, n: 1.5 });
  inf.add({ a: '2', d: '13/01/19', iso: '2019-01-13', ts: '2019-01-03 10:00:00Z', e: '5', b: false, n: 2 });
  const s = inf.result();
  t.same(
    s.fields.map((f) => [f.name, f.type, pgType(f)]),
    [
      ['a', 'integer', 'integer'],
      ['d', 'string', 'text'],
      ['iso', 'date', 'date'],
      ['ts', 'datetime', 'timestamptz'],
      ['e', 'string', 'text'],
      ['b', 'boolean', 'boolean'],
      ['n', 'number', 'numeric'],
    ],
  );
  t.equal(s.missingValues, undefined);
});

t.test('validation: one clear message naming the file and what is wrong (78)', async (t) => {
  const bad: [unknown, RegExp][] = [
    [[], /s\.json: a Table Schema must be a JSON object/],
    [{}, /"fields" must be an array/],
    [{ fields: [] }, /"fields" is empty/],
    [{ fields: [{ type: 'integer' }] }, /fields\[0\]: "name" must be a non-empty string/],
    [{ fields: [{ name: 'a' }, { name: 'a' }] }, /fields\[1\] \("a"\): duplicate field name/],
    [{ fields: [{ name: 'a', type: 'decimal' }] }, /unknown type "decimal"; write "type": "number" with "bx:scale"/],
    [{ fields: [{ name: 'a', type: 'int' }] }, /fields\[0\] \("a"\): unknown type "int"/],
    [{ fields: [{ name: 'd', type: 'date', format: '%d/%Q' }] }, /unknown directive "%Q"/],
    [{ fields: [{ name: 'a', type: 'string', constraints: { requried: true } }] }, /unknown constraint "requried"/],
    [{ fields: [{ name: 'a', constraints: { pattern: '(' } }] }, /"pattern" is not a valid regular expression/],
    [{ fields: [{ name: 'a', type: 'number', 'bx:scale': -1 }] }, /"bx:scale" must be an integer/],
    [
      { fields: [{ name: 'a', type: 'integer', 'bx:pgType': 'int; DROP TABLE x' }] },
      /"bx:pgType" .* is not a plain PostgreSQL type/,
    ],
    [{ fields: [{ name: 'a' }], primaryKey: ['b'] }, /primaryKey: names "b", which is not a field/],
  ];
  for (const [obj, re] of bad) {
    t.throws(() => validateSchema(obj, 's.json'), ConfigError);
    t.throws(() => validateSchema(obj, 's.json'), { message: re }, re.source);
  }
  t.throws(() => parseSchema('{"fields": [', 's.json'), { message: /^s\.json: not valid JSON/ });
  const dir = tmp(t);
  await t.rejects(readSchemaFile(join(dir, 'none.json')), InputMissingError);
  writeFileSync(
    join(dir, 's.json'),
    '\uFEFF{"fields":[{"name":"a","type":"integer"}],"primaryKey":"a","title":"kept"}',
  );
  const s = await readSchemaFile(join(dir, 's.json'));
  t.same(s, { fields: [{ name: 'a', type: 'integer' }], primaryKey: ['a'], title: 'kept' });
  t.same(validateSchema({ fields: [{ name: 'x' }] }, 'x').fields[0].type, 'string', 'type defaults to string');
});

t.test('CREATE TABLE: quoted identifiers, NOT NULL, PRIMARY KEY, types', async (t) => {
  const fields: Field[] = [
    { name: 'id', type: 'integer' },
    { name: 'big', type: 'integer', 'bx:pgType': 'bigint' },
    { name: 'price', type: 'number', 'bx:scale': 2, 'bx:precision': 12 },
    { name: 'amount', type: 'number', 'bx:scale': 4 },
    { name: 'ratio', type: 'number' },
    { name: 'ok', type: 'boolean', constraints: { required: true } },
    { name: 'day', type: 'date', format: '%d/%m/%y' },
    { name: 'at', type: 'datetime' },
    { name: 'local', type: 'datetime', format: '%d/%m/%Y %H:%M' },
    { name: 'zoned', type: 'datetime', format: '%d/%m/%Y %H:%M %z' },
    { name: 'tm', type: 'time' },
    { name: 'doc', type: 'object' },
    { name: 'Odd "name"; DROP', type: 'string', constraints: { unique: true } },
  ];
  const sql = createTableSql({ fields, primaryKey: ['id'] }, { schema: 'my schema', name: 't' }, { ifNotExists: true });
  t.equal(
    sql,
    [
      'CREATE TABLE IF NOT EXISTS "my schema"."t" (',
      '  "id" integer NOT NULL,',
      '  "big" bigint,',
      '  "price" numeric(12,2),',
      '  "amount" numeric,',
      '  "ratio" double precision,',
      '  "ok" boolean NOT NULL,',
      '  "day" date,',
      '  "at" timestamptz,',
      '  "local" timestamp,',
      '  "zoned" timestamptz,',
      '  "tm" time,',
      '  "doc" jsonb,',
      '  "Odd ""name""; DROP" text UNIQUE,',
      '  PRIMARY KEY ("id")',
      ')',
    ].join('\n'),
  );
});

t.test('compiled schema: converters, missing values, constraints, all failures listed', async (t) => {
  const compile = () =>
    new CompiledSchema(
      validateSchema(
        {
          fields: [
            { name: 'id', type: 'integer', constraints: { required: true, unique: true } },
            { name: 'qty', type: 'integer', constraints: { minimum: 1, maximum: 100 } },
            { name: 'price', type: 'number', 'bx:scale': 2, constraints: { minimum: '0.01' } },
            { name: 'day', type: 'date', format: '%d/%m/%y', constraints: { minimum: '2019-01-01' } },
            { name: 'cat', type: 'string', constraints: { enum: ['A', 'B'], pattern: '[A-Z]', maxLength: 1 } },
            { name: 'ok', type: 'boolean' },
          ],
          missingValues: ['', 'NA'],
        },
        'test',
      ),
    );
  const c = compile();
  const good = { id: '1', qty: '5', price: '10.505', day: '03/01/19', cat: 'A', ok: 'TRUE', extra: 'kept' };
  t.equal(c.apply(good), undefined);
  t.same(
    good,
    { id: 1, qty: 5, price: 10.51, day: '2019-01-03', cat: 'A', ok: true, extra: 'kept' },
    'typed in place; decimals rounded half away from zero',
  );
  const again = { ...good };
  t.equal(compile().apply(again), undefined, 'cleaning a cleaned record changes nothing');
  t.same(again, good);
  const bad = { id: '1', qty: 'NA', price: '-1', day: '30/02/19', cat: 'c', ok: 'yes' };
  const fails = c.apply(bad)!;
  t.same(
    fails.map((f) => [f.field, f.rule]),
    [
      ['id', 'unique'],
      ['price', 'minimum'],
      ['day', 'date'],
      ['cat', 'pattern'],
      ['cat', 'enum'],
      ['ok', 'boolean'],
    ],
  );
  t.same(bad.qty, 'NA', 'a rejected record is left as it came');
  t.match(fails[2].message, 'expected a valid date in the format %d/%m/%y, got "30/02/19"');
  const missing = c.apply({ qty: '0' })!;
  t.same(
    missing.map((f) => [f.field, f.rule, f.message]),
    [
      ['id', 'required', 'required field is missing'],
      ['qty', 'minimum', '0 is below the minimum 1'],
    ],
  );
  const rec: Record<string, unknown> = { id: '7' };
  t.equal(c.apply(rec), undefined);
  t.same(rec, { id: 7, qty: null, price: null, day: null, cat: null, ok: null }, 'absent fields become null');

  const pk = new CompiledSchema(
    validateSchema({ fields: [{ name: 'a', type: 'integer' }, { name: 'b' }], primaryKey: ['a', 'b'] }, 'pk'),
  );
  t.equal(pk.apply({ a: '1', b: 'x' }), undefined);
  t.equal(pk.apply({ a: '1', b: 'y' }), undefined);
  t.same(
    pk.apply({ a: 1, b: 'x' }),
    [
      {
        field: 'a,b',
        rule: 'primaryKey',
        value: [1, 'x'],
        message: 'primary key (1, "x") repeats an earlier record\'s',
      },
    ],
    'typed values make the key',
  );
  t.same(
    pk.apply({ a: 2 })!.map((f) => f.rule),
    ['required'],
    'key fields are required',
  );

  const conv = (f: Partial<Field>, v: unknown) => converterFor({ name: 'x', type: 'string', ...f } as Field)(v);
  t.equal(conv({ type: 'integer' }, '12345678901234567890'), '12345678901234567890', 'beyond 2^53: exact, as a string');
  t.equal(conv({ type: 'integer' }, '+007'), 7);
  t.ok(conv({ type: 'integer' }, '1.5') instanceof Bad);
  t.ok(conv({ type: 'integer' }, 1.5) instanceof Bad);
  t.equal(conv({ type: 'number' }, '1e3'), 1000);
  t.equal(
    conv({ type: 'number', 'bx:pgType': 'numeric' }, '0.1000000000000000000001'),
    '0.1000000000000000000001',
    'decimals stay exact',
  );
  t.equal(conv({ type: 'number', 'bx:scale': 2 }, '-0.004'), 0, 'a rounded zero is 0, never -0');
  t.equal(conv({ type: 'number', decimalChar: ',', groupChar: '.' }, '1.234,5'), 1234.5);
  t.equal(conv({ type: 'string' }, 77095), '77095');
  t.ok(conv({ type: 'string' }, { a: 1 }) instanceof Bad);
  t.same(conv({ type: 'object' }, '{"a":1}'), { a: 1 });
  t.ok(conv({ type: 'array' }, '{"a":1}') instanceof Bad);
  t.equal(conv({ type: 'boolean', trueValues: ['Y'], falseValues: ['N'] }, 'Y'), true);
  t.equal(conv({ type: 'year' }, '2026'), 2026);
  t.ok(conv({ type: 'time' }, '9:00') instanceof Bad, 'ISO time wants two-digit hours');
  t.equal(
    conv({ type: 'datetime', format: '%d/%m/%Y %H:%M' }, '2026-11-23T10:00:00Z'),
    '2026-11-23T10:00:00Z',
    'ISO accepted whatever the pattern',
  );
});

t.test('digest sets: new or seen, growing, canonical keys', async (t) => {
  const s = new DigestSet(16);
  let fresh = 0;
  for (let i = 0; i < 100000; i++) if (s.add(keyText([i, `k${i}`]))) fresh++;
  t.equal(fresh, 100000, 'every new key is new');
  t.equal(s.size, 100000);
  let again = 0;
  for (let i = 0; i < 100000; i++) if (!s.add(keyText([i, `k${i}`]))) again++;
  t.equal(again, 100000, 'every key is found again after the table grew');
  t.ok(s.bytes <= (100000 * 16 * 2) / 0.75 + 16, 'at most 43 bytes a key');
  t.not(keyText(['a,b']), keyText(['a', 'b']));
  t.not(keyText(['5']), keyText([5]));
  t.not(keyText([null]), keyText(['']));
  const a = new Int32Array(4);
  const b = new Int32Array(4);
  digest128('hello', a);
  digest128('hellp', b);
  t.notSame([...a], [...b]);
  digest128('hello', b);
  t.same([...a], [...b], 'stable');
});

t.test('privacy: keyed hashes, masks', async (t) => {
  t.throws(() => Hasher.fromEnv({}), ConfigError);
  t.throws(() => Hasher.fromEnv({ BX_HASH_KEY: 'short' }), { message: /too short/ });
  const h = Hasher.fromEnv({ BX_HASH_KEY: 'k'.repeat(32) });
  const h2 = Hasher.fromEnv({ BX_HASH_KEY: 'k'.repeat(32) });
  const other = Hasher.fromEnv({ BX_HASH_KEY: 'x'.repeat(32) });
  t.match(h.hash('ada@example.com'), /^[0-9a-f]{64}$/);
  t.equal(h.hash('ada@example.com'), h2.hash('ada@example.com'), 'stable across runs');
  t.not(h.hash('ada@example.com'), other.hash('ada@example.com'), 'keyed');
  t.equal(h.hash(12), h.hash('12'));
  t.equal(h.hash(null), null);
  t.equal(mask('4111111111111111'), '************1111');
  t.equal(mask('1234'), '****');
  t.equal(mask(123456), '**3456');
  t.equal(mask(null), null);
});
