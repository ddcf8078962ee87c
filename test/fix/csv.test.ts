// Issue 22, CSV: invalid UTF-8 named by field, --relax-quotes, and an open quote held across
// reads without rescans (the bytes must read the same in any pieces).
import { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { Logger } from '../../src/lib/log.js';
import type { Origin } from '../../src/lib/errors.js';
import { sh, tmp } from '../helpers.js';

const opts = (o: Partial<ReadOptions> = {}): ReadOptions => ({
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 24,
  maxDepth: 1000,
  ...o,
});

async function read(bytes: Buffer, piece: number, o: Partial<ReadOptions> = {}, json = false) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) chunks.push(bytes.subarray(i, i + piece));
  const rejects: [unknown, string, number][] = [];
  const ctx: ReadContext = {
    log: new Logger('test', new PassThrough(), { format: 'human', verbosity: 0, tty: false }),
    reject: (rec, f, at: Origin) => void rejects.push([rec, f.message, at.line]),
    ...(json ? { json: { lineage: false } } : {}),
  };
  const out: string[] = [];
  const reader = await readerFor('csv');
  for await (const b of reader({ name: 'in', stream: Readable.from(chunks) }, opts(o), ctx)) {
    if (b.ndjson) out.push(...b.ndjson.toString('utf8').split('\n').filter(Boolean));
    b.records.forEach((r) => out.push(JSON.stringify(r)));
  }
  return { out, rejects };
}

t.test('invalid UTF-8 names the field (header name), the line and the bytes', async (t) => {
  const dir = tmp(t);
  const cases: [string, Buffer, RegExp][] = [
    [
      'in a quoted field',
      Buffer.from('id,name,city\n1,ok,x\n2,"b\xffad",y\n', 'latin1'),
      /u\.csv:3: field "name": invalid UTF-8 \(bytes \\xff/,
    ],
    ['in the last field', Buffer.from('id,name,city\n1,ok,\xff\n', 'latin1'), /u\.csv:2: field "city": invalid UTF-8/],
    ['in the header', Buffer.from('id,na\xffme\n1,2\n', 'latin1'), /u\.csv:1: header column 2: invalid UTF-8/],
    [
      'after a multi-line quoted header name',
      Buffer.from('"i""d",,"x\ny"\n1,2,3\n4,5,\xff\n', 'latin1'),
      /u\.csv:4: field "x\\ny": invalid UTF-8/,
    ],
    [
      'past the header names',
      Buffer.from('id,name\n3,4,\xff\n', 'latin1'),
      /u\.csv:2: column 3 \(past the 2 the header names\): invalid UTF-8/,
    ],
    [
      'cut short at the end',
      Buffer.from('id,name\n1,\xe2\x82', 'latin1'),
      /u\.csv:2: field "name": invalid UTF-8: the input ends inside a character/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    const f = join(dir, 'u.csv');
    writeFileSync(f, bytes);
    const r = await sh(`bx-extract ${f}`);
    t.equal(r.code, 65, `${what}: exit 65`);
    t.match(r.stderr, re, `${what}: ${r.stderr.trim()}`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  }
  const tsv = await sh(`printf 'a\\tb\\n1\\t\\377\\n' | bx-extract -f tsv`);
  t.match(tsv.stderr, /stdin:2: field "b": invalid UTF-8/, 'TSV too');
  const noHeader = await sh(`printf '1,2\\n3,\\377\\n' | bx-extract -f csv --no-header`);
  t.match(noHeader.stderr, /stdin:2: field "c2": invalid UTF-8/, 'c1..cN without a header');
});

t.test('relaxQuotes: a quote that does not end a quoted field is text', async (t) => {
  const text = Buffer.from('a,b\n1,"5\'11" tall"\n2,"x""y"\n3,"q"\n4,"say "hi", ok"\n');
  const strict = read(text, text.length);
  await t.rejects(strict, /in:2: unexpected " " after the closing quote of field 2/, 'strict by default');
  for (const piece of [text.length, 1, 2, 3, 7]) {
    for (const json of [false, true]) {
      const r = await read(text, piece, { relaxQuotes: true }, json);
      t.same(
        r.out,
        ['{"a":"1","b":"5\'11\\" tall"}', '{"a":"2","b":"x\\"y"}', '{"a":"3","b":"q"}'],
        `relaxed, ${piece}-byte pieces, json=${json}`,
      );
    }
  }
  // `"say "hi", ok"`: the quote before the comma closes the field, as Go's LazyQuotes reads it.
  const r = await read(text, text.length, { relaxQuotes: true });
  t.same(
    r.rejects.map((x) => [x[1], x[2]]),
    [['expected 2 fields, got 3', 5]],
  );
  // A stray quote inside an unquoted field is text with or without it.
  const plain = Buffer.from('a,b\n1,x"y\n2,5 1/2" pipe\n');
  t.same((await read(plain, plain.length)).out, ['{"a":"1","b":"x\\"y"}', '{"a":"2","b":"5 1/2\\" pipe"}']);
});

t.test('a long quoted field with doubled quotes and line breaks reads the same in any pieces', async (t) => {
  // Pieces past the rescan threshold (64 KiB) take the path that holds an open quote without rescanning.
  const body = ('x'.repeat(1000) + '""' + '\n').repeat(300);
  const text = Buffer.from(`a,b\n1,"${body}"\n2,"é${body}"\n3,"end"\n`, 'utf8');
  const whole = await read(text, text.length, {}, true);
  t.equal(whole.out.length, 3);
  t.equal(JSON.parse(whole.out[0]).b.length, 300 * 1002);
  t.same(JSON.parse(whole.out[2]), { a: '3', b: 'end' });
  for (const piece of [1 << 16, (1 << 16) + 1, 65535, 4096, 997]) {
    for (const json of [false, true])
      t.same(await read(text, piece, {}, json), whole, `${piece}-byte pieces, json=${json}`);
  }
});
