// bx-load --to csv|tsv|ndjson|xml in real pipes: what bx-extract reads back, gzip, stdout, and
// atomicity (a failed run leaves the old file as it was and no temp file beside it).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { ndjson, sh, shared, tmp } from '../helpers.js';
import { xmlNameToKey } from '../../src/formats/xml-write.js';

const superstore = shared('superstore.csv');
const nd = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';
/** Files in `dir` other than `keep`: temp files left behind would show here. */
const others = (dir: string, ...keep: string[]) => readdirSync(dir).filter((f) => !keep.includes(f));

t.test('superstore: bx-extract | bx-load --to csv, then bx-extract of the file gives the same records', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out.csv');
  const r = await sh(`bx-extract ${superstore} | bx-load --to csv --path ${out}`);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /bx-load: done: 10194 rows in, 10194 out, .*wrote .*out\.csv/);
  const want = await sh(`bx-extract -q ${superstore}`);
  const back = await sh(`bx-extract -q ${out}`);
  t.equal(back.code, 0, back.stderr);
  t.equal(ndjson(back.stdout).length, 10194);
  t.equal(back.stdout, want.stdout, 'the same records, byte for byte');
  t.same(others(dir, 'out.csv'), [], 'no temp file left');
  t.match(
    readFileSync(out, 'utf8'),
    /^Row ID,Order ID,Order Date,/,
    'header from the first record, no BOM unless asked',
  );
});

t.test('.gz is gzip; bx-extract reads it back; --bom and --no-header', async (t) => {
  const dir = tmp(t);
  const r = await sh(
    `bx-extract ${superstore} | bx-load -q --to csv --path ${dir}/out.csv.gz && bx-extract -q ${superstore} | bx-load -q --to csv --path ${dir}/plain.csv`,
  );
  t.equal(r.code, 0, r.stderr);
  const gz = readFileSync(join(dir, 'out.csv.gz'));
  t.equal(gz[0], 0x1f, 'gzip magic');
  t.equal(gz[1], 0x8b);
  t.equal(gunzipSync(gz).toString('utf8'), readFileSync(join(dir, 'plain.csv'), 'utf8'), 'gunzip gives the plain file');
  const a = await sh(`bx-extract -q ${dir}/out.csv.gz`);
  const b = await sh(`bx-extract -q ${superstore}`);
  t.equal(a.stdout, b.stdout);
  const bom = await sh(`bx-load -q --to csv --bom --path - <<< '{"a":"x"}'`);
  t.equal(bom.stdout, '\uFEFFa\nx\n');
  const nh = await sh(`bx-load -q --to csv --no-header --path - <<< '{"a":"x","b":1}'`);
  t.equal(nh.stdout, 'x,1\n');
  const semi = await sh(`bx-load -q --to csv --delimiter ';' --path - <<< '{"a":"x;y","b":1}'`);
  t.equal(semi.stdout, 'a;b\n"x;y";1\n');
  t.same(others(dir, 'out.csv.gz', 'plain.csv'), []);
});

t.test('--path - writes to stdout; a reader that leaves early ends the run with 0', async (t) => {
  // bx-extract -q: whether it finishes before bx-load stops reading is a race (bx-load queues up
  // to 8 MiB for its stdout thread), and its done line is not what this test is about.
  const r = await sh(`bx-extract -q ${superstore} | bx-load -q --to csv --path - | head -n 3`);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.split('\n').length, 4);
  t.match(r.stdout, /^Row ID,/);
  t.equal(r.stderr, '');
  const x = await sh(`bx-extract ${superstore} | bx-load -q --to xml --path - | head -n 2`);
  t.equal(x.code, 0, x.stderr);
  t.equal(
    x.stdout,
    '<?xml version="1.0" encoding="UTF-8"?>\n<records xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n',
  );
  const n = await sh(`bx-extract ${superstore} | bx-load -q --to ndjson --path -`);
  t.equal(n.code, 0, n.stderr);
  t.equal(
    n.stdout,
    (await sh(`bx-extract -q ${superstore}`)).stdout,
    '--to ndjson gives the records as bx-extract wrote them',
  );
});

t.test('a failed input leaves the old file untouched and no temp file', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out.csv');
  const old = 'old,file\n1,2\n';
  const good = Array.from({ length: 3000 }, (_, i) => ({ id: i, v: `row ${i}` }));
  const cases: [string, string, string | Buffer, Record<string, string>, RegExp][] = [
    [
      'a malformed NDJSON line mid-way',
      `bx-load --to csv --path ${out}`,
      nd(...good.slice(0, 2000)) + '{"id": oops\n' + nd(...good.slice(2000)),
      {},
      /^bx-load: stdin:2001: not valid JSON/m,
    ],
    [
      'a new key mid-way (the header cannot have it)',
      `bx-load --to csv --path ${out}`,
      nd(...good.slice(0, 2500), { id: 1, v: 'x', extra: 1 }),
      {},
      /^bx-load: stdin:2501: field "extra": not a column of this CSV file/m,
    ],
    [
      'BX_SEAL=1 and an input without its end-of-stream mark',
      `bx-load --to csv --path ${out}`,
      nd(...good),
      { BX_SEAL: '1' },
      /^bx-load: .*input ended without its end-of-stream mark/m,
    ],
    [
      'a killed upstream stage (sealed pipe)',
      `(bx-extract ${superstore} | head -n 5000) | bx-load --to csv --path ${out}`,
      '',
      { BX_SEAL: '1' },
      /end-of-stream mark/,
    ],
    [
      'TSV: a tab in a value',
      `bx-load --to tsv --path ${out}`,
      nd(...good.slice(0, 2000), { id: 1, v: 'a\tb' }),
      {},
      /^bx-load: stdin:2001: field "v": the value holds a tab/m,
    ],
    [
      'XML: a control character',
      `bx-load --to xml --path ${out}`,
      nd(...good.slice(0, 2000), { id: 1, v: 'bell\u0007' }),
      {},
      /^bx-load: stdin:2001: field "v": the value holds U\+0007/m,
    ],
    [
      'gzip output and a bad line',
      `bx-load --to csv --path ${out}.gz`,
      nd(...good) + 'not json\n',
      {},
      /stdin:3001: not valid JSON/,
    ],
  ];
  for (const [what, cmd, input, env, err] of cases) {
    writeFileSync(out, old);
    writeFileSync(`${out}.gz`, old);
    const r = await sh(cmd, { input, env });
    t.equal(r.code, 65, `${what}: exit 65`);
    t.match(r.stderr, err, what);
    t.equal(readFileSync(out, 'utf8'), old, `${what}: the old file is as it was`);
    t.equal(readFileSync(`${out}.gz`, 'utf8'), old);
    t.same(others(dir, 'out.csv', 'out.csv.gz'), [], `${what}: no temp file`);
  }
  // The same sealed input with its mark is written.
  const sealed = await sh(`bx-extract ${superstore} | bx-load -q --to csv --path ${out}`, { env: { BX_SEAL: '1' } });
  t.equal(sealed.code, 0, sealed.stderr);
  t.match(readFileSync(out, 'utf8'), /^Row ID,/);
  // A run that fails leaves no file where there was none.
  const fresh = join(dir, 'fresh.csv');
  const r = await sh(`bx-load --to csv --path ${fresh}`, { input: nd({ a: 1 }) + '{bad\n' });
  t.equal(r.code, 65);
  t.notOk(existsSync(fresh), 'no file');
  t.same(others(dir, 'out.csv', 'out.csv.gz'), []);
});

t.test('SIGTERM: the temp file goes at once, the old file stays, exit 143', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out.csv');
  writeFileSync(out, 'old\n');
  // The input stays open 3 s after its records, so bx-load is mid-run when the signal comes.
  const r = await sh(
    `( bx-extract -q ${superstore}; sleep 3 ) | bx-load -q --to csv --path ${out} & pid=$!; sleep 1.5; ls -a ${dir} | grep -c '\\.tmp$'; kill -TERM $pid; sleep 0.3; ls -a ${dir} | grep -c '\\.tmp$'; wait $pid; echo "exit $?"`,
  );
  const [before, after, exit] = r.stdout.trim().split('\n');
  t.equal(before, '1', 'a temp file while the run writes');
  t.equal(after, '0', 'gone right after the signal');
  t.equal(exit, 'exit 143', r.stderr);
  t.equal(readFileSync(out, 'utf8'), 'old\n');
  t.same(others(dir, 'out.csv'), []);
});

t.test('TSV round trip of superstore', async (t) => {
  const dir = tmp(t);
  const r = await sh(
    `bx-extract ${superstore} | bx-load -q --to tsv --path ${dir}/out.tsv && bx-extract -q ${dir}/out.tsv`,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, (await sh(`bx-extract -q ${superstore}`)).stdout, 'the same records');
  t.match(readFileSync(join(dir, 'out.tsv'), 'utf8'), /^Row ID\tOrder ID\t/);
  const bad = await sh(`bx-load -q --to tsv --delimiter ';' --path ${dir}/x.tsv <<< '{"a":1}'`);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--to tsv is tab-separated/);
  t.same(others(dir, 'out.tsv'), []);
});

t.test('XML round trip: bx-load --to xml, then bx-extract --record-path records.record', async (t) => {
  const dir = tmp(t);
  const strings = [
    {
      id: '1',
      text: 'a < b & c > d ]]> e',
      quote: `"double" 'single'`,
      crlf: 'line1\r\nline2\rline3\nline4',
      tab: '\tlead',
      space: '  both  ',
      empty: '',
      uni: 'zoë 東京 🚀 \u2028',
    },
    { id: '2', text: '&amp; stays text', quote: '', crlf: '\r', tab: 'x', space: ' ', empty: '', uni: '\uFFFD' },
  ];
  const r = await sh(
    `bx-load -q --to xml --path ${dir}/out.xml && bx-extract -q --record-path records.record ${dir}/out.xml`,
    { input: nd(...strings) },
  );
  t.equal(r.code, 0, r.stderr);
  t.same(ndjson(r.stdout), strings, 'the same records');
  // Superstore's field names have spaces and slashes: mapped as SQL/XML, they decode back.
  const s = await sh(
    `bx-extract ${superstore} | bx-load -q --to xml --xml-root orders --xml-record order --path ${dir}/s.xml && bx-extract -q --record-path orders.order ${dir}/s.xml`,
  );
  t.equal(s.code, 0, s.stderr);
  const back = ndjson(s.stdout).map((rec) =>
    Object.fromEntries(Object.entries(rec).map(([k, v]) => [xmlNameToKey(k), v])),
  );
  const want = ndjson((await sh(`bx-extract -q ${superstore}`)).stdout);
  t.equal(back.length, 10194);
  t.same(back, want, 'same records once the names are decoded');
  t.match(readFileSync(join(dir, 's.xml'), 'utf8'), /<order><Row_x0020_ID>1<\/Row_x0020_ID>/);
  // null and nesting
  const n = await sh(`bx-load -q --to xml --path - | bx-extract -q --format xml --record-path records.record -`, {
    input: nd({ a: null, b: { c: ['1', '2'] } }),
  });
  t.same(ndjson(n.stdout), [{ a: null, b: { c: ['1', '2'] } }]);
  const bad = await sh(`bx-load -q --to xml --xml-root 'my root' --path ${dir}/bad.xml <<< '{"a":1}'`);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /^bx-load: --xml-root "my root": not an XML element name/m);
  t.notOk(existsSync(join(dir, 'bad.xml')));
  t.same(others(dir, 'out.xml', 's.xml'), []);
});

t.test('--csv-safe in a real file', async (t) => {
  const dir = tmp(t);
  const input = nd({ a: '=HYPERLINK("http://evil","x")', b: -12.5, c: '-12.5', d: '+1', e: '@cmd', f: 'ok' });
  const r = await sh(`bx-load -q --to csv --csv-safe --path ${dir}/s.csv`, { input });
  t.equal(r.code, 0, r.stderr);
  t.equal(
    readFileSync(join(dir, 's.csv'), 'utf8'),
    `a,b,c,d,e,f\n"'=HYPERLINK(""http://evil"",""x"")",-12.5,-12.5,'+1,'@cmd,ok\n`,
  );
  const plain = await sh(`bx-load -q --to csv --path - `, { input });
  t.match(plain.stdout, /^a,b,c,d,e,f\n"=HYPERLINK/, 'without the flag, cells are as they are');
});

t.test('flags of another format are usage errors; nothing is created', async (t) => {
  const dir = tmp(t);
  for (const [args, err] of [
    ['--to ndjson --bom', /--bom is for --to csv or tsv, not --to ndjson/],
    ['--to xml --no-header', /--no-header is for --to csv or tsv/],
    ['--to csv --xml-root x', /--xml-root is for --to xml/],
    ["--to csv --delimiter '\"'", /the double quote is the CSV quote character/],
    ['--to xml --xml-record 1x', /--xml-record "1x": not an XML element name/],
  ] as const) {
    const r = await sh(`bx-load ${args} --path ${dir}/o <<< '{"a":1}'`);
    t.equal(r.code, 64, args);
    t.match(r.stderr, err, args);
  }
  t.same(readdirSync(dir), []);
  const nodir = await sh(`bx-load --to csv --path ${dir}/no/such/dir/o.csv <<< '{"a":1}'`);
  t.equal(nodir.code, 73);
  t.match(nodir.stderr, /^bx-load: cannot create the CSV file .*no\/such\/dir\/o\.csv/m);
});
