// The pg layer without a server: COPY text encoding, origins, conninfo resolution, error mapping.
import t from 'tap';
import { CopyEncoder, copyValue, OriginMap, truncateIdent } from '../../src/pg/copy-text.js';
import { parseConninfo, resolveTarget, targetLabel } from '../../src/pg/connect.js';
import { pgError } from '../../src/pg/errors.js';
import { parsePartition } from '../../src/pg/load.js';
import { ExitCode } from '../../src/lib/errors.js';
import { lineBatch, parseRecord } from '../../src/lib/records.js';
import { redact } from '../../src/lib/redact.js';

t.test('copyValue escapes what COPY text needs and refuses what it cannot hold', async (t) => {
  const cases: [unknown, string][] = [
    ['plain', 'plain'],
    ['a\\b', 'a\\\\b'],
    ['\\.', '\\\\.'],
    ['\\N', '\\\\N'],
    ['t\tn\nr\r', 't\\tn\\nr\\r'],
    ['🚀 東京', '🚀 東京'],
    [null, '\\N'],
    [undefined, '\\N'],
    [true, 'true'],
    [-0, '0'],
    [1.5, '1.5'],
    ['123456789012345678901234567890', '123456789012345678901234567890'],
    [{ a: 'x\ty', b: [1, null] }, '{"a":"x\\\\ty","b":[1,null]}'],
  ];
  for (const [v, want] of cases) t.equal(copyValue(v), want, JSON.stringify(v) ?? 'undefined');
  t.throws(() => copyValue('a\0b'), /NUL byte/);
  t.throws(() => copyValue('x\ud800y'), /lone UTF-16 surrogate/);
  t.throws(() => copyValue('\udc00'), /lone UTF-16 surrogate/);
});

t.test('CopyEncoder: rows, NULLs for missing fields, unknown fields, a wider column list', async (t) => {
  const table = new Set(['a', 'b', 'c']);
  const enc = new CopyEncoder(['a', 'b'], table, false);
  const batch = {
    name: 'stdin',
    lines: [1, 2, 4, 5],
    records: [{ a: 1, b: 'x' }, { a: 2, _file: 'f.csv', _line: 9 }, { a: 3, c: 'new' }, { a: 4 }],
  };
  const r = enc.encode(batch);
  t.same(r, { text: '1\tx\n2\t\\N\n', count: 2, needs: ['c'] });
  t.same(enc.originOfRow(2), { at: { file: 'stdin', line: 2 }, source: 'f.csv:9' });
  enc.widen(['a', 'b', 'c']);
  t.same(enc.encode(batch, 2), { text: '3\t\\N\tnew\n4\t\\N\t\\N\n', count: 2 });
  t.same(
    enc.originOf(2),
    { at: { file: 'stdin', line: 5 }, source: undefined },
    'COPY lines count from the new statement',
  );
  t.throws(
    () => new CopyEncoder(['a'], table, false).encode({ name: 'in', lines: [7], records: [{ a: 1, zz: 2 }] }),
    /in:7: field "zz": no column of that name/,
  );
  t.equal(
    new CopyEncoder(['a'], table, true).encode({ name: 'in', lines: [7], records: [{ a: 1, zz: 2 }] }).text,
    '1\n',
    '--ignore-extra',
  );
});

t.test('OriginMap keeps runs, not one entry per row', async (t) => {
  const m = new OriginMap();
  for (let i = 1; i <= 1000; i++) m.add(i, 'a', i + 1);
  m.add(1001, 'a', 2000);
  m.add(1002, 'b', 1);
  t.same(m.get(500), { file: 'a', line: 501 });
  t.same(m.get(1001), { file: 'a', line: 2000 });
  t.same(m.get(1002), { file: 'b', line: 1 });
  t.equal(m.get(1003), undefined);
  t.equal((m as unknown as { rows: number[] }).rows.length, 3);
});

t.test('names are cut at 63 bytes, never inside a character', async (t) => {
  t.equal(truncateIdent('x'.repeat(70)), 'x'.repeat(63));
  t.equal(truncateIdent('é'.repeat(40)), 'é'.repeat(31), 'a 2-byte character is not split');
  t.equal(truncateIdent('short'), 'short');
});

t.test('--replace-where parsing', async (t) => {
  t.same(parsePartition('sale_date=2026-11-23'), { column: 'sale_date', value: '2026-11-23' });
  t.same(parsePartition("day='a b'"), { column: 'day', value: 'a b' });
  t.same(parsePartition('"a=b"=1'), { column: 'a=b', value: '1' });
  t.throws(() => parsePartition('nocolumn'), /expected column=value/);
});

t.test('connection: --db, DATABASE_URL, PG* variables; passwords registered as secrets', async (t) => {
  const fromDb = resolveTarget(
    { db: 'postgres://u:p%40ss1234@h.example:6000/d?sslmode=require' },
    { DATABASE_URL: 'postgres://x@y/z' },
  );
  t.match(fromDb, {
    host: 'h.example',
    port: 6000,
    user: 'u',
    database: 'd',
    password: 'p@ss1234',
    sslmode: 'require',
    source: '--db',
  });
  t.equal(targetLabel(fromDb), 'u@h.example:6000/d');
  t.equal(redact('said p@ss1234 here'), 'said *** here');
  t.match(resolveTarget({}, { DATABASE_URL: 'postgresql://x@y/z' }), {
    host: 'y',
    user: 'x',
    database: 'z',
    sslmode: 'prefer',
    source: 'DATABASE_URL',
  });
  t.match(resolveTarget({}, { PGHOST: 'ph', PGPORT: '5433', PGUSER: 'pu', PGDATABASE: 'pd', PGSSLMODE: 'disable' }), {
    host: 'ph',
    port: 5433,
    user: 'pu',
    database: 'pd',
    sslmode: 'disable',
    source: 'PG* variables',
  });
  t.match(resolveTarget({ db: "host=/tmp dbname='my db' user=k" }, {}), { host: '/tmp', database: 'my db', user: 'k' });
  t.same(parseConninfo('postgres://[::1]:5/db', 'x'), { host: '::1', port: '5', dbname: 'db' });
  t.throws(() => resolveTarget({ sslmode: 'maybe' }, {}), { exitCode: ExitCode.Config });
  t.throws(() => resolveTarget({}, { PGSERVICE: 'nope', PGSERVICEFILE: '/nonexistent' }), {
    exitCode: ExitCode.Config,
    message: /service "nope"/,
  });
  t.throws(() => resolveTarget({ db: 'mysql://a' }, {}), { exitCode: ExitCode.Config });
});

t.test('pg errors map to exit codes', async (t) => {
  const server = (code: string, extra: object = {}) => Object.assign(new Error('msg'), { code, ...extra });
  const cases: [unknown, ExitCode][] = [
    [server('28P01'), ExitCode.Config],
    [server('3D000'), ExitCode.Config],
    [server('40001'), ExitCode.TempFail],
    [server('40P01'), ExitCode.TempFail],
    [server('57P03'), ExitCode.TempFail],
    [server('22P02'), ExitCode.DataErr],
    [server('23505'), ExitCode.DataErr],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), ExitCode.Unavailable],
    [Object.assign(new Error(''), { code: 'ECONNRESET' }), ExitCode.TempFail],
    [new Error('Connection terminated unexpectedly'), ExitCode.TempFail],
    [new Error('self-signed certificate in certificate chain'), ExitCode.Config],
  ];
  for (const [err, code] of cases)
    t.equal(pgError(err).exitCode, code, `${(err as { code?: string }).code ?? (err as Error).message} → ${code}`);
  const copy = pgError(
    server('22P02', {
      message: 'invalid input syntax for type integer: "x"',
      where: 'COPY t, line 2, column qty: "x"',
    }),
    {
      copyOrigin: (n) => ({ at: { file: 'stdin', line: n + 10 }, source: 'a.csv:5' }),
    },
  );
  t.equal(copy.message, 'stdin:12: field "qty": invalid input syntax for type integer: "x" (record from a.csv:5)');
});

// The fast path (encodeLines: NDJSON lines straight to COPY text) must give what the record
// path (parseRecord + encode) gives: the same text, the same `needs`, the same error.
t.test('encodeLines gives what parsing and encoding each record gives, for tricky lines', async (t) => {
  const lines = [
    '{"a":"plain","b":1}',
    '{"a":"q\\"uote \\\\ back \\/ slash \\b\\f\\n\\r\\t end\\\\","b":2}',
    '{"a":"only \\"quotes\\"","b":2}',
    '{"a":"東京 🚀 é \u2028","b":3}',
    '{"a":"\\u00e9\\u6771\\ud83d\\ude80","b":4}',
    '{"a":"nul \\u0000 here"}',
    '{"a":"lone \\ud800 x"}',
    '{"a":"lone low \\udc00"}',
    '{"a":"x","b":123456789012345678901234567890}',
    '{"a":"x","b":9007199254740993}',
    '{"a":"x","b":123456789012345}',
    '{"b":1.50}',
    '{"b":1e2}',
    '{"b":1E+2}',
    '{"b":-0}',
    '{"b":-12}',
    '{"b":0.1234567890123456789}',
    '{"b":1e400}',
    '{"b":01}',
    '{"b":-}',
    '{"a":{"x":[1,"\\t"]},"b":null}',
    '{"a":[],"b":true}',
    '{"b":false,"a":null}',
    '{"b":5}',
    '{}',
    ' { "a" : "spaced" , "b" : 7 } ',
    '{"a":"cr"}\r',
    '{"a":"1","a":"2"}',
    '{"a":"1","b":2,"a":"3"}',
    '{"\\u0061":"escaped key"}',
    '{"a":"x","zz":1}',
    '{"a":"x","c":"a column not in the list"}',
    '{"a":"x","_file":"f.csv","_line":9}',
    '{"a":"x","_file":"f\\"q.csv","_line":10}',
    '{"a":"x","_file":"f.csv","_line":"11"}',
    '{"a":"x","_file":"f.csv","_file":"g.csv","_line":12}',
    '{"a":"raw\ttab"}',
    '{"a":"x",}',
    '{"a":"x"} junk',
    '{"a":"unterminated',
    '[1]',
    '"just a string"',
    '{"a":tru}',
    '{"b":true,"a":"x"}',
    '{"a":"x","b":"\\\\N"}',
    '{"b":2,"a":"reversed"}',
    '{"b":"\\u005c \\u000a \\u0009 \\u000d \\u0041 \\u00E9 \\u2603"}',
    '{"a":"\\ud83d\\ude80 pair","b":"\\uD834\\uDD1E"}',
    '{"a":"high then not low \\ud83d\\u0041"}',
    '{"a":"x","zz":"a skipped field in the middle","b":3}',
    '{"zz":{"nested":true},"b":2}',
    '{"b":1e21}',
    '{"b":-0.0}',
    '{"b":123456789012345}',
    '{"b":-123456789012345}',
    '{"b":1234567890123456}',
    '{"b":0}',
    '{"b":-5}',
    '{"b":00}',
    '{"b":1.}',
    '{"b":.5}',
    '{"b":1e}',
    '{"b":--1}',
    '{"b":12,"a":"x"}',
    '{"a":"x","_line":5,"_file":"f.csv"}',
    '{"_file":"f.csv","a":"x","_line":3,"b":1}',
    '{"a":"x","_file":7,"_line":3}',
    '{"a":"x","_file":"f.csv","_line":-3}',
    '{"a":"trailing spaces"}  ',
    '{"a":"x"}}',
    '{"a":"x","b":2',
    '{"a" :"x"}',
    '{"a":"\\x"}',
    '{"a":"\\u12"}',
    '{"a":"multi ☃ 𝄞 é"}',
    '{"a":nul}',
    '{"a":fals}',
    '{"a":true,"b":false}',
    '{"a":"x","b":null}',
    '{"a":"tab\\tand\\\\backslash\\\\."}',
    '{"a":"\\\\."}',
    '{"a":"","b":""}',
    '{',
    '{"',
    '{"a"',
    '{"a":',
    '{"a":"x",',
    '{"a": "python style", "b": 1}',
    '{ "a" : "x" ,\t"b"\t:\t2 }\r',
    '{"a": "x" , "b": null }  ',
    '{ }',
    ' {}',
    '{"a": , "b": 1}',
    '{"a": "x",, "b": 1}',
    '{"a": "x" "b": 1}',
  ];
  const outcome = (f: () => { text: string | Buffer; count: number; needs?: string[] }) => {
    try {
      const r = f();
      return { ...r, text: r.text.toString() };
    } catch (err) {
      return (err as Error).message;
    }
  };
  for (const ignoreExtra of [false, true]) {
    const table = new Set(['a', 'b', 'c']);
    const fast = new CopyEncoder(['a', 'b'], table, ignoreExtra, true);
    const slow = new CopyEncoder(['a', 'b'], table, ignoreExtra, true);
    let n = 0;
    // Each line three times: new keys, then the keys remembered from the line before.
    for (const line of lines) {
      const what = JSON.stringify(line).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`); // TAP-safe
      for (let k = 0; k < 3; k++) {
        n++;
        const batch = lineBatch('in', [n], [line]);
        const want = outcome(() =>
          slow.encode({ name: 'in', lines: [n], records: [parseRecord(line, { file: 'in', line: n })] }),
        );
        t.same(
          outcome(() => fast.encodeLines(batch)),
          want,
          `${ignoreExtra ? '--ignore-extra ' : ''}${what} (${k + 1})`,
        );
        t.same(fast.originOfRow(fast.rows), slow.originOfRow(slow.rows), `${what}: origin and lineage`);
      }
    }
    t.equal(fast.rows, slow.rows);
    t.ok(fast.fastRows > 60, `most lines took the fast path (${fast.fastRows} of ${fast.rows})`);
  }
  // A batch of many lines: the same COPY text, in the same pieces.
  const table = new Set(['a', 'b']);
  const many = Array.from({ length: 50 }, (_, i) => lines[i % 5].replace('"b":', i % 7 === 0 ? '"b" :' : '"b":'));
  const okLines = many.filter((l) => !/u0000|ud800/.test(l));
  const fast = new CopyEncoder(['a', 'b'], table, false).encodeLines(
    lineBatch(
      'in',
      okLines.map((_, i) => i + 1),
      okLines,
    ),
  );
  const slow = new CopyEncoder(['a', 'b'], table, false).encode({
    name: 'in',
    lines: okLines.map((_, i) => i + 1),
    records: okLines.map((l) => parseRecord(l, { file: 'in', line: 1 })),
  });
  t.same({ ...fast, text: fast.text.toString() }, slow);
});

// Numbers are copied as they are only when that is what String(number) gives; every shape of
// decimal around the edges (digits, zeros, exponents, 1e-6, 15 and 16 digits) must agree.
// Strings copied four bytes at a time, keys compared four at a time: every length around a
// word, a special byte (quote, backslash, control, UTF-8) at every place, keys of 1 to 13
// bytes, many lines with the same keys (the remembered ones) and mutated lines.
t.test('encodeLines agrees with the record path on random lines of every string length', async (t) => {
  let seed = 11;
  const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
  const CHARS = ['a', 'b', '7', ' ', '"', '\\', '\t', '\n', '\u0001', 'é', '東', '🚀', '.', 'N'];
  const str = () => {
    let x = '';
    const n = rnd(14);
    for (let j = 0; j < n; j++) x += rnd(4) === 0 ? CHARS[rnd(CHARS.length)] : 'abcdefgh'[rnd(8)];
    return x;
  };
  const cols = ['k', 'ab', 'abc', 'abcd', 'abcde', 'sale_id', 'product_name', 'a_long_key_13'];
  const table = new Set(cols);
  const lines: string[] = [];
  for (let n = 0; n < 3000; n++) {
    const keys = rnd(10) === 0 ? cols.slice().reverse() : cols;
    let l = JSON.stringify(Object.fromEntries(keys.map((k) => [k, rnd(6) === 0 ? rnd(1000) : str()])));
    if (rnd(6) === 0) {
      let i = rnd(l.length);
      // Not inside a surrogate pair: half of one is no UTF-8, and the two paths would read different text.
      while (/[\ud800-\udfff]/.test(l[i] ?? '')) i++;
      l = l.slice(0, i) + ' ,:{}"\\x'[rnd(9)] + l.slice(i + 1);
    }
    lines.push(l);
  }
  const fast = new CopyEncoder(cols, table, false, true);
  const slow = new CopyEncoder(cols, table, false, true);
  let bad = 0;
  lines.forEach((line, n) => {
    let want: string;
    let got: string;
    try {
      want = slow
        .encode({ name: 'in', lines: [n + 1], records: [parseRecord(line, { file: 'in', line: n + 1 })] })
        .text.toString();
    } catch (err) {
      want = (err as Error).message;
    }
    try {
      got = fast.encodeLines(lineBatch('in', [n + 1], [line])).text.toString();
    } catch (err) {
      got = (err as Error).message;
    }
    if (got !== want && bad++ < 5)
      t.fail(`differs: ${JSON.stringify(line)}: ${JSON.stringify(got)} / ${JSON.stringify(want)}`);
  });
  t.equal(bad, 0, 'every line: the same COPY text or the same error');
  t.ok(fast.fastRows > 1500, `most lines took the fast path (${fast.fastRows})`);
});

t.test('encodeLines writes numbers as the record path does', async (t) => {
  const tokens = new Set([
    '0.1',
    '387.61',
    '-0.5',
    '0.000001',
    '0.0000001',
    '0.00000123',
    '-0.000123',
    '1.50',
    '10.0',
    '100',
    '1e2',
    '1E-7',
    '-0',
    '-0.0',
    '0.0',
    '123456789012345',
    '1234567890123456',
    '12345678901234.5',
    '1234567890123.45',
    '123456789012345.6',
    '0.123456789012345',
    '0.1234567890123456',
    '9007199254740993.5',
    '5e-324',
    '1.7976931348623157e308',
  ]);
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const digits = (n: number) => Array.from({ length: n }, () => rand(10)).join('');
  for (let k = 0; k < 4000; k++) {
    const int = rand(4) === 0 ? '0' : String(1 + rand(9)) + digits(rand(16));
    const frac = rand(5) === 0 ? '' : '.' + '0'.repeat(rand(4) === 0 ? rand(8) : 0) + digits(1 + rand(17));
    const exp = rand(6) === 0 ? `e${rand(2) ? '-' : ''}${rand(30)}` : '';
    tokens.add((rand(3) === 0 ? '-' : '') + int + frac + exp);
  }
  const lines = [...tokens].map((n) => `{"a":"x","b":${n}}`);
  const table = new Set(['a', 'b']);
  const fast = new CopyEncoder(['a', 'b'], table, false).encodeLines(
    lineBatch(
      'in',
      lines.map((_, i) => i + 1),
      lines,
    ),
  );
  const slow = new CopyEncoder(['a', 'b'], table, false).encode({
    name: 'in',
    lines: lines.map((_, i) => i + 1),
    records: lines.map((l) => parseRecord(l, { file: 'in', line: 1 })),
  });
  const f = fast.text.toString().split('\n');
  const w = slow.text.split('\n');
  const wrong = lines.filter((_, i) => f[i] !== w[i]);
  t.same(wrong, [], `${lines.length} numbers written alike`);
});

t.test('encodeLines: the replace-where partition check as the record path makes it', async (t) => {
  const table = new Set(['d', 'v']);
  const enc = () => new CopyEncoder(['d', 'v'], table, false, false, { column: 'd', value: '2026-11-23' });
  const lines = [
    '{"d":"2026-11-23","v":1}',
    '{"d":"2026-11-23","v":2}',
    '{"d":"2026-11-23","v":3}',
    '{"d":"2026-11-24","v":4}',
  ];
  const e = enc();
  t.throws(
    () => e.encodeLines(lineBatch('in', [1, 2, 3, 4], lines)),
    /^in:4: field "d": value "2026-11-24" is outside the partition being replaced/,
  );
  t.equal(e.fastRows, 3);
  t.throws(() => enc().encodeLines(lineBatch('in', [1], ['{"v":1}'])), /value missing is outside/);
  t.throws(() => enc().encodeLines(lineBatch('in', [1], ['{"d":null}'])), /value null is outside/);
});
