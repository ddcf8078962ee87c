// bx-extract end to end: the real binary in real bash pipes, on real and hostile input.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { fx, ndjson, sh, shared, tmp } from '../helpers.js';

const x = (name: string) => fx(`extract/${name}`);

t.test('superstore.csv: 10194 records, BOM gone, quoted commas and doubled quotes intact', async (t) => {
  const r = await sh(`bx-extract ${shared('superstore.csv')}`);
  t.equal(r.code, 0, r.stderr);
  const recs = ndjson(r.stdout);
  t.equal(recs.length, 10194);
  t.equal(Object.keys(recs[0])[0], 'Row ID');
  t.equal(recs[0]['Product Name'], 'Message Book, Wirebound, Four 5 1/2" X 4" Forms/Pg., 200 Dupl. Sets/Book');
  t.equal(recs[0]['Postal Code'], '77095', 'values stay strings');
  t.match(r.stderr, /done: 10194 rows in, 10194 out, 0 rejected/);
});

t.test('a reader leaving early (| head) ends the run with 0 and no error', async (t) => {
  const dir = tmp(t);
  const rows = ['id,name,note'];
  for (let i = 0; i < 200000; i++) rows.push(`${i},name ${i},"a, b"`);
  writeFileSync(join(dir, 'big.csv'), rows.join('\n') + '\n');
  const r = await sh(`bx-extract ${join(dir, 'big.csv')} | head -n 3`);
  t.equal(r.code, 0);
  t.equal(r.stdout.split('\n').length, 4);
  t.notMatch(r.stderr, /error|EPIPE/i);
});

t.test('every format, chosen by extension or --format', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'a.tsv'), 'id\tname\tnote\n1\tAnn\t"quoted" as data\n');
  writeFileSync(join(dir, 'a.jsonl'), '{"id":1,"n":12345678901234567890}\r\n{"id":2,"n":0.1}\n');
  writeFileSync(join(dir, 'a.data'), 'id,name\n1,Ann\n');
  const cases: [string, unknown[]][] = [
    [`bx-extract ${join(dir, 'a.tsv')}`, [{ id: '1', name: 'Ann', note: '"quoted" as data' }]],
    [
      `bx-extract ${join(dir, 'a.jsonl')}`,
      [
        { id: 1, n: '12345678901234567890' },
        { id: 2, n: 0.1 },
      ],
    ],
    [`bx-extract --format csv ${join(dir, 'a.data')}`, [{ id: '1', name: 'Ann' }]],
    [`bx-extract ${x('top.json')}`, [{ a: 1 }, { a: 2 }]],
    [
      `bx-extract --record-path data.items ${x('rows.json')}`,
      [
        { id: 1, big: '12345678901234567890', name: 'a' },
        { id: 2, price: 0.1, nested: { x: [1, 2] }, ['__proto__']: 'p' },
      ],
    ],
    [`bx-extract ${x('sealed.ndjson')}`, [{ a: 1 }, { a: 'x', b: null }]],
  ];
  for (const [cmd, want] of cases) {
    const r = await sh(cmd);
    t.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    t.same(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      want,
      cmd,
    );
  }
  const proto = await sh(`bx-extract --record-path data.items ${x('rows.json')}`);
  t.match(proto.stdout, /"__proto__":"p"/, '__proto__ from JSON is a plain key');
});

t.test('XML: attributes, text, CDATA, character references, repeats, nil, namespaces', async (t) => {
  const r = await sh(`bx-extract --record-path rss.channel.item ${x('feed.xml')}`);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(
    lines[0],
    '{"@id":"a1","title":"Café & more","zip":"02134","code":"0x1F","dc:creator":"Ann","category":["x","y"],"description":"<b>bold</b> & raw","price":{"@currency":"EUR","#text":"9.90"},"empty":"","gone":null}',
  );
  t.equal(lines[1], '{"@id":"a2","title":"Second"}');
  const s = await sh(`bx-extract --record-path rss.channel.item --strip-ns --lineage ${x('feed.xml')}`);
  const recs = ndjson(s.stdout);
  t.equal(recs[0].creator, 'Ann');
  t.same([recs[0]._line, recs[1]._line], [5, 17], 'lineage: the line of the start tag');
  const def = await sh(`bx-extract ${x('feed.xml')}`);
  t.equal(ndjson(def.stdout).length, 1, 'without --record-path: the children of the root');
});

t.test('XML that is not well-formed stops with 65 naming the line', async (t) => {
  const dir = tmp(t);
  const cases: [string, RegExp][] = [
    ['<a>\n<b>x</c>\n</a>', /bad\.xml:2: mismatched closing tag <\/c>; expected <\/b>/],
    ['<a>\n<b>x &nbsp; y</b></a>', /bad\.xml:2: undefined entity "&nbsp;"/],
    ['<a>\n<b>x & y</b></a>', /bare "&"/],
    ['<a><b>x</b>', /ends inside <a>/],
    ['<a/><b/>', /a second root element <b>/],
  ];
  for (const [xml, msg] of cases) {
    writeFileSync(join(dir, 'bad.xml'), xml);
    const r = await sh(`bx-extract ${join(dir, 'bad.xml')}`);
    t.equal(r.code, 65, xml);
    t.match(r.stderr, msg);
    t.equal(r.stdout, '');
  }
});

t.test('XML attacks: no entity expansion, no external entity is read', async (t) => {
  const dir = tmp(t);
  const laughs =
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
    Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('\n') +
    '\n]>\n<lolz><row>&lol9;</row></lolz>\n';
  writeFileSync(join(dir, 'laughs.xml'), laughs);
  const r1 = await sh(`bx-extract ${join(dir, 'laughs.xml')}`);
  t.equal(r1.code, 65);
  t.match(r1.stderr, /laughs\.xml:2: the DOCTYPE declares entities; bx reads no DTD entities/);
  t.equal(r1.stdout, '');

  const xxe =
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<r><row><v>&xxe;</v></row></r>\n';
  writeFileSync(join(dir, 'xxe.xml'), xxe);
  const r2 = await sh(`bx-extract ${join(dir, 'xxe.xml')}`);
  t.equal(r2.code, 65);
  t.notMatch(r2.stdout + r2.stderr, /root:/, '/etc/passwd was not read');

  // An external DTD is named but never fetched or read; an entity from it is undefined.
  writeFileSync(join(dir, 'dtd.xml'), '<!DOCTYPE r SYSTEM "/etc/passwd">\n<r><row><v>&passwd;</v></row></r>\n');
  const r3 = await sh(`bx-extract ${join(dir, 'dtd.xml')}`);
  t.equal(r3.code, 65);
  t.match(r3.stderr, /undefined entity "&passwd;"/);
  t.notMatch(r3.stdout + r3.stderr, /root:/);
});

t.test('line ends, BOM and encodings', async (t) => {
  const dir = tmp(t);
  const want = [
    { id: '1', name: 'Zoë', note: 'a\nb' },
    { id: '2', name: 'Ann', note: '' },
  ];
  const body = (eol: string) => `id,name,note${eol}1,Zoë,"a\nb"${eol}2,Ann,${eol}`;
  const files: [string, Buffer, string][] = [
    ['lf.csv', Buffer.from(body('\n')), ''],
    ['crlf.csv', Buffer.from('\ufeff' + body('\r\n')), ''],
    ['cr.csv', Buffer.from(body('\r')), ''],
    ['latin1.csv', Buffer.from(body('\n'), 'latin1'), '--encoding latin1'],
    ['cp1252.csv', Buffer.from(body('\n'), 'latin1'), '--encoding windows-1252'],
    ['utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body('\r\n'), 'utf16le')]), ''],
  ];
  for (const [name, bytes, flags] of files) {
    writeFileSync(join(dir, name), bytes);
    const r = await sh(`bx-extract ${flags} --lineage ${join(dir, name)}`);
    t.equal(r.code, 0, `${name}: ${r.stderr}`);
    const recs = ndjson(r.stdout);
    t.same(
      recs.map(({ _file, ...rest }) => rest),
      want.map((w, i) => ({ ...w, _line: [2, 4][i] })),
      name,
    );
    t.equal(Object.keys(recs[0])[0], 'id', `${name}: no BOM in the first key`);
  }
  writeFileSync(
    join(dir, 'bad-utf8.csv'),
    Buffer.concat([Buffer.from('a,b\n1,2\n3,'), Buffer.from([0xe9]), Buffer.from('t\n')]),
  );
  const bad = await sh(`bx-extract ${join(dir, 'bad-utf8.csv')}`);
  t.equal(bad.code, 65);
  t.match(bad.stderr, /bad-utf8\.csv:3: field "b": invalid UTF-8/);
});

t.test('gzip files, stdin (plain and gzipped) and several files in order', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'a.csv.gz'), gzipSync('id,v\n1,a\n2,b\n'));
  writeFileSync(join(dir, 'b.csv'), 'id,v\n3,c\n');
  const r = await sh(`bx-extract --lineage ${join(dir, 'a.csv.gz')} ${join(dir, 'b.csv')}`);
  t.equal(r.code, 0, r.stderr);
  t.same(
    ndjson(r.stdout).map((o) => [o.id, o._line, String(o._file).replace(dir + '/', '')]),
    [
      ['1', 2, 'a.csv.gz'],
      ['2', 3, 'a.csv.gz'],
      ['3', 2, 'b.csv'],
    ],
  );
  const s1 = await sh(`cat ${join(dir, 'b.csv')} | bx-extract -f csv --lineage`);
  t.same(ndjson(s1.stdout), [{ id: '3', v: 'c', _file: 'stdin', _line: 2 }]);
  const s2 = await sh(`bx-extract -f csv - < ${join(dir, 'a.csv.gz')}`);
  t.same(ndjson(s2.stdout), [
    { id: '1', v: 'a' },
    { id: '2', v: 'b' },
  ]);
  const noFormat = await sh('echo a | bx-extract');
  t.equal(noFormat.code, 64);
  t.match(noFormat.stderr, /cannot tell the format of stdin; give --format/);
});

t.test('CSV dialects: delimiter, quote, escape, no header, columns, skip-lines, comment', async (t) => {
  const cases: [string, string, unknown[]][] = [
    ['-d ";"', 'a;b\n1;"x;y"\n', [{ a: '1', b: 'x;y' }]],
    ['-d "\\t"', 'a\tb\n1\t2\n', [{ a: '1', b: '2' }]],
    ['--quote "\'"', 'a,b\n\'x,y\',"q"\n', [{ a: 'x,y', b: '"q"' }]],
    ['--escape "\\\\"', 'a,b\n"say \\"hi\\"",2\n', [{ a: 'say "hi"', b: '2' }]],
    [
      '--no-header',
      '1,2\n3,4\n',
      [
        { c1: '1', c2: '2' },
        { c1: '3', c2: '4' },
      ],
    ],
    ['--no-header --columns x,y', '1,2\n', [{ x: '1', y: '2' }]],
    ['--columns x,y', 'a,b\n1,2\n', [{ x: '1', y: '2' }]],
    ['--skip-lines 2', 'report\nmade today\na,b\n1,2\n', [{ a: '1', b: '2' }]],
    ['--comment "#"', '# note\na,b\n#1,2\n3,4\n', [{ a: '3', b: '4' }]],
    ['--quote ""', 'a,b\n"x,y\n', [{ a: '"x', b: 'y' }]],
    ['', 'a,b\n\n1,2\n\n', [{ a: '1', b: '2' }]],
    ['', 'a,b\n1,', [{ a: '1', b: '' }]],
    ['', '__proto__,constructor\n1,2\n', [JSON.parse('{"__proto__":"1","constructor":"2"}')]],
  ];
  for (const [flags, input, want] of cases) {
    const r = await sh(`bx-extract -f csv ${flags}`, { input });
    t.equal(r.code, 0, `${flags}: ${r.stderr}`);
    t.same(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      want,
      `${flags} ${JSON.stringify(input)}`,
    );
  }
  const proto = await sh('bx-extract -f csv', { input: '__proto__,constructor\n1,2\n' });
  t.equal(proto.stdout, '{"__proto__":"1","constructor":"2"}\n', 'plain fields, not the prototype');
  // Keys keep source order (DESIGN.md), numeric-looking header names too; lineage goes last.
  const num = await sh('bx-extract -f csv --lineage', { input: 'name,2019,1\na,"b""",c\n' });
  t.equal(
    num.stdout,
    '{"name":"a","2019":"b\\"","1":"c","_file":"stdin","_line":2}\n',
    'header order, not object key order',
  );
});

t.test('duplicate and empty header names: unique names and a warning, no lost column', async (t) => {
  const r = await sh('bx-extract -f csv', { input: 'a,a,,b,a_2\n1,2,3,4,5\n' });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '{"a":"1","a_3":"2","c3":"3","b":"4","a_2":"5"}\n');
  t.match(r.stderr, /stdin:1: warning|warning: stdin:1: header name "a" repeats in column 2; named it "a_3"/);
  t.match(r.stderr, /header column 3 has no name; named it "c3"/);
});

t.test('ragged rows and unterminated quotes: errors naming file and line, or rejects', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'ragged.csv'), 'a,b\n1,2\n3\n"4\n4",5,6\n7,8\n');
  const r = await sh(`bx-extract ${join(dir, 'ragged.csv')}`);
  t.equal(r.code, 65);
  t.match(r.stderr, /ragged\.csv:3: expected 2 fields, got 1/);

  const rej = join(dir, 'rej.ndjson');
  const r2 = await sh(`bx-extract --lineage --rejects ${rej} ${join(dir, 'ragged.csv')}`);
  t.equal(r2.code, 0, r2.stderr);
  t.same(
    ndjson(r2.stdout).map((o) => [o.a, o._line]),
    [
      ['1', 2],
      ['7', 6],
    ],
  );
  t.same(ndjson(readFileSync(rej, 'utf8')), [
    {
      record: ['3'],
      errors: [{ rule: 'columns', message: 'expected 2 fields, got 1' }],
      source: `${join(dir, 'ragged.csv')}:3`,
    },
    {
      record: ['4\n4', '5', '6'],
      errors: [{ rule: 'columns', message: 'expected 2 fields, got 3' }],
      source: `${join(dir, 'ragged.csv')}:4`,
    },
  ]);
  t.match(r2.stderr, /2 rejected/);
  const r3 = await sh(`bx-extract --rejects ${rej} --max-rejects 1 ${join(dir, 'ragged.csv')}`);
  t.equal(r3.code, 65);
  t.match(r3.stderr, /too many rejects/);

  writeFileSync(join(dir, 'open.csv'), 'a,b\n1,2\n3,"never\ncloses\n5,6\n');
  const r4 = await sh(`bx-extract ${join(dir, 'open.csv')}`);
  t.equal(r4.code, 65);
  t.match(r4.stderr, /open\.csv:3: unterminated quote/, 'names the line where the quote opened');
  const r5 = await sh(`bx-extract --max-record-size 1K ${join(dir, 'huge.csv')}`, {});
  t.equal(r5.code, 66, 'a missing file');
  writeFileSync(join(dir, 'huge.csv'), 'a,b\n1,"' + 'x'.repeat(300000) + '\n');
  const r6 = await sh(`bx-extract --max-record-size 100K ${join(dir, 'huge.csv')}`);
  t.equal(r6.code, 65);
  t.match(
    r6.stderr,
    /huge\.csv:2: record longer than 102400 characters \(the --max-record-size limit\); the quote opened at line 2/,
  );
  t.equal(r6.stdout, '');

  const r7 = await sh('bx-extract -f csv', { input: 'a,b\n"x"y,2\n' });
  t.equal(r7.code, 65);
  t.match(r7.stderr, /stdin:2: unexpected "y" after the closing quote/);
});

t.test('bad input: missing file (66, nothing written), malformed JSON (65), bad flags (64)', async (t) => {
  const r = await sh(`bx-extract ${shared('superstore.csv')} /no/such.csv`);
  t.equal(r.code, 66);
  t.equal(r.stdout, '', 'nothing is written before a missing file is found');
  t.match(r.stderr, /bx-extract: \/no\/such\.csv: no such file or directory/);
  const j = await sh('bx-extract -f ndjson', { input: '{"a":1}\n{"a":\n' });
  t.equal(j.code, 65);
  t.match(j.stderr, /stdin:2: not valid JSON/);
  const top = await sh('bx-extract -f json', { input: '{"a":1}' });
  t.equal(top.code, 65);
  t.match(top.stderr, /top-level JSON value is not an array; name the array of records with --record-path/);
  const deep = await sh('bx-extract -f json --max-depth 5', { input: '[{"a":[[[[[[1]]]]]]}]' });
  t.equal(deep.code, 65);
  t.match(deep.stderr, /nested deeper than/);
  const usage: [string, RegExp][] = [
    ['bx-extract --format yaml x', /unknown format "yaml"/],
    ['bx-extract a.unknown', /cannot tell the format of a\.unknown/],
    ['bx-extract -f csv -d ab', /--delimiter: expected one character/],
    ['bx-extract -f csv --encoding ebcdic', /--encoding: unknown encoding "ebcdic"/],
    ['bx-extract -f csv --nope', /Unknown argument: nope/],
  ];
  for (const [cmd, msg] of usage) {
    const u = await sh(cmd);
    t.equal(u.code, 64, cmd);
    t.match(u.stderr, msg);
  }
});

t.test('sealed stream: BX_SEAL=1 ends the output with its mark', async (t) => {
  const r = await sh('bx-extract -f csv', { input: 'a\n1\n2\n', env: { BX_SEAL: '1' } });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '{"a":"1"}\n{"a":"2"}\n{"@bx":"end","records":2}\n');
});
