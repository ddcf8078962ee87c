// bx-clean's byte path (src/clean/bytes.ts) must write exactly what the object path writes
// (BX_CLEAN_OBJECTS=1, the reference): the same stdout bytes, the same rejects file, the same
// error and exit code, on a table of tricky lines, on random lines, under many option sets, and
// with the input cut at every place.
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import t from 'tap';
import { byteCleaner } from '../../src/clean/bytes.js';
import { normalize, spec } from '../../src/commands/clean.js';
import { CompiledSchema } from '../../src/lib/convert.js';
import { ByteSlab } from '../../src/lib/slab.js';
import { validateSchema } from '../../src/lib/schema.js';
import { cli } from '../../src/run/cli.js';
import { root, tmp } from '../helpers.js';

type Test = Parameters<Parameters<typeof t.test>[1]>[0];

const dir = tmp(t);

const SCHEMA = {
  fields: [
    { name: 'id', type: 'integer', constraints: { required: true } },
    { name: 'day', type: 'date' },
    { name: 'at', type: 'datetime' },
    { name: 'store', type: 'string', constraints: { pattern: 'S[0-9]+' } },
    { name: 'qty', type: 'integer', constraints: { minimum: 1, maximum: 1000 } },
    { name: 'price', type: 'number', 'bx:scale': 2, constraints: { minimum: 0 } },
    { name: 'ratio', type: 'number' },
    { name: 'big', type: 'number', 'bx:pgType': 'numeric' },
    { name: 'cat', type: 'string', constraints: { enum: ['Toys', 'Garden', 'Ünï'] } },
    { name: 'ok', type: 'boolean' },
    { name: 'name', type: 'string' },
    { name: 'when', type: 'date', format: '%d/%m/%Y' },
    { name: 'y', type: 'year' },
    { name: 'free', type: 'any', constraints: { maxLength: 5, minLength: 2 } },
  ],
};
const schemaFile = join(dir, 'schema.json');
writeFileSync(schemaFile, JSON.stringify(SCHEMA));
const naFile = join(dir, 'na.schema.json');
writeFileSync(naFile, JSON.stringify({ ...SCHEMA, missingValues: ['', 'NA', 'n/a'] }));
const noneFile = join(dir, 'none.schema.json');
writeFileSync(noneFile, JSON.stringify({ fields: SCHEMA.fields.slice(0, 6), missingValues: [] }));

// The option sets, each run on both paths.
const FLAGS = [
  `--schema ${schemaFile}`,
  `--schema ${naFile} --trim`,
  `--schema ${noneFile}`,
  `--schema ${schemaFile} --null-values NA,null,`,
  `--schema ${schemaFile} --rename store=shop --rename x=id --drop name,ok`,
  `--schema ${schemaFile} --rename shop=store --rename kind=cat --rename a=x`,
  `--schema ${schemaFile} --keep id,price,zz,id,name`,
  `--type id:integer --type price:decimal:1 --type at:timestamp --required day --min qty=2 --max price=100 --pattern name=[a-z]+ --enum cat=Toys,Garden`,
  `--trim`,
  `--drop a,b --rename c=a`,
  `--type x:string --type n:int --type d:decimal`,
  ``,
];

const FIRST = '{"id":"0","x":"first"}\n';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  rejects: string;
}

let runs = 0;
/** bx-clean in this process on these chunks (the first batch, FIRST, always takes the object path). */
async function clean(flags: string, chunks: Buffer[], objects: boolean): Promise<Result> {
  const rej = join(dir, `rejects-${runs++}.ndjson`);
  const argv = [...flags.split(' ').filter(Boolean), '-q', '--rejects', rej, '--max-rejects', '1000'];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const w = (to: Buffer[]) => new Writable({ write: (c, _e, cb) => (to.push(Buffer.from(c)), cb()) });
  const code = await cli('bx-clean', spec, argv, {
    stdin: Readable.from([Buffer.from(FIRST), ...chunks]),
    stdout: w(out),
    stderr: w(err),
    env: objects ? { BX_CLEAN_OBJECTS: '1' } : {},
    cwd: () => root,
  });
  const rejects = existsSync(rej) ? readFileSync(rej, 'utf8') : '<none>';
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), rejects };
}

/** The byte path's result is the object path's, also the lines written before a failure. */
function agree(a: Omit<Result, 'rejects'> & { rejects?: string }, b: typeof a): boolean {
  return a.code === b.code && a.stderr === b.stderr && a.rejects === b.rejects && a.stdout === b.stdout;
}

async function same(t: Test, flags: string, chunks: Buffer[], what: string) {
  const a = await clean(flags, chunks, false);
  const b = await clean(flags, chunks, true);
  if (agree(a, b)) return true;
  t.same(a, b, `${what}: ${flags}`);
  return false;
}

const TRICKY = [
  '{"id":"1","day":"2026-11-02","at":"2026-11-02T17:23:13Z","store":"S39","qty":"4","price":"387.61","ratio":"0.1","cat":"Toys","ok":"true","name":"Deluxe Desk, oak 1478"}',
  '{"id":"2","day":"2024-02-29","at":"2026-11-02T17:23:13.123456789+01:00","store":"S1","qty":"1000","price":"0.00","ratio":"-0.5","big":"123456789012345","cat":"Ünï","ok":"0"}',
  '{"id":"3","day":"2023-02-29"}',
  '{"id":"4","day":"2026-13-01"}',
  '{"id":"5","at":"2026-11-02 17:23:13"}',
  '{"id":"6","at":"2026-11-02T24:00:00Z"}',
  '{"id":"7","at":"2026-11-02T17:23:60Z"}',
  '{"id":"8","at":"2026-11-02T17:23:13.1234567890Z"}',
  '{"id":"9","at":"2026-11-02T17:23:13+24:00"}',
  '{"id":"10","at":"2026-11-02T17:23:13-05:30"}',
  '{"id":"011","qty":"007","price":"007.50"}',
  '{"id":"-0","qty":"+5","price":"-0.00"}',
  '{"id":"-12","price":"-0.5","ratio":"-00.5"}',
  '{"id":"9007199254740993","price":"1.005","ratio":"0.0000001"}',
  '{"id":"123456789012345","price":"99999999999999.99","ratio":"1234567890123456"}',
  '{"id":"12","price":"12.","ratio":".5","big":"1e5"}',
  '{"id":"13","price":"1,234.50","ratio":"NaN","big":"inf"}',
  '{"id":"14","price":" 1.5","qty":"2 "}',
  '{"id":"15","store":"X1","cat":"Food"}',
  '{"id":"16","qty":"0"}',
  '{"id":"17","qty":"1001"}',
  '{"id":"18","price":"-1"}',
  '{"id":""}',
  '{"id":null}',
  '{"day":"2026-11-02"}',
  '{"id":19,"qty":4,"price":1.5,"ratio":2,"ok":true,"name":5}',
  '{"id":20,"qty":4.5,"price":1.555,"ok":false,"name":true,"free":null}',
  '{"id":"21","name":"x\\"y\\\\z\\/w\\n\\t\\u0001"}',
  '{"id":"22","name":"\\u00e9t\\u00E9","store":"S\\u0031"}',
  '{"id":"23","name":"é ✓ 😀 \u2028","cat":"Ünï"}',
  '{"id":"24","name":"  padded  ","store":" S2","cat":"Toys "}',
  '{"id":"25","name":"\u00a0nbsp\u3000","x":"\u2003y"}',
  '{"id":"26","name":"NA","store":"NA","x":"null","price":"n/a"}',
  '{"id":"27","when":"23/11/2026","y":"2026","free":"abc"}',
  '{"id":"28","when":"2026-11-23","y":"20260","free":"abcdefgh"}',
  '{"id":"29","ok":"yes","y":"-1"}',
  '{"id":"30","nested":{"a":1,"b":[1,2]},"arr":[]}',
  '{"id":"31","id":"32"}',
  '{"id":"33","x":1,"x":2}',
  '{"id":"34","2019":"a","b":1}',
  '{"id":"35","__proto__":"p"}',
  '{"id":"36","constructor":"c","toString":"t"}',
  '{ "id":"37" }',
  '{"id": "38"}',
  '{"id":"39"} ',
  '{"id":"40"}\r',
  '{"id":"41","x":1e5,"y2":-0,"z":1.50,"w":0.0000001,"v":12345678901234567}',
  '{"id":"42","x":true,"y2":false,"z":null}',
  '{"id":"43","k\\u0065y":"v"}',
  '{"id":"44","é":"ü"}',
  '{}',
  '{"id":"45","store":"S7","shop":"dup"}',
  '{"id":"46","a":"1","b":"2","c":"3"}',
  '{"id":"47","c":"3","a":"1"}',
  '{"id":"48","n":"5","d":"1.50","x":"s"}',
  '{"id":"49","n":"x","d":"y"}',
  '{"id":"50","day":"2026-11-02","at":"2026-11-02T08:00:00","store":"S","qty":"3","price":"1.5","ratio":"1e-7"}',
  '{"id":"51","big":"12345678901234567890.123"}',
  '{"id":"52","ratio":"123456789012345.1"}',
  '{"id":"53","ratio":"0.000001","price":"0.10"}',
  '{"id":"54","shop":"S5","kind":"Toys","a":"1"}',
  '{"id":"55","store":"S6","shop":"S5"}',
  '{"id":"56","x":"2","a":"1"}',
  '{"id":"57","shop":"X","kind":"Nope"}',
  '{"id":"58","n":{"2":1,"1":2},"m":[{"b":1,"a":[]}]}',
  '{"id":"59","n":{"a":1,"a":2}}',
  '{"id":"60","n":[1.0,-0,1e2]}',
  '{"id":"61","n":{"a":{"b":{"c":{"d":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}}}',
  '{"id":"62","_file":"f","_line":3}',
  '{"id":"63","s":"\\u00e9\\/"}',
  '{"id":"64","s":"\u007f"}',
];

t.test('the byte path takes the common lines, and leaves tricky ones to the object path', async (t) => {
  const opts = normalize({ _: [], schema: schemaFile, memory: '512MB' } as never);
  const c = new CompiledSchema(validateSchema(SCHEMA, 'test'));
  const bc = byteCleaner(opts, c)!;
  t.ok(bc, 'a --schema run takes the byte path');
  const slab = new ByteSlab();
  const line = (s: string) => {
    const b = Buffer.from(s + '\n');
    return bc.line(b, 0, b.length - 1, slab);
  };
  t.ok(line(TRICKY[0]), 'a typical sales line');
  t.ok(line(TRICKY[1]), 'leap day, fraction and zone, -0.5, a unicode enum value');
  t.notOk(line('{"id":"31","id":"32"}'), 'a key twice');
  t.notOk(line('{"id":"1","qty":"0"}'), 'a rule fails: the object path says why');
  t.notOk(line('{ "id":"37" }'), 'white space between tokens');
  t.notOk(byteCleaner(normalize({ _: [], set: ['a = 1'], memory: '512MB' } as never), c), '--set needs objects');
});

t.test('no rules: canonical lines are copied on in runs, the others left to the object path', async (t) => {
  const bc = byteCleaner(normalize({ _: [], memory: '512MB' } as never), undefined)!;
  const nested = '{"id":"30","nested":{"a":1,"b":[1,2]},"arr":[]}';
  const texts = [TRICKY[0], nested, '{"id":"40"}\r', TRICKY[0], '{ "id":"37" }', '{"id":"31","id":"32"}', TRICKY[1]];
  const buf = Buffer.from(texts.join('\n') + '\n');
  const starts: number[] = [];
  const ends: number[] = [];
  for (let s = 0; s < buf.length;) {
    const e = buf.indexOf(0x0a, s);
    starts.push(s);
    ends.push(e);
    s = e + 1;
  }
  const slab = new ByteSlab();
  t.equal(bc.lines(buf, starts, ends, 0, slab), 4, 'up to the line with white space');
  t.equal(bc.lines(buf, starts, ends, 5, slab), 5, 'a duplicate key: the object path');
  t.equal(bc.lines(buf, starts, ends, 6, slab), 7, 'the last line');
  t.equal(
    slab.take().toString(),
    [TRICKY[0], nested, '{"id":"40"}', TRICKY[0], TRICKY[1]].join('\n') + '\n',
    'the lines as they came, CRLF as LF',
  );
});

t.test('tricky lines: both paths write the same bytes, rejects and errors', async (t) => {
  const input = Buffer.from(TRICKY.join('\n') + '\n');
  for (const flags of FLAGS) t.ok(await same(t, flags, [input], 'tricky lines'), `tricky lines: ${flags}`);
  // Lines one at a time: each is its own batch.
  for (const flags of FLAGS.slice(0, 3))
    await same(
      t,
      flags,
      TRICKY.map((l) => Buffer.from(l + '\n')),
      'one line per chunk',
    );
});

// A fixed-seed PRNG, as bench/gen-sales.mjs.
let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(rnd() * 10))).join('');
const VALUES: (() => string)[] = [
  () => `"${digits(1 + Math.floor(rnd() * 17))}"`,
  () => `"-${digits(1 + Math.floor(rnd() * 4))}"`,
  () => `"${digits(1 + Math.floor(rnd() * 9))}.${digits(Math.floor(rnd() * 5))}"`,
  () => `"-${digits(Math.floor(rnd() * 3))}.${digits(1 + Math.floor(rnd() * 16))}"`,
  () => `"0.${'0'.repeat(Math.floor(rnd() * 8))}${digits(2)}"`,
  () => `"20${digits(2)}-${pick(['01', '02', '09', '12', '13', '00'])}-${pick(['01', '28', '29', '30', '31', '32'])}"`,
  () =>
    `"2026-${pick(['02', '11'])}-${pick(['01', '29'])}T${pick(['00', '23', '24'])}:${pick(['00', '59', '60'])}:${pick(['00', '59', '60', '61'])}${pick(['', '.5', '.123456789', '.1234567890'])}${pick(['', 'Z', '+01:00', '-23:59', '+24:00', 'z'])}"`,
  () => pick(['"S1"', '"S"', '"s1"', '"Toys"', '"Garden"', '"Ünï"', '"NA"', '"n/a"', '"null"', '""', '" "']),
  () => pick(['"true"', '"false"', '"1"', '"0"', '"yes"', 'true', 'false', 'null']),
  () => pick(['1', '-1', '0', '1.5', '-0', '1e5', '0.1', '100', '1.50', '12345678901234567', '0.0000001']),
  () => pick(['"x\\"y"', '"a\\\\b"', '"\\u00e9"', '"\\ud83d\\ude00"', '"tab\\tx"', '" pad "', '"\u00a0x"', '"é"']),
  () => pick(['{"a":1}', '[1,2]', '{}', '[]']),
  () => `"${digits(2)}/${digits(2)}/20${digits(2)}"`,
];
const KEYS = [
  'id',
  'day',
  'at',
  'store',
  'qty',
  'price',
  'ratio',
  'big',
  'cat',
  'ok',
  'name',
  'when',
  'y',
  'free',
  'x',
  'a',
  'c',
  'n',
  'd',
];

function randomLine(): string {
  const n = 1 + Math.floor(rnd() * 8);
  const parts: string[] = [];
  for (let k = 0; k < n; k++) parts.push(`"${pick(KEYS)}":${pick(VALUES)()}`);
  // Mostly a clean id first, as real lines have.
  if (rnd() < 0.8) parts.unshift(`"id":"${1 + Math.floor(rnd() * 1000)}"`);
  return `{${parts.join(',')}}`;
}

t.test('random lines: both paths write the same bytes, rejects and errors', async (t) => {
  for (let round = 0; round < 4; round++) {
    const lines = Array.from({ length: 400 }, randomLine);
    const input = Buffer.from(lines.join('\n') + '\n');
    for (const flags of FLAGS)
      t.ok(await same(t, flags, [input], `random lines, round ${round}`), `random lines, round ${round}: ${flags}`);
  }
});

// Lines that repeat one key layout (as real files do), mostly with values of the field's type:
// the byte path cleans them in one pass (repeat()), and must still agree value by value.
const GOOD: Record<string, () => string> = {
  id: () => `"${1 + Math.floor(rnd() * 100000)}"`,
  day: () => `"2026-${pick(['01', '02', '11'])}-${pick(['01', '09', '28', '29'])}"`,
  at: () => `"2026-11-${pick(['02', '30'])}T${pick(['00', '17', '23'])}:23:13${pick(['Z', '', '.25Z', '+01:00'])}"`,
  store: () => `"S${digits(1 + Math.floor(rnd() * 3))}"`,
  qty: () => `"${1 + Math.floor(rnd() * 999)}"`,
  price: () => `"${digits(1 + Math.floor(rnd() * 3))}.${digits(2)}"`,
  ratio: () => pick(['"0"', '"0.1"', '"0.25"', '"1"', '"0.50"']),
  big: () => `"${digits(1 + Math.floor(rnd() * 6))}.${digits(Math.floor(rnd() * 4))}"`,
  cat: () => pick(['"Toys"', '"Garden"', '"Ünï"']),
  name: () => pick(['"Deluxe Desk, oak 1478"', '"Pro Phone"', '"é"', '"a\\"b"', '"x\\\\"', '"z"', '"\\u0001"']),
  free: () => pick(['"ab"', '"abcde"', '"é"', '"a"', '"ééé"', '"aé"', '"abcdé"', '"ééééé"', '"éééééé"', '"a\\tb"']),
  x: () => pick(['"v"', '1', '-2.5', 'true', 'null', '"\\u00e9"', '"long text without escapes"']),
};
const LAYOUTS = [
  ['id', 'day', 'at', 'store', 'qty', 'price', 'ratio', 'big', 'cat', 'name', 'free', 'x'],
  ['id', 'day', 'at', 'store', 'qty', 'price', 'cat', 'name'],
  ['x', 'name', 'id', 'price'],
  // Short texts last: fewer than four bytes left before the line's end.
  ['id', 'qty', 'name', 'free'],
  ['id', 'free', 'store', 'name'],
  // Each kind of value last, and numbers (which lose bytes) before texts and dates: repeat()
  // writes words that reach past a value, which the bytes after it must overwrite.
  ['name', 'price', 'qty', 'id'],
  ['id', 'name', 'price', 'day'],
  ['qty', 'x', 'ratio', 'at'],
  ['id', 'price', 'cat', 'x'],
  ['price', 'qty', 'day', 'price2'],
];

function layoutLine(keys: string[]): string {
  const parts = keys.map((k) => `"${k}":${GOOD[k] && rnd() < 0.97 ? GOOD[k]() : pick(VALUES)()}`);
  return `{${parts.join(',')}}`;
}

t.test('lines of one layout: the one-pass route writes what the object path writes', async (t) => {
  const lines: string[] = [];
  for (let k = 0; k < 600; k++) {
    // Mostly the first layout, sometimes another one or a line with a key changed.
    const r = rnd();
    const keys = r < 0.8 ? LAYOUTS[0] : r < 0.9 ? pick(LAYOUTS) : LAYOUTS[0].map((x) => (rnd() < 0.1 ? pick(KEYS) : x));
    lines.push(layoutLine(keys));
  }
  // Blocks of the layouts with a short text or each kind of value last.
  for (const keys of LAYOUTS.slice(3)) for (let k = 0; k < 60; k++) lines.push(layoutLine(keys));
  const input = Buffer.from(lines.join('\n') + '\n');
  for (const flags of FLAGS)
    t.ok(await same(t, flags, [input], 'lines of one layout'), `lines of one layout: ${flags}`);
  // The route is taken: many lines of a repeated layout are cleaned by it. (1020 lines: fewer
  // rejects than --max-rejects, whose message names a file that differs run by run.)
  const bc = byteCleaner(
    normalize({ _: [], schema: schemaFile, memory: '512MB' } as never),
    new CompiledSchema(validateSchema(SCHEMA, 'test')),
  )!;
  const slab = new ByteSlab();
  let s = 0;
  for (let k = 0; k < lines.length; k++) {
    const e = input.indexOf(0x0a, s);
    bc.line(input, s, e, slab);
    s = e + 1;
  }
  t.ok(bc.repeated > lines.length / 4, `${bc.repeated} of ${lines.length} lines in one pass`);
});

t.test('every cut of the input: the same output wherever the chunks end', async (t) => {
  const input = Buffer.from(
    [TRICKY[0], TRICKY[1], TRICKY[21], TRICKY[10], '', TRICKY[27], TRICKY[29], TRICKY[39], TRICKY[0]].join('\n') + '\n',
  );
  let bad = 0;
  for (const flags of [FLAGS[0], FLAGS[4], '']) {
    for (let cut = 1; cut < input.length && bad < 3; cut++) {
      if (!(await same(t, flags, [input.subarray(0, cut), input.subarray(cut)], `cut at ${cut}`))) bad++;
    }
  }
  t.equal(bad, 0, 'every cut gives the same output on both paths');
});

t.test('every cut through lines of one layout: the one-pass route wherever the chunks end', async (t) => {
  const line = (v: Record<string, string>) => `{${LAYOUTS[0].map((k) => `"${k}":${v[k] ?? '"S1"'}`).join(',')}}`;
  const base = {
    id: '"1"',
    day: '"2026-11-02"',
    at: '"2026-11-02T17:23:13Z"',
    qty: '"4"',
    price: '"387.61"',
    ratio: '"0.10"',
    big: '"12.5"',
    cat: '"Toys"',
    name: '"Deluxe Desk, oak 1478"',
    free: '"abc"',
    x: '"v"',
  };
  const input = Buffer.from(
    [
      line(base),
      line({ ...base, id: '"22"', name: '"a\\"b"', price: '"0.50"', x: '-2.5' }),
      line({ ...base, id: '"-3"', day: '"2024-02-29"', free: '"é"', x: 'true' }),
      line({ ...base, qty: '"0"' }),
      line({ ...base, at: '"2026-11-02T17:23"' }),
      line({ ...base, at: '"2026-11-30T00:23:13.25Z"', name: '"\\u0001"', x: '"\\u00e9"' }),
      line(base),
    ].join('\n') + '\n',
  );
  let bad = 0;
  for (let cut = 1; cut < input.length && bad < 3; cut++) {
    if (!(await same(t, FLAGS[0], [input.subarray(0, cut), input.subarray(cut)], `cut at ${cut}`))) bad++;
  }
  t.equal(bad, 0, 'every cut gives the same output on both paths');
});

t.test('a one-digit number at the end of each line and of the buffer: repeat() reads no word past it', async (t) => {
  const lines = [
    '{"name":"a","price":"1.50","qty":"2","id":"7"}',
    '{"name":"b","price":"0.5","qty":"3","id":"8"}',
    '{"name":"c","qty":"4","price":"9"}',
    '{"name":"d","qty":"5","price":"0.10"}',
    '{"name":"e","qty":"6","price":"7"}',
  ];
  for (const eol of ['\n', '\r\n']) {
    const chunks = lines.map((l) => Buffer.from(l + eol));
    t.ok(await same(t, FLAGS[0], [Buffer.concat(chunks)], 'one buffer'), `one buffer, ${JSON.stringify(eol)}`);
    t.ok(await same(t, FLAGS[0], chunks, 'a line per buffer'), `a line per buffer, ${JSON.stringify(eol)}`);
  }
});

t.test('errors: a malformed line, invalid UTF-8, a sealed trailer, on both paths alike', async (t) => {
  const cases: [string, Buffer][] = [
    ['not JSON after good lines', Buffer.from(`${TRICKY[0]}\n${TRICKY[17]}\n{"id":"1",\n${TRICKY[0]}\n`)],
    ['an array', Buffer.from(`${TRICKY[0]}\n[1,2]\n`)],
    [
      'invalid UTF-8',
      Buffer.concat([Buffer.from(`${TRICKY[0]}\n{"id":"1","name":"`), Buffer.from([0xff]), Buffer.from('"}\n')]),
    ],
    [
      'cut inside a character at the end',
      Buffer.concat([Buffer.from(`${TRICKY[0]}\n{"id":"1","name":"`), Buffer.from([0xc3])]),
    ],
    ['no newline at the end', Buffer.from(`${TRICKY[0]}\n${TRICKY[1]}`)],
    ['a trailer', Buffer.from(`${TRICKY[0]}\n{"@bx":"end","records":2}\n`)],
    ['a record after the trailer', Buffer.from(`${TRICKY[0]}\n{"@bx":"end","records":2}\n${TRICKY[0]}\n`)],
  ];
  for (const [what, input] of cases) {
    t.ok(await same(t, `--schema ${schemaFile}`, [input], what), `${what}: the same`);
    // Without --rejects the first failing record stops the run.
    const argv = `--schema ${schemaFile}`;
    const a = await cleanNoRejects(argv, input, false);
    const b = await cleanNoRejects(argv, input, true);
    if (!agree(a, b)) t.same(a, b, `${what}, without --rejects`);
    else t.pass(`${what}, without --rejects: the same`);
  }
});

t.test('a failure after many lines: the same lines written before it', async (t) => {
  const good = Buffer.from(`${TRICKY[0]}\n${TRICKY[17]}\n`.repeat(700));
  for (const end of ['{"id":"1",\n', '{"@bx":"end","records":1}\n{"id":"1"}\n'])
    for (const chunks of [
      [good, Buffer.from(end)],
      [good.subarray(0, 70000), good.subarray(70000), Buffer.from(end)],
    ]) {
      t.ok(await same(t, `--schema ${schemaFile}`, chunks, 'after 1400 lines'), `${JSON.stringify(end)}: the same`);
      t.ok(await same(t, ``, chunks, 'after 1400 lines, no rules'), `${JSON.stringify(end)}, no rules: the same`);
    }
});

async function cleanNoRejects(flags: string, input: Buffer, objects: boolean) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const w = (to: Buffer[]) => new Writable({ write: (c, _e, cb) => (to.push(Buffer.from(c)), cb()) });
  const code = await cli('bx-clean', spec, [...flags.split(' '), '-q'], {
    stdin: Readable.from([Buffer.from(FIRST), input]),
    stdout: w(out),
    stderr: w(err),
    env: objects ? { BX_CLEAN_OBJECTS: '1' } : {},
    cwd: () => root,
  });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
