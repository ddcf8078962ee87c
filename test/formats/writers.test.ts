// The format writers in-process: the bytes each writes for tricky values, the errors it raises,
// and, where another implementation exists, agreement with it (csv-stringify for CSV quoting,
// fast-xml-parser's validator and bx-extract's own XML and CSV readers for what comes back).
import { PassThrough, Readable, Writable } from 'node:stream';
import t from 'tap';
import { XMLValidator } from 'fast-xml-parser';
import { stringify } from 'csv-stringify/sync';
import { readerFor, type ReadOptions } from '../../src/formats/index.js';
import { put, writerFor, type WriteOptions } from '../../src/formats/writer.js';
import { cellText, safeCell } from '../../src/formats/csv-write.js';
import { isXmlName, keyToXmlName, xmlNameToKey } from '../../src/formats/xml-write.js';
import { DataError, PipeClosed, UsageError } from '../../src/lib/errors.js';
import { parseJson } from '../../src/lib/json.js';
import { Logger } from '../../src/lib/log.js';
import type { Batch, Rec } from '../../src/lib/stream.js';

const base: WriteOptions = { header: true, bom: false, csvSafe: false, xmlRoot: 'records', xmlRecord: 'record' };

/** Writes the records (in batches of `per`) with the format's writer; returns the text. */
async function write(format: string, recs: Rec[], o: Partial<WriteOptions> = {}, per = 2): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  });
  const w = (await writerFor(format))(out, { ...base, ...o });
  for (let i = 0; i < recs.length; i += per) {
    const records = recs.slice(i, i + per);
    await w.write({ name: 'in.ndjson', lines: records.map((_, k) => i + k + 1), records });
  }
  await w.end();
  return Buffer.concat(chunks).toString('utf8');
}

const readOpts = (o: Partial<ReadOptions> = {}): ReadOptions => ({
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 24,
  maxDepth: 1000,
  ...o,
});

/** Reads text back with bx-extract's reader for `format`. */
async function readBack(format: string, text: string, o: Partial<ReadOptions> = {}): Promise<Rec[]> {
  const log = new Logger('test', new PassThrough(), { format: 'human', verbosity: 0, tty: false });
  const ctx = { log, reject: () => {} };
  const out: Rec[] = [];
  for await (const b of (await readerFor(format))(
    { name: 'back', stream: Readable.from([Buffer.from(text)]) },
    readOpts(o),
    ctx,
  ))
    out.push(...b.records.map((r) => ({ ...r })));
  return out;
}

const tricky = [
  'plain',
  '',
  ' spaces ',
  'comma, inside',
  'semi;colon',
  'quote " inside',
  '"starts with a quote',
  'new\nline',
  'carriage\rreturn',
  'crlf\r\nend',
  'tab\there',
  'unicode: zoë, 東京, 🚀, \u2028',
  'back\\slash',
  '<tag> & ]]> &amp;',
];

t.test('CSV: RFC 4180 quoting, byte for byte the same as csv-stringify', async (t) => {
  const recs = tricky.map((v, i) => ({ id: String(i), v }));
  for (const delimiter of [undefined, ';', '|']) {
    const got = await write('csv', recs, { delimiter });
    const want = stringify([['id', 'v'], ...recs.map((r) => [r.id, r.v])], { delimiter: delimiter ?? ',', eof: true });
    t.equal(got, want, `delimiter ${delimiter ?? ','}`);
  }
  // And bx-extract reads every value back as it was.
  t.same(await readBack('csv', await write('csv', recs)), recs);
  t.same(await readBack('csv', await write('csv', recs, { delimiter: ';' }), { delimiter: ';' }), recs);
});

t.test('CSV: header from the first record, values as text, nothing through a float', async (t) => {
  const rec = parseJson(
    '{"b":"x","2019":1,"a":null,"t":true,"f":false,"n":-0.5,"big":12345678901234567890.12345,"int":9007199254740993,"e":1e21,"o":{"k":[1,"2"]},"arr":[]}',
    { file: 'in', line: 1 },
  ) as Rec;
  const got = await write('csv', [rec, { b: 'only b' }]);
  t.equal(
    got,
    'b,2019,a,t,f,n,big,int,e,o,arr\n' +
      'x,1,,true,false,-0.5,12345678901234567890.12345,9007199254740993,1e+21,"{""k"":[1,""2""]}",[]\n' +
      'only b,,,,,,,,,,\n',
    'keys keep their order (2019 stays second); null and missing keys are empty; exact digits kept',
  );
  t.equal(await write('csv', [{ a: 1, b: 2 }], { header: false }), '1,2\n', '--no-header');
  t.equal(await write('csv', [{ a: 'x' }], { bom: true }), '\uFEFFa\nx\n', '--bom');
  t.equal(await write('csv', [], { bom: true }), '\uFEFF', 'no records: an empty file (with the BOM asked for)');
  t.equal(await write('csv', []), '', 'no records: an empty file');
  t.equal(
    cellText(0.1 + 0.2),
    '0.30000000000000004',
    'a number is written as JSON writes it, never rounded to look nice',
  );
});

t.test('CSV: a later record with a new key is a DataError naming its line and the field', async (t) => {
  const err = await write('csv', [{ a: 1 }, { a: 2 }, { a: 3, extra: 'x' }]).catch((e) => e);
  t.type(err, DataError);
  t.match(
    err.message,
    /^in\.ndjson:3: field "extra": not a column of this CSV file \(the columns are the first record's fields: a\)/,
  );
  const lin = await write('csv', [{ a: 1 }, { a: 2, _file: 'sales.csv', _line: 42 }]).catch((e) => e);
  t.match(lin.message, /^sales\.csv:42: field "_file"/, 'lineage names the source line');
  t.equal(
    await write('csv', [
      { a: 1, b: 2 },
      { b: 3, a: 4 },
    ]),
    'a,b\n1,2\n4,3\n',
    'the same keys in another order go to their columns',
  );
});

t.test('CSV: the delimiter must leave quoting possible', async (t) => {
  await t.rejects(write('csv', [{ a: 1 }], { delimiter: '"' }), UsageError);
  await t.rejects(write('tsv', [{ a: 1 }], { delimiter: ';' }), UsageError);
});

t.test('TSV: no quoting; a tab or a line break in a value is refused', async (t) => {
  t.equal(await write('tsv', [{ a: 'say "hi"', b: 'x,y' }]), 'a\tb\nsay "hi"\tx,y\n', 'quotes and commas are data');
  for (const v of ['tab\there', 'new\nline', 'cr\rhere']) {
    const err = await write('tsv', [{ a: 'ok' }, { a: v }]).catch((e) => e);
    t.type(err, DataError);
    t.match(err.message, /^in\.ndjson:2: field "a": the value holds (a tab|a line break), which TSV cannot carry/);
  }
  const ok = tricky.filter((v) => !/[\t\r\n]/.test(v)).map((v) => ({ v, w: v }));
  t.same(await readBack('tsv', await write('tsv', ok)), ok, 'bx-extract reads TSV back unchanged');
});

t.test('a row that would be a blank line: CSV quotes it, TSV refuses it (readers skip blank lines)', async (t) => {
  const recs = [{ v: 'a' }, { v: '' }, { v: null }, { v: 'b' }];
  t.equal(await write('csv', recs), 'v\na\n""\n""\nb\n');
  t.same(await readBack('csv', await write('csv', recs)), [{ v: 'a' }, { v: '' }, { v: '' }, { v: 'b' }]);
  const err = await write('tsv', recs).catch((e) => e);
  t.type(err, DataError);
  t.match(err.message, /^in\.ndjson:2: field "v": an empty value alone on its row makes a blank line/);
});

t.test('--csv-safe: formula starts get a quote, plain negative numbers do not', async (t) => {
  const cases: [string, string][] = [
    ['=1+2', "'=1+2"],
    ['+1', "'+1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['-x', "'-x"],
    ['-', "'-"],
    ['--1', "'--1"],
    ['-1-1', "'-1-1"],
    ['-12.5', '-12.5'],
    ['-3', '-3'],
    ['-.5', '-.5'],
    ['-1.5e-7', '-1.5e-7'],
    ['\tx', "'\tx"],
    ['\rx', "'\rx"],
    ['a=1', 'a=1'],
    ['', ''],
  ];
  for (const [v, want] of cases) t.equal(safeCell(v), want, JSON.stringify(v));
  t.equal(
    await write('csv', [{ '=h': '=HYPERLINK("http://x")', n: -12.5, s: '-12.5', cr: '\rboom' }], { csvSafe: true }),
    `'=h,n,s,cr\n"'=HYPERLINK(""http://x"")",-12.5,-12.5,"'\rboom"\n`,
    'header cells too; quoting still applies after the prefix',
  );
  t.equal(await write('csv', [{ a: '=1' }]), 'a\n=1\n', 'off by default');
});

t.test('NDJSON: the records as bx writes them; byte batches go out as they are', async (t) => {
  const rec = parseJson('{"2019":1,"b":"x\\ny","c":null,"d":"123456789012345678901"}', { file: 'in', line: 1 }) as Rec;
  t.equal(
    await write('ndjson', [rec, { a: [1, { b: true }] }]),
    '{"2019":1,"b":"x\\ny","c":null,"d":"123456789012345678901"}\n{"a":[1,{"b":true}]}\n',
  );
  const chunks: string[] = [];
  const out = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  const w = (await writerFor('ndjson'))(out, base);
  const b: Batch = { name: 'x', lines: [1, 2], records: [], ndjson: Buffer.from('{"a":1}\n{"a":2}\n') };
  await w.write(b);
  t.equal(chunks.join(''), '{"a":1}\n{"a":2}\n');
});

t.test('XML: escaping, nil, nesting, arrays, attributes; well-formed and read back by bx-extract', async (t) => {
  const recs: Rec[] = tricky.map((v, i) => ({ id: String(i), v }));
  const xml = await write('xml', recs);
  t.equal(XMLValidator.validate(xml), true, 'fast-xml-parser validates the document');
  t.match(
    xml,
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<records xmlns:xsi="http:\/\/www\.w3\.org\/2001\/XMLSchema-instance">\n/,
  );
  t.match(xml, /<v>&lt;tag&gt; &amp; \]\]&gt; &amp;amp;<\/v>/, '< & > escaped, so ]]> cannot appear');
  t.match(xml, /<v>carriage&#13;return<\/v>/, 'CR as a reference (a parser reads a bare CR as LF)');
  t.notMatch(xml, /\]\]>/);
  t.same(await readBack('xml', xml, { recordPath: ['records', 'record'] }), recs, 'every string comes back as it was');

  const nested = [
    {
      '@id': 'a"1',
      name: 'x',
      n: null,
      num: 12.5,
      ok: true,
      addr: { city: 'Köln', zip: null, tags: ['a', 'b'] },
      list: ['one', 'two'],
      deep: [{ k: '1' }, { k: '2' }],
      empty: '',
    },
  ];
  const nx = await write('xml', nested);
  t.equal(XMLValidator.validate(nx), true);
  t.match(
    nx,
    /<record id="a&quot;1"><name>x<\/name><n xsi:nil="true"\/><num>12\.5<\/num><ok>true<\/ok><addr><city>Köln<\/city><zip xsi:nil="true"\/><tags>a<\/tags><tags>b<\/tags><\/addr><list>one<\/list><list>two<\/list><deep><k>1<\/k><\/deep><deep><k>2<\/k><\/deep><empty\/><\/record>/,
  );
  t.same(
    await readBack('xml', nx, { recordPath: ['records', 'record'] }),
    [
      {
        '@id': 'a"1',
        name: 'x',
        n: null,
        num: '12.5',
        ok: 'true',
        addr: { city: 'Köln', zip: null, tags: ['a', 'b'] },
        list: ['one', 'two'],
        deep: [{ k: '1' }, { k: '2' }],
        empty: '',
      },
    ],
    'null comes back as null (xsi:nil); numbers and booleans as their text',
  );
  const attr = await write('xml', [{ '@a': 'tab\tnl\ncr\r<&>' }]);
  t.same(
    await readBack('xml', attr, { recordPath: ['records', 'record'] }),
    [{ '@a': 'tab\tnl\ncr\r<&>' }],
    'attribute values keep tabs and line breaks',
  );
  t.equal(
    await write('xml', [], { xmlRoot: 'rows' }),
    '<?xml version="1.0" encoding="UTF-8"?>\n<rows xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n</rows>\n',
    'no records: an empty root',
  );
});

t.test('XML: field names that are no XML names are mapped as SQL/XML, one to one', async (t) => {
  const cases: [string, string][] = [
    ['Order Date', 'Order_x0020_Date'],
    ['2019', '_x0032_019'],
    ['Country/Region', 'Country_x002F_Region'],
    ['ns:id', 'ns_x003A_id'],
    ['_x0020_', '_x005F_x0020_'],
    ['a_x', 'a_x005F_x'],
    ['-lead', '_x002D_lead'],
    ['ok.name-1', 'ok.name-1'],
    ['café', 'café'],
    ['🚀', '🚀'],
    ['\u{F0000}', '_x0F0000_'],
    ['@', '_x0040_'],
  ];
  for (const [k, want] of cases) {
    t.equal(keyToXmlName(k), want, JSON.stringify(k));
    t.ok(isXmlName(keyToXmlName(k)), `${want} is an XML name`);
    t.equal(xmlNameToKey(keyToXmlName(k)), k, `${want} decodes back`);
  }
  const xml = await write('xml', [{ 'Order Date': '2026-11-23', 'x y': { 'a b': '1' } }]);
  t.equal(XMLValidator.validate(xml), true);
  t.match(xml, /<Order_x0020_Date>2026-11-23<\/Order_x0020_Date><x_x0020_y><a_x0020_b>1<\/a_x0020_b><\/x_x0020_y>/);
});

t.test('XML: what XML 1.0 cannot carry is refused; element names are checked', async (t) => {
  for (const v of ['bell\u0007', 'nul\u0000', 'vt\u000B', '\uFFFE', 'lone \uD800 surrogate']) {
    const err = await write('xml', [{ a: 'ok' }, { a: { b: v } }]).catch((e) => e);
    t.type(err, DataError, JSON.stringify(v));
    t.match(
      err.message,
      /^in\.ndjson:2: field "a\.b": the value holds (U\+[0-9A-F]{4}|a lone surrogate), which XML 1\.0 cannot carry/,
    );
  }
  for (const [flag, o] of [
    ['xml-root', { xmlRoot: 'my root' }],
    ['xml-record', { xmlRecord: '1row' }],
    ['xml-record', { xmlRecord: 'ns:row' }],
    ['xml-root', { xmlRoot: '' }],
  ] as const) {
    const err = await write('xml', [{ a: 1 }], o).catch((e) => e);
    t.type(err, UsageError);
    t.match(err.message, new RegExp(`^--${flag} .*: not an XML element name`));
  }
  const emptyKey = await write('xml', [{ '': 'x' }]).catch((e) => e);
  t.type(emptyKey, DataError);
  t.equal(
    await write('xml', [{ a: 'x' }], { xmlRoot: 'sales', xmlRecord: 'sale' }).then((x) =>
      /<sales [^>]*>\n  <sale><a>x<\/a><\/sale>\n<\/sales>\n$/.test(x),
    ),
    true,
    'root and record names by flag',
  );
});

t.test('put(): a closed destination fails the write instead of waiting for a drain', async (t) => {
  const out = new PassThrough({ highWaterMark: 4 });
  out.on('error', () => {});
  const pending = put(out, 'more than four bytes');
  out.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  t.type(await pending.catch((e) => e), PipeClosed, 'EPIPE is the reader leaving');
  t.type(await put(out, 'x').catch((e) => e), PipeClosed);
  const full = new PassThrough({ highWaterMark: 4 });
  full.on('error', () => {});
  const p2 = put(full, 'more than four bytes');
  full.destroy(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
  await t.rejects(p2, { code: 'ENOSPC' }, 'other errors pass on as they are');
  await t.rejects(writerFor('parquet'), UsageError, 'parquet is the lake sink, not a file writer');
});
