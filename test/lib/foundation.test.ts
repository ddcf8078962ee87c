// The record-stream library every command stands on: lines, exact JSON, sealed streams,
// batched writes, decimals, rejects, redaction and cli()'s exit codes.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import t from 'tap';
import { cli } from '../../src/run/cli.js';
import { Decimal, parseDecimal, toDecimal } from '../../src/lib/decimal.js';
import { DataError, ExitCode } from '../../src/lib/errors.js';
import { parseTableName, qualified } from '../../src/lib/ident.js';
import { parseJson } from '../../src/lib/json.js';
import { splitLines } from '../../src/lib/lines.js';
import { lineText, readLineBatches, readRecordBatches } from '../../src/lib/records.js';
import { addSecret, redact } from '../../src/lib/redact.js';
import { parseMaxRejects, Rejects } from '../../src/lib/rejects.js';
import { decodeText } from '../../src/lib/text.js';
import { LineWriter } from '../../src/lib/write.js';
import { tmp } from '../helpers.js';

async function* chunks(...parts: (string | Buffer)[]) {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

t.test('splitLines numbers lines across chunk boundaries', async (t) => {
  const batches = await collect(splitLines(decodeText(chunks('a\nb', 'c\n', 'd'), 'x'), 'x'));
  const flat = batches.flatMap((b) => b.lines.map((l, i) => `${b.first + i}:${l}`));
  t.same(flat, ['1:a', '2:bc', '3:d']);
});

t.test('splitLines refuses a line over the limit, naming it', async (t) => {
  await t.rejects(
    collect(splitLines(decodeText(chunks('ok\n', 'x'.repeat(50), 'y'.repeat(60)), 'big.ndjson'), 'big.ndjson', 100)),
    {
      message: /^big\.ndjson:2: line longer than 100 characters/,
    },
  );
});

// bx-load reads record lines as bytes (readLineBatches); bx-clean and bx-agg decode them
// (readRecordBatches). Both must see the same records on the same lines, and fail alike.
t.test('readLineBatches sees the lines readRecordBatches sees, in any cut of the input', async (t) => {
  const pieces = (b: Buffer, n: number) =>
    Readable.from(Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, i * n + n)));
  const outcome = async (bytes: Buffer, n: number, byLines: boolean, expectSealed = false) => {
    try {
      const got: string[] = [];
      if (byLines)
        for await (const b of readLineBatches(pieces(bytes, n), 'in', { expectSealed, maxLine: 40 }))
          b.lines.forEach((l, i) => got.push(`${l}:${JSON.stringify(JSON.parse(lineText(b, i)))}`));
      else
        for await (const b of readRecordBatches(pieces(bytes, n), 'in', { expectSealed, maxLine: 40 }))
          b.lines.forEach((l, i) => got.push(`${l}:${JSON.stringify(b.records[i])}`));
      return got;
    } catch (err) {
      return (err as Error).message.replace(/characters|bytes/, 'units');
    }
  };
  const cases: [string, Buffer, boolean?][] = [
    ['plain', Buffer.from('{"a":1}\n{"a":"é"}\n')],
    ['BOM, CRLF, blank lines, no last newline', Buffer.from('\ufeff{"a":1}\r\n\r\n\n{"b":"€"}\r\n{"c":3}')],
    ['UTF-16LE with its BOM', Buffer.from('\ufeff{"a":"é"}\n{"b":2}\n', 'utf16le')],
    [
      'invalid UTF-8 on line 3',
      Buffer.concat([Buffer.from('{"a":1}\n\n{"a":"'), Buffer.from([0xe2, 0x28]), Buffer.from('"}\n')]),
    ],
    ['cut inside a character at the end', Buffer.concat([Buffer.from('{"a":1}\n{"a":2}'), Buffer.from([0xe2, 0x82])])],
    ['a line over the limit', Buffer.from('{"a":1}\n{"a":"' + 'x'.repeat(50) + '"}\n')],
    ['an unended line over the limit', Buffer.from('{"a":1}\n{"a":"' + 'x'.repeat(50))],
    ['sealed', Buffer.from('{"a":1}\n{"a":2}\n{"@bx":"end","records":2}\n'), true],
    ['sealed, a record lost', Buffer.from('{"a":1}\n{"@bx":"end","records":2}\n'), true],
    ['not sealed', Buffer.from('{"a":1}\n'), true],
    ['a record after the trailer', Buffer.from('{"a":1}\n{"@bx":"end","records":1}\n{"a":2}\n'), true],
    ['empty', Buffer.alloc(0)],
    ['a lone BOM', Buffer.from('\ufeff')],
  ];
  for (const [what, bytes, sealed] of cases) {
    const want = await outcome(bytes, bytes.length || 1, false, sealed);
    for (const n of [bytes.length || 1, 1, 2, 3, 7])
      t.same(await outcome(bytes, n, true, sealed), want, `${what}, ${n}-byte pieces`);
  }
  t.match(await outcome(cases[3][1], 3, true), /^in:3: invalid UTF-8/);
});

t.test('decodeText: BOM dropped, invalid UTF-8 named by line, latin1 and UTF-16LE', async (t) => {
  t.same(await collect(decodeText(chunks(Buffer.from([0xef, 0xbb, 0xbf, 0x61])), 'f')), ['a']);
  await t.rejects(collect(decodeText(chunks('one\ntwo\n', Buffer.from([0x74, 0xff, 0x0a])), 'f.csv')), {
    message: /^f\.csv:3: invalid UTF-8/,
  });
  t.same((await collect(decodeText(chunks(Buffer.from([0x63, 0x61, 0x66, 0xe9])), 'f', 'latin1'))).join(''), 'café');
  t.same((await collect(decodeText(chunks(Buffer.from('\ufeffhé\n', 'utf16le')), 'f'))).join(''), 'hé\n');
  // Fed a byte at a time: the BOM, split characters and the 2-byte UTF-16 mark still decode.
  const bytes = (b: Buffer) => [...b].map((x) => Buffer.from([x]));
  t.same((await collect(decodeText(chunks(...bytes(Buffer.from('\ufeffhé\n', 'utf16le'))), 'f'))).join(''), 'hé\n');
  t.same((await collect(decodeText(chunks(...bytes(Buffer.from('\ufeffcafé 🚀\n'))), 'f'))).join(''), 'café 🚀\n');
  await t.rejects(collect(decodeText(chunks(Buffer.from([0x61, 0x0a, 0xff])), 'x.csv')), {
    message: /^x\.csv:2: invalid UTF-8 \(bytes \\xff\)/,
  });
});

t.test('parseJson keeps numbers a double cannot hold as strings', async (t) => {
  const at = { file: 'f', line: 1 };
  t.same(parseJson('{"a":12345678901234567890,"b":1.5,"c":0.12345678901234567,"d":9007199254740993}', at), {
    a: '12345678901234567890',
    b: 1.5,
    c: '0.12345678901234567',
    d: '9007199254740993',
  });
  t.same(parseJson('{"n":9007199254740991}', at), { n: 9007199254740991 });
  const proto = parseJson('{"__proto__":{"polluted":1},"x":12345678901234567890}', at) as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(proto), Object.prototype);
  t.same(Object.keys(proto), ['__proto__', 'x']);
  t.throws(() => parseJson('{"a":', at), { message: /^f:1: not valid JSON/ });
  t.throws(() => parseJson('['.repeat(1001) + ']'.repeat(1001), at), { message: /nested deeper than 1000/ });
});

t.test('readRecordBatches: sealed streams, malformed lines, blank lines', async (t) => {
  const read = (text: string, expectSealed: boolean) =>
    collect(readRecordBatches(chunks(text), 'stdin', { expectSealed }));
  const ok = await read('{"a":1}\n\n{"a":2}\n{"@bx":"end","records":2}\n', true);
  t.same(
    ok.flatMap((b) => b.records),
    [{ a: 1 }, { a: 2 }],
  );
  t.same(
    ok.flatMap((b) => b.lines),
    [1, 3],
  );
  await t.rejects(read('{"a":1}\n', true), {
    message: /input ended without its end-of-stream mark; upstream stage failed/,
  });
  await t.rejects(read('{"a":1}\n{"@bx":"end","records":5}\n', true), { message: /records were lost upstream/ });
  await t.rejects(read('{"a":1}\n[1]\n', false), { message: /^stdin:2: expected a JSON object/ });
  t.same(
    (await read('{"a":1}\n', false)).flatMap((b) => b.records),
    [{ a: 1 }],
  );
});

t.test('LineWriter batches, seals, and turns EPIPE into PipeClosed', async (t) => {
  const sink = new PassThrough();
  const got: Buffer[] = [];
  sink.on('data', (d) => got.push(d));
  const w = new LineWriter(sink, true);
  await w.records([{ a: 1 }, { b: 'x' }]);
  await w.end();
  t.equal(Buffer.concat(got).toString(), '{"a":1}\n{"b":"x"}\n{"@bx":"end","records":2}\n');

  const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('EPIPE'), { code: 'EPIPE' })) });
  const w2 = new LineWriter(broken);
  await w2.records([{ a: 1 }]);
  await t.rejects(
    async () => {
      await w2.flush();
      await new Promise((r) => setImmediate(r));
      await w2.records([{ a: 2 }]);
      await w2.flush();
    },
    { message: /output closed/ },
  );
});

t.test('Decimal: exact sums, half-away-from-zero rounding, no -0.00', async (t) => {
  let s = Decimal.ZERO;
  for (let i = 0; i < 10; i++) s = s.add(toDecimal(0.1)!);
  t.equal(s.toJSONValue(), 1);
  t.equal(toDecimal(0.1)!.add(toDecimal(0.2)!).toString(), '0.3');
  t.equal(parseDecimal('2.345')!.round(2).toString(), '2.35');
  t.equal(parseDecimal('-2.345')!.round(2).toString(), '-2.35');
  t.equal(parseDecimal('-0.001')!.round(2).toString(), '0.00');
  t.equal(parseDecimal('1')!.div(parseDecimal('3')!, 4).toString(), '0.3333');
  t.equal(parseDecimal('1.5e3')!.toString(), '1500');
  t.equal(toDecimal('99999999999999999999')!.add(toDecimal(1)!).toString(), '100000000000000000000');
  t.equal(parseDecimal('12345678901234567.5')!.toJSONValue(), '12345678901234567.5');
  t.equal(parseDecimal('abc'), undefined);
  t.equal(parseDecimal(''), undefined);
});

t.test('identifiers are always quoted', async (t) => {
  t.equal(qualified(parseTableName('sales')), '"sales"');
  t.equal(qualified(parseTableName('Mart.Daily Sales')), '"Mart"."Daily Sales"');
  t.equal(qualified(parseTableName('"a.b"."x""; drop table t; --"')), '"a.b"."x""; drop table t; --"');
  t.throws(() => parseTableName('a.b.c'), { name: 'UsageError' });
});

t.test('redact hides passwords in URLs, conninfo and registered secrets', async (t) => {
  t.equal(redact('postgres://bob:s3cret@db:5432/x failed'), 'postgres://bob:***@db:5432/x failed');
  t.equal(redact('host=db password=s3cret user=bob'), 'host=db password=*** user=bob');
  addSecret('hunter2-key');
  t.equal(redact('key is hunter2-key'), 'key is ***');
});

t.test('rejects file: 0600, atomic, limits by count and by percentage', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'rejects.ndjson');
  const r = await Rejects.open(path, parseMaxRejects('1'));
  r.add({ qty: 'abc' }, [{ field: 'qty', rule: 'integer', value: 'abc', message: 'expected an integer, got "abc"' }], {
    file: 'sales.csv',
    line: 3,
  });
  t.throws(() => r.add({ qty: 'x' }, [{ field: 'qty', rule: 'integer', message: 'm' }]), {
    message: /too many rejects/,
  });
  await r.close();
  t.equal(statSync(path).mode & 0o777, 0o600);
  const first = JSON.parse(readFileSync(path, 'utf8').split('\n')[0]);
  t.same(first, {
    record: { qty: 'abc' },
    errors: [{ field: 'qty', rule: 'integer', value: 'abc', message: 'expected an integer, got "abc"' }],
    source: 'sales.csv:3',
  });

  const pct = await Rejects.open(join(dir, 'p.ndjson'), parseMaxRejects('10%'));
  pct.add({}, [{ rule: 'required', message: 'm' }]);
  t.throws(() => pct.checkRatio(5), { message: /exceed --max-rejects 10%/ });
  t.doesNotThrow(() => pct.checkRatio(20));
  await pct.abort();

  const none = await Rejects.open(undefined);
  t.throws(
    () => none.add({}, [{ field: 'qty', rule: 'integer', message: 'expected an integer' }], { file: 'a.csv', line: 7 }),
    { name: 'DataError' },
  );
  t.throws(() => parseMaxRejects('lots'), { name: 'UsageError' });
});

t.test('cli(): usage errors are 64, data errors 65 with one line, internal errors 70 without a stack', async (t) => {
  const run = async (argv: string[], body: () => Promise<ExitCode>) => {
    const err: string[] = [];
    const stderr = new Writable({ write: (c, _e, cb) => (err.push(c.toString()), cb()) });
    const stdout = new PassThrough();
    const proc = { stdin: Readable.from([]), stdout, stderr, env: {}, cwd: () => '/' };
    const spec = {
      describe: 'test',
      usage: '[options]',
      examples: [['bx-t', 'run']] as [string, string][],
      options: (y: any) => y,
      normalize: (a: any) => a,
      run: body,
      stream: 'both' as const,
    };
    const code = await cli('bx-t', spec, argv, proc);
    return { code, stderr: err.join('') };
  };
  t.equal((await run(['--nope'], async () => ExitCode.Ok)).code, ExitCode.Usage);
  const data = await run([], async () => {
    throw new DataError({ file: 'sales.csv', line: 1042 }, 'qty', 'expected an integer, got "abc"');
  });
  t.equal(data.code, 65);
  t.equal(data.stderr, 'bx-t: sales.csv:1042: field "qty": expected an integer, got "abc"\n');
  const bug = await run([], async () => {
    throw new TypeError('x is undefined');
  });
  t.equal(bug.code, 70);
  t.notMatch(bug.stderr, /at .*\.ts:/);
  t.match(bug.stderr, /internal error: x is undefined \(run with -v for the stack trace\)/);
  const ok = await run(['-q'], async () => ExitCode.Ok);
  t.equal(ok.stderr, '');
});
