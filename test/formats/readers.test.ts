// The readers are incremental: a record, a quote, a CRLF, a tag, an entity or a UTF-8 character
// may be cut anywhere between two reads. Every input here is read whole and in pieces of 1, 2,
// 3, 5 and 7 bytes; the records and their lines must not change.
import { Readable } from 'node:stream';
import t from 'tap';
type Test = Parameters<Parameters<typeof t.test>[1]>[0];
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { Logger } from '../../src/lib/log.js';
import type { Origin } from '../../src/lib/errors.js';

const opts = (o: Partial<ReadOptions> = {}): ReadOptions => ({
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 20,
  maxDepth: 1000,
  ...o,
});

async function read(format: string, bytes: Buffer, piece: number, o: Partial<ReadOptions> = {}) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) chunks.push(bytes.subarray(i, i + piece));
  const warnings: string[] = [];
  const rejects: [unknown, string, Origin][] = [];
  const sink = new (await import('node:stream')).PassThrough();
  sink.on('data', (d: Buffer) => warnings.push(d.toString().trim()));
  const ctx: ReadContext = {
    log: new Logger('test', sink, { format: 'human', verbosity: 1, tty: false }),
    reject: (rec, f, at) => void rejects.push([rec, f.message, at]),
  };
  const out: [unknown, number][] = [];
  const reader = await readerFor(format);
  for await (const b of reader({ name: 'in', stream: Readable.from(chunks) }, opts(o), ctx)) {
    b.records.forEach((r, i) => out.push([JSON.stringify(r), b.lines[i]]));
  }
  return { out, warnings, rejects };
}

async function samePieces(t: Test, format: string, text: string | Buffer, o: Partial<ReadOptions> = {}) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const whole = await read(format, bytes, bytes.length || 1, o);
  for (const piece of [1, 2, 3, 5, 7])
    t.same(await read(format, bytes, piece, o), whole, `${format} in ${piece}-byte pieces`);
  return whole;
}

t.test('CSV: quotes, CRLF, CR, embedded breaks, blank lines, comments across reads', async (t) => {
  const w = await samePieces(t, 'csv', '\ufeffa,b,c\r\n1,"x, ""y""",é\r\n\r\n2,"multi\r\nline",\r3,,"€"\n# c\n4,5,6', {
    comment: '#',
  });
  t.same(w.out, [
    ['{"a":"1","b":"x, \\"y\\"","c":"é"}', 2],
    ['{"a":"2","b":"multi\\r\\nline","c":""}', 4],
    ['{"a":"3","b":"","c":"€"}', 6],
    ['{"a":"4","b":"5","c":"6"}', 8],
  ]);
  const e = await samePieces(t, 'csv', 'a,b\n"p\\"q",2\n', { escape: '\\' });
  t.same(e.out, [['{"a":"p\\"q","b":"2"}', 2]]);
  const tsv = await samePieces(t, 'tsv', 'a\tb\n"x\ty\n');
  t.same(tsv.out, [['{"a":"\\"x","b":"y"}', 2]]);
});

t.test('CSV: ragged rows and an unterminated quote reach reject() with their lines', async (t) => {
  const w = await samePieces(t, 'csv', 'a,b\n1\n2,3\n"4\n5');
  t.same(w.out, [['{"a":"2","b":"3"}', 3]]);
  t.same(
    w.rejects.map(([r, m, at]) => [r, m, at.line]),
    [
      [['1'], 'expected 2 fields, got 1', 2],
      ['"4\n5', 'unterminated quote: the quoted field opened on this line never closes', 4],
    ],
  );
  const d = await read('csv', Buffer.from('x,x,\n1,2,3\n'), 4);
  t.same(d.out, [['{"x":"1","x_2":"2","c3":"3"}', 2]]);
  t.equal(d.warnings.length, 2);
});

t.test('CSV: a long quoted field is scanned in linear time and bounded', async (t) => {
  const big = 'a\n"' + 'x'.repeat(3_000_000) + '"\n';
  const r = await read('csv', Buffer.from(big), 65536, { maxRecordSize: 4 << 20 });
  t.equal(r.out.length, 1);
  await t.rejects(
    read('csv', Buffer.from(big), 65536, { maxRecordSize: 1 << 20 }),
    /in:2: record longer than 1048576 characters/,
  );
});

t.test('JSON and NDJSON across reads', async (t) => {
  const j = await samePieces(
    t,
    'json',
    '{"x":[9],"d":{"k\\"":1,"items":[\n{"a":"]}\\"","b":[1,{"c":2}]},\n {"a":12345678901234567890}\n]},"z":1}',
    {
      recordPath: ['d', 'items'],
    },
  );
  t.same(j.out, [
    ['{"a":"]}\\"","b":[1,{"c":2}]}', 2],
    ['{"a":"12345678901234567890"}', 3],
  ]);
  const bad = await samePieces(t, 'json', '[{"a":1}, 7, "s", [1]]');
  t.same(bad.out, [['{"a":1}', 1]]);
  t.same(
    bad.rejects.map((r) => r[1]),
    ['expected a JSON object, got 7', 'expected a JSON object, got "s"', 'expected a JSON object, got an array'],
  );
  const n = await samePieces(t, 'ndjson', '{"a":"é"}\r\n\n{"b":2}\n');
  t.same(n.out, [
    ['{"a":"é"}', 1],
    ['{"b":2}', 3],
  ]);
});

t.test('XML across reads: entities, CDATA, comments, PIs and lines survive any cut', async (t) => {
  const xml =
    '<?xml version="1.0"?>\n<!-- a > b -->\n<r xmlns:x="urn:x">\n<row n="1&amp;2" x:k=\'v\'><v>&#x20AC;&lt;&#233;</v><![CDATA[]]></row>\n<row><v><![CDATA[a]]>b</v><w>1</w><w>2</w> tail </row>\n<row/>\n</r>\n';
  const w = await samePieces(t, 'xml', xml);
  t.same(w.out, [
    ['{"@n":"1&2","@x:k":"v","v":"€<é"}', 4],
    ['{"v":"ab","w":["1","2"],"#text":"tail"}', 5],
    ['{}', 6],
  ]);
  const s = await read('xml', Buffer.from(xml), 3, { stripNs: true, recordPath: ['r', 'row'] });
  t.same(s.out[0], ['{"@n":"1&2","@k":"v","v":"€<é"}', 4]);
  await t.rejects(
    read('xml', Buffer.from('<a>' + '<b>'.repeat(20) + '</b>'.repeat(20) + '</a>'), 7, { maxDepth: 10 }),
    /nested deeper than 10 levels/,
  );
});

// bx-extract asks the CSV/TSV reader for ready NDJSON bytes (ReadContext.json). Those bytes must
// equal what JSON.stringify makes of the records read the ordinary way, in any cut of the input.
async function readJson(format: string, bytes: Buffer, piece: number, o: Partial<ReadOptions> = {}, lineage = false) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) chunks.push(bytes.subarray(i, i + piece));
  const rejects: [unknown, string, number][] = [];
  const ctx: ReadContext = {
    log: new Logger('test', new (await import('node:stream')).PassThrough(), {
      format: 'human',
      verbosity: 1,
      tty: false,
    }),
    reject: (rec, f, at) => void rejects.push([rec, f.message, at.line]),
    json: { lineage },
  };
  let text = '';
  const lines: number[] = [];
  const reader = await readerFor(format);
  for await (const b of reader({ name: 'in', stream: Readable.from(chunks) }, opts(o), ctx)) {
    if (b.ndjson) text += b.ndjson.toString('utf8');
    else
      for (const r of b.records)
        text +=
          JSON.stringify(
            lineage
              ? { ...r, _file: b.name, _line: b.lines[b.lines.length - b.records.length + b.records.indexOf(r)] }
              : r,
          ) + '\n';
    lines.push(...b.lines);
  }
  return { text, lines, rejects };
}

async function sameAsRecords(
  t: Test,
  format: string,
  text: string | Buffer,
  o: Partial<ReadOptions> = {},
  pieces = [1, 2, 3, 7],
) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const recs = await read(format, bytes, bytes.length || 1, o);
  const want = recs.out.map(([j]) => j + '\n').join('');
  const wantLineage = recs.out
    .map(([j, line]) => (j as string).slice(0, -1) + `,"_file":"in","_line":${line}}\n`)
    .join('');
  for (const piece of [bytes.length || 1, ...pieces]) {
    const r = await readJson(format, bytes, piece, o);
    t.equal(r.text, want, `${format} as JSON bytes in ${piece}-byte pieces`);
    t.same(
      r.lines,
      recs.out.map(([, l]) => l),
    );
    t.same(
      r.rejects,
      recs.rejects.map(([rec, m, at]) => [rec, m, at.line]),
    );
    t.equal(
      (await readJson(format, bytes, piece, o, true)).text,
      wantLineage,
      `${format} with lineage in ${piece}-byte pieces`,
    );
  }
  return want;
}

t.test('CSV/TSV as ready NDJSON bytes: the same text JSON.stringify makes of the records', async (t) => {
  const ctl = Array.from({ length: 32 }, (_, c) => String.fromCharCode(c))
    .filter((c) => c !== '\n' && c !== '\r' && c !== ',')
    .join('');
  const csv = [
    '\ufeffid,"na""me",é k,__proto__,e',
    `1,"x, ""y""",é,p,`,
    `2,"multi\r\nline\rand\nmore","tab\there",back\\slash,"${ctl}"`,
    `3,plain "quote" inside,€ 😀 𝄞,\u007f\u0080\u07ff\u0800\uffff,""`,
    '4,5',
    '6,"a",b,"c","d"',
  ].join('\r\n');
  const w = await sameAsRecords(t, 'csv', csv + '\r\n');
  t.match(w, /"na\\"me":"x, \\"y\\""/);
  t.match(w, /\\u0001/);
  await sameAsRecords(t, 'csv', csv); // no line end at the end
  await sameAsRecords(t, 'tsv', 'a\tb\tc\n"x\ty\\z\t\u0001\n1\t\t\n');
  await sameAsRecords(t, 'tsv', 'a\tb\n"x\ty"\tz\n', { quote: '"' }); // a quoted tab
  await sameAsRecords(t, 'csv', "a;b\n'x;''y\"';2\n", { delimiter: ';', quote: "'" });
  await sameAsRecords(t, 'csv', 'a,b\n"p\\"q",2\n', { escape: '\\' });
  await sameAsRecords(t, 'csv', 'x,x,\n1,2,3\n');
  await sameAsRecords(t, 'csv', 'pre\na,b\n# c\n1,2\n', { skipLines: 1, comment: '#' });
  await sameAsRecords(t, 'csv', '1,2\n3,4\n', { header: false, columns: ['a', 'b'] });
  await sameAsRecords(t, 'csv', '1,2\n3,4\n', { header: false });
  // Big enough to fill several batches and slabs.
  const rows = Array.from({ length: 5000 }, (_, i) => `${i},"q""${'é'.repeat(i % 300)}",${'x'.repeat(i % 50)}`);
  // 1.2 MB: byte-sized reads of it cost minutes of test time and prove nothing the small inputs don't.
  await sameAsRecords(t, 'csv', 'a,b,c\n' + rows.join('\n') + '\n', {}, [7, 4099, 65536]);
  // Rows the byte scanner leaves to the text scanner (longer than 64 KiB, more than 64 control
  // characters, blank, ragged) between rows it takes (5 KB ones too), and back.
  const ctl70 = '\u0001\u0002'.repeat(35);
  const mixed = Array.from({ length: 3000 }, (_, i) =>
    i % 500 === 11
      ? `${i},"${'wide '.repeat(14000)}",z`
      : i % 97 === 5
        ? `${i},"${'long '.repeat(1000)}",z`
        : i % 61 === 9
          ? `${i},"${ctl70}",${ctl70.slice(0, 10)}`
          : i % 89 === 7
            ? ''
            : i % 83 === 3
              ? `${i},ragged`
              : `${i},"q""${i}",\u00e9`,
  );
  await sameAsRecords(t, 'csv', 'a,b,c\n' + mixed.join('\n') + '\n', {}, [7, 4099, 65536]);
  await sameAsRecords(t, 'csv', 'a,b\r1,2\r3,"x\ry"\r', {}, [1, 2, 5]); // CR line ends
  // UTF-16LE (with its BOM) is decoded, then scanned as UTF-8 bytes.
  await sameAsRecords(
    t,
    'csv',
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n1,"é €"\n', 'utf16le')]),
    {},
    [1, 3],
  );
});

// The byte scanner copies fields four bytes at a time up to their first special byte: fields
// of every length around a word, with a quote, backslash, delimiter, control character, line
// break or UTF-8 character at every place, quoted and not, in one file cut in pieces.
t.test('CSV as NDJSON bytes: random fields of every length, special bytes at every place', async (t) => {
  let seed = 5;
  const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
  const SPECIAL = ['"', '\\', ';', '\t', '\u0001', '\u001f', 'é', '€', '😀', ' ', '\u007f'];
  const field = () => {
    let x = '';
    const n = rnd(14);
    for (let j = 0; j < n; j++) x += rnd(5) === 0 ? SPECIAL[rnd(SPECIAL.length)] : 'abcdefgh'[rnd(8)];
    const quoted = x.includes(',') || x.includes('"') || rnd(3) === 0;
    if (quoted && rnd(4) === 0) x = x.slice(0, rnd(x.length + 1)) + (rnd(2) ? '\n' : ',') + x.slice(rnd(x.length + 1));
    return quoted ? '"' + x.replace(/"/g, '""') + '"' : x.replace(/"/g, '');
  };
  const rows = Array.from({ length: 2000 }, () => Array.from({ length: 4 }, field).join(','));
  await sameAsRecords(t, 'csv', 'k,ab,abcde,a_long_name\n' + rows.join('\n') + '\n', {}, [5, 4099]);
  await sameAsRecords(
    t,
    'csv',
    'k;ab;abcde;a_long_name\n' + rows.join('\n').replace(/,/g, ';') + '\n',
    { delimiter: ';' },
    [4099],
  );
  // A delimiter above most text bytes: the word loop's first test flags nearly every word.
  await sameAsRecords(
    t,
    'csv',
    'k|ab|abcde|a_long_name\n' + rows.join('\n').replace(/,/g, '|') + '\n',
    { delimiter: '|' },
    [4099],
  );
});

t.test('CSV as NDJSON bytes: invalid UTF-8 is named by its line, as when decoding', async (t) => {
  const bad = Buffer.concat([Buffer.from('a,b\n1,2\n3,"x'), Buffer.from([0xc3, 0x28]), Buffer.from('"\n5,6\n')]);
  for (const piece of [bad.length, 1, 4, 7]) {
    await t.rejects(
      readJson('csv', bad, piece),
      /^in:3: field "b": invalid UTF-8 \(bytes \\xc3\\x28/,
      `JSON bytes, ${piece}-byte pieces`,
    );
    await t.rejects(read('csv', bad, piece), /^in:3: field "b": invalid UTF-8/, `records, ${piece}-byte pieces`);
  }
  const cut = Buffer.concat([Buffer.from('a,b\n1,2\n3,4'), Buffer.from([0xe2, 0x82])]);
  for (const piece of [cut.length, 1, 5]) {
    await t.rejects(
      readJson('csv', cut, piece),
      /^in:3: field "b": invalid UTF-8: the input ends inside a character/,
      `JSON bytes, cut short, ${piece}-byte pieces`,
    );
    await t.rejects(
      read('csv', cut, piece),
      /^in:3: field "b": invalid UTF-8: the input ends inside a character/,
      `records, cut short, ${piece}-byte pieces`,
    );
  }
});

t.test(
  'NDJSON bytes: header order kept for numeric names, lone surrogates escaped, lineage column names',
  async (t) => {
    // An object moves integer-like keys first; the JSON bytes keep the header's order (DESIGN.md).
    const num = await readJson('csv', Buffer.from('name,2019,1,01\na,b,c,d\n'), 3);
    t.equal(num.text, '{"name":"a","2019":"b","1":"c","01":"d"}\n');
    // A header column named _file or _line with --lineage: records, lineage values in place.
    const lin = await readJson('csv', Buffer.from('_line,a\nx,y\n'), 2, {}, true);
    t.equal(lin.text, '{"_line":2,"a":"y","_file":"in"}\n');
    // Lone surrogates (text that no decoder produces, but a caller may pass): as JSON.stringify.
    const { NdjsonRows } = await import('../../src/formats/csv.js');
    const rows = new NdjsonRows(['a', 'b\ud800'], undefined);
    const vals = ['\ud800x', 'y\udc00', '\udbff\udfff\ud83d', '\ud83d\ude00', '\ud800\udc00\udc00'];
    for (let i = 0; i < vals.length; i++) rows.add([vals[i], vals[(i + 1) % vals.length]], 1);
    const want = vals.map((v, i) => JSON.stringify({ a: v, 'b\ud800': vals[(i + 1) % vals.length] }) + '\n').join('');
    t.equal(rows.take().toString('utf8'), want);
    t.equal(rows.take().length, 0);
  },
);
