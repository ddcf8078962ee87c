// bx-extract's NDJSON byte path (ctx.json set) must write exactly what the object path writes
// (parseRecord + addLineage + stringifyRecord), line for line, and refuse exactly what it
// refuses, with the same rejects and the same error: on a table of tricky lines, on random
// lines, and with the input cut at every place.
import { Readable } from 'node:stream';
import t from 'tap';
import { pieces } from '../helpers.js';
type Test = Parameters<Parameters<typeof t.test>[1]>[0];
import { PassThrough } from 'node:stream';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { Canonical } from '../../src/formats/ndjson.js';
import { Logger } from '../../src/lib/log.js';
import { addLineage } from '../../src/lib/lineage.js';
import { stringifyRecord } from '../../src/lib/json.js';

const opts = (o: Partial<ReadOptions> = {}): ReadOptions => ({
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 20,
  maxDepth: 1000,
  ...o,
});

interface Result {
  out: string;
  lines: number[];
  rejects: string[];
  error?: string;
  bytesBatches: number;
}

async function read(chunks: Buffer[], bytes: boolean, lineage: boolean, o: Partial<ReadOptions> = {}): Promise<Result> {
  const rejects: string[] = [];
  const ctx: ReadContext = {
    log: new Logger('test', new PassThrough(), { format: 'human', verbosity: 1, tty: false }),
    reject: (rec, f, at) => void rejects.push(JSON.stringify([rec, f.rule, f.message, at])),
  };
  if (bytes) ctx.json = { lineage };
  const r: Result = { out: '', lines: [], rejects, bytesBatches: 0 };
  const reader = await readerFor('ndjson');
  try {
    for await (const b of reader({ name: 'in.ndjson', stream: Readable.from(chunks) }, opts(o), ctx)) {
      r.lines.push(...b.lines);
      if (b.ndjson) {
        r.bytesBatches++;
        r.out += b.ndjson.toString('utf8');
      } else {
        // What bx-extract does on the object path: FileSource adds lineage, the writer stringifies.
        if (lineage) addLineage(b.records, b.name, b.lines);
        for (const rec of b.records) r.out += stringifyRecord(rec) + '\n';
      }
    }
  } catch (err) {
    r.error = (err as Error).message;
  }
  return r;
}

const TRICKY = [
  '{}',
  '{"a":1}',
  '{"a": 1}',
  '{ "a":1}',
  '{"a":1} ',
  ' {"a":1}',
  '{"a":1}\r',
  '{"a":1,"a":2}',
  '{"a":1,"b":2,"a":3}',
  '{"b":1,"2":2,"1":3}',
  '{"10":1,"x":{"y":1}}',
  '{"a":{"2":1,"b":2}}',
  '{"a":{"b":1,"b":2}}',
  '{"a":{"b":1,"c":{"d":[1,{"e":null}]}}}',
  '{"a":[]}',
  '{"a":[1,2,[3,[4]]]}',
  '{"a":{}}',
  '{"a":1.0}',
  '{"a":1.5}',
  '{"a":1.50}',
  '{"a":1e5}',
  '{"a":1E5}',
  '{"a":-0}',
  '{"a":-0.0}',
  '{"a":-0.5}',
  '{"a":0}',
  '{"a":0.000001}',
  '{"a":0.0000001}',
  '{"a":0.0000012}',
  '{"a":123456789012345}',
  '{"a":1234567890123456}',
  '{"a":12345678901234567890}',
  '{"a":9007199254740993}',
  '{"a":0.1234567890123456789}',
  '{"a":12345678901234.5}',
  '{"a":1.7976931348623157e308}',
  '{"a":1e400}',
  '{"a":01}',
  '{"a":-}',
  '{"a":.5}',
  '{"a":5.}',
  '{"a":+1}',
  '{"a":true,"b":false,"c":null}',
  '{"a":tru}',
  '{"a":falsy}',
  '{"a":nul}',
  '{"a":"x\\"y"}',
  '{"a":"x\\\\y"}',
  '{"a":"x\\/y"}',
  '{"a":"x\\ny\\tz\\r\\b\\f"}',
  '{"a":"\\u0001\\u001f\\u001F"}',
  '{"a":"\\u000a"}',
  '{"a":"\\u0008"}',
  '{"a":"\\u00e9"}',
  '{"a":"\\u2028"}',
  '{"a":"\\ud83d\\ude00"}',
  '{"a":"\\ud800"}',
  '{"a":"\\udc00x"}',
  '{"a":"\\x41"}',
  '{"a":"\\u12"}',
  '{"a":"é ✓ 😀 \u2028 \u007f"}',
  '{"a":"tab\there"}',
  '{"a":"unterminated}',
  '{"é":1,"e\\u0301":2}',
  '{"a\\"b":1,"a\\"b":2}',
  '{"__proto__":1}',
  '{"__proto__":{"x":1}}',
  '{"constructor":1,"toString":2}',
  '{"_file":"x","_line":3,"a":1}',
  '{"a":1,"_line":"7"}',
  '{"_filex":1}',
  '{"a":1,}',
  '{"a":1',
  '{"a" 1}',
  '{a:1}',
  "{'a':1}",
  '[1,2]',
  '"str"',
  '42',
  'null',
  '{"a":1}{"b":2}',
  '{"a":1}x',
  '   ',
  '\t{"a":1}',
  '{"a":[1,2,]}',
  '{"":1,"":2}',
  '{"":""}',
  '{"a":' + '['.repeat(40) + ']'.repeat(40) + '}',
  '{"a":' + '{"b":'.repeat(40) + '1' + '}'.repeat(40) + '}',
  '{"a":"' + 'x'.repeat(3000) + '"}',
  '{"a":"' + '\\"'.repeat(300) + '"}',
  '{' + Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(',') + '}',
  '{' + Array.from({ length: 70 }, (_, i) => `"k${i}":${i}`).join(',') + '}',
  '{' + Array.from({ length: 40 }, (_, i) => `"k${i % 39}":${i}`).join(',') + '}',
  '{"a":"1234567890123456","b":1}',
  '{"n":1,"s":"12345678901234567"}',
];

async function same(t: Test, text: string, label: string, o: Partial<ReadOptions> = {}, cutsToo = false) {
  const buf = Buffer.from(text);
  for (const lineage of [false, true]) {
    const want = await read([buf], false, lineage, o);
    const got = await read([buf], true, lineage, o);
    t.same(got.out, want.out, `${label}${lineage ? ' (lineage)' : ''}: same output`);
    t.same(got.rejects, want.rejects, `${label}${lineage ? ' (lineage)' : ''}: same rejects`);
    t.same(got.error, want.error, `${label}${lineage ? ' (lineage)' : ''}: same error`);
    t.same(got.lines, want.lines, `${label}${lineage ? ' (lineage)' : ''}: same lines`);
    if (cutsToo) {
      for (let c = 1; c < buf.length; c++) {
        const cut = await read(pieces(buf, [c]), true, lineage, o);
        if (cut.out !== want.out || cut.error !== want.error || cut.rejects.join() !== want.rejects.join()) {
          t.fail(`${label}: cut at byte ${c} differs`);
          return;
        }
      }
      t.pass(`${label}${lineage ? ' (lineage)' : ''}: same at every cut of ${buf.length} bytes`);
    }
  }
}

t.test('tricky lines, one at a time: the byte path writes and refuses what the object path does', async (t) => {
  // Labels in ASCII: a U+2028 in a test name would cut the TAP line.
  for (const line of TRICKY)
    await same(
      t,
      line + '\n',
      JSON.stringify(line.slice(0, 60)).replace(
        /[^\x20-\x7e]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      ),
    );
});

t.test('all the tricky lines in one file, cut at every byte (UTF-8 characters and CRLF included)', async (t) => {
  const text = '\n' + TRICKY.filter((l) => l.length < 200).join('\n') + '\r\n\r\n\n' + '{"last":"no newline ✓"}';
  await same(t, text, 'the table as one file', {}, true);
});

t.test('the byte path is taken: canonical lines are passed on, not rebuilt', async (t) => {
  const c = new Canonical(32);
  const yes = ['{}', '{"a":1}', '{"a":"x\\"\\n\\u0001","b":[1,-2.5,0.001,true,null],"c":{"d":"e"}}', '{"b":1,"2":2}'];
  const no = [
    '{"a":1.0}',
    '{"a":1,"a":2}',
    '{"a":{"1":2}}',
    '{"a": 1}',
    '{"a":"\\/"}',
    '{"a":1e3}',
    '{"a":12345678901234567}',
    '[1]',
  ];
  for (const s of yes) t.ok(c.line(Buffer.from(s), 0, Buffer.byteLength(s)), `canonical: ${s}`);
  for (const s of no) t.notOk(c.line(Buffer.from(s), 0, Buffer.byteLength(s)), `not canonical: ${s}`);
  const r = await read([Buffer.from('{"a":1}\n{"a":2}\n')], true, false);
  t.equal(r.bytesBatches, 1, 'one byte batch');
});

t.test('the trailer of a saved sealed stream, blank lines, a record after the trailer', async (t) => {
  await same(t, '{"a":1}\n\n{"a":2}\n{"@bx":"end","records":2}\n', 'sealed', {}, true);
  await same(t, '{"a":1}\n{"@bx":"end","records":5}\n', 'bad count');
  await same(t, '{"a":1}\n{"@bx":"end","records":1}\n{"a":2}\n', 'after the trailer');
});

t.test('limits: --max-record-size in characters, --max-depth', async (t) => {
  const wide = '{"a":"' + 'é'.repeat(40) + '"}';
  await same(t, `${wide}\n{"b":1}\n`, 'line of 48 characters, 88 bytes, limit 60', { maxRecordSize: 60 });
  await same(t, `${wide}\n{"b":1}\n`, 'limit 30', { maxRecordSize: 30 });
  await same(t, '{"a":"' + 'x'.repeat(200) + '"}\n', 'limit 100, ASCII', { maxRecordSize: 100 });
  await same(t, '{"a":[[1]]}\n{"a":[1]}\n{"a":1}\n', 'depth limit 2', { maxDepth: 2 });
  await same(t, '{"a":[[1]]}\n{"a":1}\n', 'depth limit 1', { maxDepth: 1 });
});

t.test('invalid UTF-8 and a UTF-16 file', async (t) => {
  await same(t, '{"a":"x"}\n{"a":"\xff"}\n'.replace('\xff', '\u00ff'), 'latin1-looking text as UTF-8 (valid)');
  const bad = Buffer.concat([Buffer.from('{"a":"x"}\n{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
  for (const lineage of [false, true]) {
    const want = await read([bad], false, lineage);
    const got = await read([bad], true, lineage);
    t.same(got.error, want.error, 'same error for a bad byte');
  }
  const u16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":"é"}\n{"b":2}\n', 'utf16le')]);
  t.same((await read([u16], true, true)).out, (await read([u16], false, true)).out, 'UTF-16 input');
});

// A small random JSON generator: canonical lines (JSON.stringify of random values) and lines
// mutated from them (a byte inserted, deleted or replaced, spaces added), most no longer canonical.
let seed = 7;
const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
const ATOMS = [
  '0',
  '-1',
  '1.5',
  '2.50',
  '1e3',
  '0.0000001',
  '123456789012345678',
  'true',
  'false',
  'null',
  '"x"',
  '"é"',
  '"a\\"b"',
  '"\\u0001"',
  '"\\u00e9"',
  '"\\/"',
  '""',
];
const KEYS = ['a', 'b', 'c', '1', '_file', '_line', 'é', 'a b', '__proto__'];
function value(depth: number): string {
  const k = rnd(depth > 2 ? 2 : 4);
  if (k < 2) return ATOMS[rnd(ATOMS.length)];
  if (k === 2) return '[' + Array.from({ length: rnd(4) }, () => value(depth + 1)).join(',') + ']';
  return object(depth + 1);
}
const object = (depth: number): string =>
  '{' + Array.from({ length: rnd(5) }, () => `"${KEYS[rnd(KEYS.length)]}":${value(depth)}`).join(',') + '}';
const MUTATE = ' ,:{}[]"\\0e.-x';
function randomLine(): string {
  const s = object(0);
  return rnd(3) === 0 ? mutate(s) : s;
}

/** One character of MUTATE put in, a character taken out, or one replaced, at a random place. */
function mutate(s: string): string {
  const i = rnd(s.length + 1);
  const op = rnd(3);
  const ch = MUTATE[rnd(MUTATE.length)];
  if (op === 0) return s.slice(0, i) + ch + s.slice(i);
  if (op === 1) return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + ch + s.slice(i + 1);
}

t.test('2000 random lines, whole and in random pieces', async (t) => {
  const lines = Array.from({ length: 2000 }, randomLine);
  const text = lines.join('\n') + '\n';
  await same(t, text, 'random lines');
  const buf = Buffer.from(text);
  for (let r = 0; r < 5; r++) {
    const cuts = Array.from({ length: 50 }, () => rnd(buf.length)).sort((a, b) => a - b);
    const want = await read([buf], false, r % 2 === 1);
    const got = await read(pieces(buf, cuts), true, r % 2 === 1);
    t.same(got, { ...want, bytesBatches: got.bytesBatches }, `random pieces ${r}`);
  }
  // Each line alone too, so that a difference names its line.
  let bad = 0;
  for (const l of lines.slice(0, 600)) {
    for (const lineage of [false, true]) {
      const a = await read([Buffer.from(l + '\n')], false, lineage);
      const b = await read([Buffer.from(l + '\n')], true, lineage);
      if (a.out !== b.out || a.rejects.join() !== b.rejects.join() || a.error !== b.error) {
        if (bad++ < 5) t.fail(`differs: ${l}`);
      }
    }
  }
  t.equal(bad, 0, 'every random line alone: same output, rejects and error');
});

// Lines with one set of keys in one order, as most files are: after the first, Canonical.line
// takes its same-shape pass (sameShape), which must answer as reference() does on every line,
// and the output must be the object path's. Values of every kind, and mutations at every place.
// Canonical values first: most picks come from those, so most lines pass (SHAPE_OK of them).
const SHAPE_OK = 18;
const SHAPE_VALUES = [
  '""',
  '"x"',
  '"abcd"',
  '"abcdefgh"',
  '"é✓😀"',
  '"a b c d e f"',
  '"abc\\"d"',
  '"ab\\\\cd"',
  '"\\n\\t\\r\\b\\f\\"\\\\"',
  '"a\\u0001b"',
  '0',
  '-1',
  '1.5',
  '123456789012345',
  '0.000001',
  'true',
  'false',
  'null',
  '"\\/"',
  '2.50',
  '1e3',
  '-0',
  '1234567890123456',
  '0.0000001',
  'tru',
  'nul',
  'falsy',
  '[1,2]',
  '{"y":1}',
  '{"1":1}',
  '"a\\u00e9"',
  '"a\\u000a"',
  '"a\\x"',
  '"a\tb"',
];
const SHAPE_KEYS = ['id', 'a', 'name_of_it', 'abcd', '_line', 'é', 'k\\"q'];
function shapeLine(keys: string[]): string {
  const s =
    '{' + keys.map((k) => `"${k}":${SHAPE_VALUES[rnd(rnd(8) === 0 ? SHAPE_VALUES.length : SHAPE_OK)]}`).join(',') + '}';
  return rnd(4) === 0 ? mutate(s) : s;
}

t.test('same-shape lines: Canonical.line answers as its reference, output as the object path', async (t) => {
  for (const keys of [SHAPE_KEYS, SHAPE_KEYS.slice(1, 3), ['a', 'b'], ['id', 'id2', 'id'], ['_file', 'x']]) {
    const lines = Array.from({ length: 1500 }, () => shapeLine(keys));
    const fast = new Canonical(32);
    const ref = new Canonical(32);
    let bad = 0;
    let passed = 0;
    for (const l of lines) {
      // In one buffer with the lines around it, as readLineBatches hands them on.
      const buf = Buffer.from(`x\n${l}\n{"z":"y"}`);
      const e = 2 + Buffer.byteLength(l);
      const a = fast.line(buf, 2, e);
      const b = ref.reference(buf, 2, e);
      if (a !== b || (a && fast.lineageKey !== ref.lineageKey)) if (bad++ < 5) t.fail(`differs: ${l}`);
      if (a) passed++;
    }
    t.equal(bad, 0, `keys ${keys.join(',')}: every line the same answer (${passed} canonical)`);
    const text = lines.join('\n') + '\n';
    await same(t, text, `keys ${keys.join(',')}`);
    const buf = Buffer.from(text);
    const cuts = Array.from({ length: 40 }, () => rnd(buf.length)).sort((a, b) => a - b);
    for (const lineage of [false, true]) {
      const want = await read([buf], false, lineage);
      const got = await read(pieces(buf, cuts), true, lineage);
      t.same(
        got,
        { ...want, bytesBatches: got.bytesBatches },
        `keys ${keys.join(',')}: in pieces${lineage ? ' (lineage)' : ''}`,
      );
    }
  }
});
