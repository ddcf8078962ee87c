// bx-clean in real pipes: the superstore file typed by an inferred schema, a messy file with
// its exact rejects, the normalising flags, expressions, dedupe, privacy, sealing, help and man.
import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import t from 'tap';
import { spec } from '../../src/commands/clean.js';
import { cli } from '../../src/run/cli.js';
import { fx, ndjson, root, sh, shared, tmp } from '../helpers.js';

/** Runs bx-clean in this process: argv split as bash would (quotes only), stdin from text. */
async function cleanIn(flags: string, input: string, env: Record<string, string> = {}) {
  const argv = [...flags.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  const collect = () => {
    const chunks: Buffer[] = [];
    const w = new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) });
    return { w, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = collect();
  const err = collect();
  const code = await cli('bx-clean', spec, argv, {
    stdin: Readable.from([input]),
    stdout: out.w,
    stderr: err.w,
    env: { ...env },
    cwd: () => root,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

const KEY = '0123456789abcdef0123456789abcdef';
const dir = fx('clean');
const messy = `cd ${dir} && bx-extract --lineage messy.csv | bx-clean --schema orders.schema.json --trim --dedupe order_id --where 'category != "Test"' --set 'revenue = qty * unit_price * (1 - discount)' --hash email --mask card`;

t.test('superstore: the inferred schema types every record, nothing rejected', async (t) => {
  const d = tmp(t);
  const schema = join(d, 'superstore.schema.json');
  const inf = await sh(`bx-extract ${shared('superstore.csv')} | bx-schema > ${schema}`);
  t.equal(inf.code, 0, inf.stderr);
  const s = JSON.parse(readFileSync(schema, 'utf8'));
  const f = (n: string) => s.fields.find((x: { name: string }) => x.name === n);
  t.equal(f('Row ID').type, 'integer');
  t.equal(f('Quantity').type, 'integer');
  for (const n of ['Sales', 'Discount', 'Profit']) {
    t.equal(f(n).type, 'number', `${n} is a number`);
    t.type(f(n)['bx:scale'], 'number', `${n} is a decimal with a scale`);
  }
  t.same([f('Order Date').type, f('Order Date').format], ['date', '%d/%m/%y'], 'dd/mm/yy: days above 12 prove it');
  t.equal(f('Postal Code').type, 'string', 'zip codes with leading zeros stay text');
  t.same(s.primaryKey, ['Row ID']);

  const r = await sh(
    `bx-extract --lineage ${shared('superstore.csv')} | bx-clean --schema ${schema} --rejects ${d}/rejects.ndjson`,
  );
  t.equal(r.code, 0, r.stderr);
  const out = ndjson(r.stdout);
  t.equal(out.length, 10194);
  t.equal(out[0]['Order Date'], '2019-01-03', '03/01/19 is 3 January 2019');
  t.equal(out[0]['Row ID'], 1);
  t.equal(out[0].Sales, 16.448);
  t.equal(out[1].Profit, -5.487);
  t.equal(readFileSync(`${d}/rejects.ndjson`, 'utf8'), '', 'no rejects');
  t.match(r.stderr, /bx-clean: done: 10194 rows in, 10194 out, 0 rejected/);

  const typed = await sh(
    `bx-extract ${shared('superstore.csv')} | bx-clean --type "Order Date:date:%d/%m/%y" --type Sales:decimal --type Quantity:integer | head -n 1`,
  );
  t.equal(typed.code, 0);
  t.match(ndjson(typed.stdout)[0], { 'Order Date': '2019-01-03', Sales: 16.448, Quantity: 2, 'Row ID': '1' });
});

t.test('a messy file: exact rejects, counts by rule, typed and derived output', async (t) => {
  const d = tmp(t);
  const r = await sh(`${messy} --rejects ${d}/rejects.ndjson`, { env: { BX_HASH_KEY: KEY } });
  t.equal(r.code, 0, r.stderr);
  t.equal(
    readFileSync(`${d}/rejects.ndjson`, 'utf8'),
    readFileSync(join(dir, 'messy.rejects.ndjson'), 'utf8'),
    'the exact reject lines',
  );
  t.equal(statSync(`${d}/rejects.ndjson`).mode & 0o777, 0o600, 'rejects file is 0600');
  t.equal(r.stdout, readFileSync(join(dir, 'messy.out.ndjson'), 'utf8'));
  const out = ndjson(r.stdout);
  t.equal(
    out[0].email,
    createHmac('sha256', KEY).update('ada@example.com').digest('hex'),
    'HMAC-SHA-256 under BX_HASH_KEY',
  );
  t.equal(out[0].card, '************1111');
  t.equal(out[1].order_date, '2019-01-07', 'trimmed, then typed');
  t.equal(out[1].revenue, 0.15, '3 * 0.10 * (1 - 0.5), exactly');
  t.match(
    r.stderr,
    /bx-clean: done: 9 rows in, 2 out, 6 rejected, .*by rule: integer 1, date 1, required 2, duplicate 1, decimal 1, minimum 1; 1 filtered out by --where/,
  );
  t.notMatch(r.stderr + r.stdout, KEY, 'the key never shows');

  const over = await sh(`${messy} --rejects ${d}/over.ndjson --max-rejects 3`, { env: { BX_HASH_KEY: KEY } });
  t.equal(over.code, 65, '--max-rejects 3 fails the run');
  t.match(over.stderr, /^bx-clean: messy\.csv:6: too many rejects: more than --max-rejects 3/m);
  t.equal(readFileSync(`${d}/over.ndjson`, 'utf8').split('\n').length - 1, 4, 'the rejects so far are kept to look at');
  const pct = await sh(`${messy} --rejects ${d}/pct.ndjson --max-rejects 50%`, { env: { BX_HASH_KEY: KEY } });
  t.equal(pct.code, 65, '6 of 9 is more than 50%');
  t.match(pct.stderr, /too many rejects: 6 of 9 rows \(66\.67%\) exceed --max-rejects 50%/);
  const ok = await sh(`${messy} --rejects ${d}/ok.ndjson --max-rejects 70%`, { env: { BX_HASH_KEY: KEY } });
  t.equal(ok.code, 0);
});

t.test('without --rejects the first reject is the error, naming file, line and field', async (t) => {
  const r = await sh(messy, { env: { BX_HASH_KEY: KEY } });
  t.equal(r.code, 65);
  t.match(r.stderr, /^bx-clean: messy\.csv:3: field "qty": expected an integer, got "x"$/m);
  t.notMatch(r.stderr, /\n\s+at /);
  const plain = await sh(`bx-clean --type n:integer`, { input: '{"n":"1"}\n{"n":"2"}\n{"n":"two"}\n' });
  t.equal(plain.code, 65);
  t.match(plain.stderr, /^bx-clean: stdin:3: field "n": expected an integer, got "two"$/m);
  const bad = await sh(`bx-clean --type d:date`, { input: '{"d":"2026-02-30"}\n' });
  t.match(bad.stderr, /stdin:1: field "d": expected a valid date \(ISO 8601\), got "2026-02-30"/, 'never rolled over');
});

t.test('normalising flags, in their documented order', async (t) => {
  const cases: [string, string, string][] = [
    ['--trim', '{"a":"  x ","b":1}', '{"a":"x","b":1}'],
    ['--null-values "NA,null,"', '{"a":"NA","b":"null","c":"","d":"n/a"}', '{"a":null,"b":null,"c":null,"d":"n/a"}'],
    ['--trim --null-values NA', '{"a":" NA "}', '{"a":null}'],
    ['--rename a=x --rename b=y', '{"a":1,"b":2,"c":3}', '{"x":1,"y":2,"c":3}'],
    ['--keep c,a', '{"a":1,"b":2,"c":3}', '{"c":3,"a":1}'],
    ['--keep a --keep z', '{"a":1}', '{"a":1,"z":null}'],
    ['--drop a,c', '{"a":1,"b":2,"c":3}', '{"b":2}'],
    ['--default qty=0 --type qty:integer', '{"qty":null}\n{"x":1}', '{"qty":0}\n{"x":1,"qty":0}'],
    ['--lower a --upper b', '{"a":"MiXed","b":"straße","c":"Keep"}', '{"a":"mixed","b":"STRASSE","c":"Keep"}'],
    ['--rename old=new --required new', '{"old":1}', '{"new":1}'],
    ['--type n:integer', '{"n":"9007199254740993"}', '{"n":"9007199254740993"}'],
    ['--type n:decimal', '{"n":"0.1000000000000000000001"}', '{"n":"0.1000000000000000000001"}'],
    ['--type n:decimal:2', '{"n":"2.345"}\n{"n":"-0.001"}', '{"n":2.35}\n{"n":0}'],
    ['--type "t:datetime:%d/%m/%Y %H:%M %z"', '{"t":"23/11/2026 14:05 +0100"}', '{"t":"2026-11-23T14:05:00+01:00"}'],
    ['--type ok:boolean', '{"ok":"TRUE"}\n{"ok":"0"}', '{"ok":true}\n{"ok":false}'],
    [
      '--enum c=a,b --min n=1 --max n=10 --pattern "s=[a-z]+"',
      '{"c":"a","n":"10","s":"abc"}',
      '{"c":"a","n":"10","s":"abc"}',
    ],
    ["--set 'total = 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1'", '{}', '{"total":1}'],
    ["--set 'x = a * 2' --set 'y = x + 1' --where 'y > 5'", '{"a":1}\n{"a":3}', '{"a":3,"x":6,"y":7}'],
    ['--where \'v is null or v = ""\'', '{"v":null}\n{"v":""}\n{"v":"x"}', '{"v":null}\n{"v":""}'],
    ['--redact secret', '{"secret":"s3cr3t","k":1}', '{"secret":null,"k":1}'],
    [
      '--trim --lower __proto__ --type __proto__:string --set "b = concat(`__proto__`, \'!\')"',
      '{"__proto__":" X ","a":1}',
      '{"__proto__":"x","a":1,"b":"x!"}',
    ],
    [
      '--dedupe a,b --rejects /dev/null',
      '{"a":1,"b":"x"}\n{"a":1,"b":"y"}\n{"a":1,"b":"x"}',
      '{"a":1,"b":"x"}\n{"a":1,"b":"y"}',
    ],
    // Keys keep source order, also integer-like ones, which an object would list first.
    ['', '{"name":"a","2019":"x","1":"y","01":"z"}\n{"b":1}', '{"name":"a","2019":"x","1":"y","01":"z"}\n{"b":1}'],
    ['--type 2019:integer', '{"name":"a","2019":"7","c":{"k":1}}', '{"name":"a","2019":7,"c":{"k":1}}'],
    [
      "--rename b=7 --drop 01 --set '`3` = 1 + 1' --default 5=d",
      '{"name":"a","2019":"x","01":"z","b":"w"}',
      '{"name":"a","2019":"x","7":"w","5":"d","3":2}',
    ],
    ['--rename a=5', '{"a":1,"2":2}', '{"5":1,"2":2}'],
    ['--keep 1,name', '{"name":"a","1":"y","x":0}', '{"1":"y","name":"a"}'],
    ['--drop x', '{"x":0,"b":1,"0":2,"a":3}', '{"b":1,"0":2,"a":3}'],
    ["--set '`2` = a'", '{"a":1,"b":2}', '{"a":1,"b":2,"2":1}'],
  ];
  // in-process through cli(): the same argv parsing, without a node start-up per case
  for (const [flags, input, want] of cases) {
    const r = await cleanIn(`-q ${flags}`, input + '\n');
    t.equal(r.code, 0, `${flags}: exit 0 (${r.stderr.trim()})`);
    t.equal(r.stdout, want + '\n', flags);
  }
});

t.test('rule failures from flags and expressions become rejects with every rule listed', async (t) => {
  const d = tmp(t);
  const input = ['{"c":"z","n":"11","s":"ABC"}', '{"q":0}', '{"n":"x"}'].join('\n') + '\n';
  const r = await sh(
    `bx-clean --enum c=a,b --max n=10 --pattern "s=[a-z]+" --set 'r = 1 / q' --rejects ${d}/r.ndjson`,
    { input },
  );
  t.equal(r.code, 0, r.stderr);
  const rej = ndjson(readFileSync(`${d}/r.ndjson`, 'utf8'));
  t.same(
    rej.map((x) => (x.errors as { field?: string; rule: string }[]).map((e) => `${e.field}:${e.rule}`)),
    [['n:maximum', 's:pattern', 'c:enum'], ['r:expression'], ['n:maximum']],
  );
  t.equal(rej[0].source, 'stdin:1');
  t.match(rej[1].errors, [{ message: '--set "r = 1 / q": division by zero' }]);
  t.equal(r.stdout, '');
});

t.test('a typed field that no record holds is warned about (a misspelt name)', async (t) => {
  const r = await cleanIn('--type Qty:integer --type n:integer --rename old=n', '{"qty":"1","old":"2"}\n');
  t.equal(r.code, 0);
  t.equal(r.stdout, '{"qty":"1","n":2,"Qty":null}\n');
  t.match(
    r.stderr,
    /^bx-clean: warning: field "Qty" \(from the command line\) is in none of the first 1 records; is the name right\?$/m,
  );
  t.notMatch(r.stderr, /field "n"/);
});

t.test('privacy: no key, no run (78); the key never appears', async (t) => {
  const none = await sh('bx-clean --hash email', { input: '{"email":"a@b"}\n', env: { BX_HASH_KEY: undefined } });
  t.equal(none.code, 78);
  t.match(none.stderr, /^bx-clean: --hash needs a secret key in the environment variable BX_HASH_KEY/m);
  t.equal(none.stdout, '');
  const r = await sh('bx-clean -v --log-format json --hash email --mask card --set "k = concat(email, card)"', {
    input: `{"email":"${KEY}","card":"4111111111111111"}\n`,
    env: { BX_HASH_KEY: KEY },
  });
  t.equal(r.code, 0);
  const out = ndjson(r.stdout)[0];
  t.equal(out.card, '************1111');
  t.equal(out.email, createHmac('sha256', KEY).update(KEY).digest('hex'));
  t.notMatch(r.stderr, KEY, 'not in the logs');
  const run2 = await sh('bx-clean --hash email', { input: `{"email":"a@b"}\n`, env: { BX_HASH_KEY: KEY } });
  const run3 = await sh('bx-clean --hash email', { input: `{"email":"a@b"}\n`, env: { BX_HASH_KEY: KEY } });
  t.equal(run2.stdout, run3.stdout, 'stable across runs, so joins still work');
});

t.test('usage errors and configuration errors are one line', async (t) => {
  const bad: [string, number, RegExp][] = [
    ['--type qty', 64, /--type: expected FIELD:TYPE\[:FORMAT\], got "qty"/],
    ['--type qty:float8', 64, /--type qty:float8: unknown type "float8"/],
    ["--where 'qty >'", 64, /--where: unexpected end of expression at column 6/],
    ["--set 'x'", 64, /--set: expected "=", found the end/],
    ['--set \'x = constructor("return process")()\'', 64, /unknown function "constructor"/],
    ['--max-rejects 10', 64, /--max-rejects needs --rejects FILE/],
    ['--rejects r.ndjson --max-rejects lots', 64, /--max-rejects: expected a count/],
    ['--pattern "s=("', 64, /--pattern s=\(: not a valid regular expression/],
    ['--min n', 64, /--min: expected FIELD=VALUE, got "n"/],
    ['--schema /nonexistent/s.json', 66, /\/nonexistent\/s\.json: no such schema file/],
    [`--schema ${join(root, 'package.json')}`, 78, /package\.json: "fields" must be an array/],
    ['--type d:date --min d=yesterday', 64, /field "d": constraint minimum "yesterday" does not suit a date field/],
  ];
  for (const [flags, code, re] of bad) {
    const r = await cleanIn(flags, '{"qty":1}\n');
    t.equal(r.code, code, `${flags} exits ${code}`);
    t.match(r.stderr, re, flags);
    t.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^bx-clean: try/.test(l)).length,
      1,
      `${flags}: one line`,
    );
  }
});

t.test('sealed streams: trailer out, missing trailer in is a failed input', async (t) => {
  const r = await sh(`bx-extract ${fx('clean/messy.csv')} | bx-clean --type qty:any --keep order_id`, {
    env: { BX_SEAL: '1' },
  });
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.at(-1), '{"@bx":"end","records":9}');
  const cut = await sh('printf \'{"a":1}\\n\' | bx-clean', { env: { BX_SEAL: '1' } });
  t.equal(cut.code, 65);
  t.match(cut.stderr, /input ended without its end-of-stream mark/);
  t.equal(cut.stdout, '', 'no trailer of its own');
  const head = await sh(`bx-extract ${shared('superstore.csv')} | bx-clean --trim | head -n 2`);
  t.equal(head.code, 0, 'a reader leaving early is fine');
  t.equal(head.stdout.split('\n').length, 3);
});

t.test('summary on a pipe: rows in, out, rejected, by rule', async (t) => {
  const d = tmp(t);
  writeFileSync(`${d}/in.ndjson`, '{"n":"1"}\n{"n":"x"}\n{"n":"1"}\n');
  const r = await sh(`bx-clean ${d}/in.ndjson --type n:integer --dedupe n --rejects ${d}/r.ndjson --log-format json`);
  t.equal(r.code, 0);
  const summary = r.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((l) => l.event === 'summary');
  t.match(summary, { rows_in: 3, rows_out: 1, rejected: 2 });
  t.match(summary.msg ?? summary.message ?? JSON.stringify(summary), /by rule: integer 1, duplicate 1/);
  const rej = ndjson(readFileSync(`${d}/r.ndjson`, 'utf8'));
  t.equal(rej[0].source, `${d}/in.ndjson:2`);
  t.equal(rej[1].source, `${d}/in.ndjson:3`);
});

t.test('the byte path and the object path (BX_CLEAN_OBJECTS=1) agree on real data in real pipes', async (t) => {
  const d = tmp(t);
  const schema = join(d, 'superstore.schema.json');
  t.equal((await sh(`bx-extract ${shared('superstore.csv')} | bx-schema > ${schema}`)).code, 0);
  // Every field typed (dates in dd/mm/yy take the converter), a range and a pattern to check,
  // some rows rejected, fields renamed and dropped, sealed.
  const flags = [
    `--schema ${schema} --min Sales=10 --pattern 'Ship Mode=[A-Z][a-z]+ Class' --rejects ${d}/REJ`,
    `--schema ${schema} --trim --null-values 'N/A,' --drop 'Row ID,Country' --rejects ${d}/REJ`,
    `--type Quantity:integer --type Discount:decimal:1 --rename 'Customer Name=customer' --keep 'Order ID,customer,Quantity,Discount,missing' --rejects ${d}/REJ`,
    `--type Sales:number --rename 'Customer Name=customer' --rename Segment=seg --drop 'Row ID' --rejects ${d}/REJ`,
  ];
  for (const f of flags) {
    const run = (objects: boolean) =>
      sh(
        `bx-extract -q --lineage ${shared('superstore.csv')} | bx-clean ${f.replace('REJ', objects ? 'o.ndjson' : 'b.ndjson')} -q`,
        { env: { BX_SEAL: '1', ...(objects ? { BX_CLEAN_OBJECTS: '1' } : {}) } },
      );
    const b = await run(false);
    const o = await run(true);
    t.equal(b.code, 0, b.stderr);
    t.equal(b.stdout, o.stdout, `the same output: ${f}`);
    t.equal(b.stderr, o.stderr);
    t.equal(readFileSync(`${d}/b.ndjson`, 'utf8'), readFileSync(`${d}/o.ndjson`, 'utf8'), 'the same rejects');
    t.ok(ndjson(b.stdout).length > 1000, 'rows went through');
  }
});

t.test('on a shell pipe, output slabs are used again and the bytes are those of process.stdout', async (t) => {
  const d = tmp(t);
  const schema = join(d, 'sales.schema.json');
  writeFileSync(
    schema,
    JSON.stringify({
      fields: [
        { name: 'sale_id', type: 'integer', constraints: { required: true } },
        { name: 'sale_date', type: 'date' },
        { name: 'sold_at', type: 'datetime' },
        { name: 'store_id', type: 'string', constraints: { pattern: 'S[0-9]+' } },
        { name: 'register', type: 'integer', constraints: { minimum: 1 } },
        { name: 'quantity', type: 'integer', constraints: { minimum: 1, maximum: 1000 } },
        { name: 'unit_price', type: 'number', 'bx:scale': 2, constraints: { minimum: 0 } },
        { name: 'discount', type: 'number', 'bx:scale': 2 },
      ],
    }),
  );
  // ~25 MB of output: past PipeOut's 8 MiB queue, so retired slabs come round again.
  const input = join(d, 'sales.ndjson');
  const gen = await sh(`node bench/gen-sales.mjs 100000 ndjson > ${input}`);
  t.equal(gen.code, 0, gen.stderr);
  const piped = await sh(`bx-clean -v --schema ${schema} < ${input} | md5sum`);
  t.equal(piped.code, 0, piped.stderr);
  const reused = /; (\d+) output slabs used again/.exec(piped.stderr);
  t.ok(reused && Number(reused[1]) > 5, `slabs used again: ${reused?.[1]}`);
  const plain = await sh(`bx-clean --schema ${schema} < ${input} | md5sum`, { env: { BX_PIPE_OUT: '0' } });
  t.equal(plain.code, 0, plain.stderr);
  t.equal(piped.stdout, plain.stdout, 'the same bytes as through process.stdout');
  t.notMatch(plain.stderr, /slabs used again/);
});
