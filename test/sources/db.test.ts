// The database sources' pieces that need no server: exact JSON text of values, COPY text and
// array literals, the incremental WHERE, the MySQL connection rules; then the PostgreSQL and
// MySQL sources driven directly against the machine's servers (skipped when unreachable).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { redact } from '../../src/lib/redact.js';
import { arrayJson, CopyTranscoder, unescapeCopy, open as openPg } from '../../src/sources/postgres.js';
import { CopyFrames } from '../../src/sources/pg-copy-out.js';
import { myError, open as openMy, quoteMyIdent, resolveMyTarget } from '../../src/sources/mysql.js';
import {
  compactJson,
  decimalJson,
  floatJson,
  incrementalWhere,
  intJson,
  refuseDuplicateColumns,
  timestampText,
  watermarkOf,
} from '../../src/sources/sql.js';
import type { SourceRequest } from '../../src/sources/index.js';
import { pieces, tmp } from '../helpers.js';

t.test('numbers: a JSON number when a double holds it, else the digits as a string', async (t) => {
  const cases: [string, string][] = [
    ['42', '42'],
    ['-9007199254740991', '-9007199254740991'],
    ['9007199254740993', '"9007199254740993"'],
    ['-9223372036854775808', '"-9223372036854775808"'],
  ];
  for (const [in_, out] of cases) t.equal(intJson(in_), out, in_);
  const dec: [string, string][] = [
    ['10.50', '10.5'],
    ['0.00', '0'],
    ['-0.0000000001', '-1e-10'],
    ['123456789012345.00', '123456789012345'],
    ['1234567890123456.1', '"1234567890123456.1"'],
    ['12345678901234567890.1234567890', '"12345678901234567890.1234567890"'],
    ['0.1234567890123456789', '"0.1234567890123456789"'],
    ['NaN', '"NaN"'],
    ['Infinity', '"Infinity"'],
    ['-Infinity', '"-Infinity"'],
    ['100000000000000000000', '"100000000000000000000"'],
  ];
  for (const [in_, out] of dec) t.equal(decimalJson(in_), out, in_);
  for (const [in_, out] of [
    ['0.1', '0.1'],
    ['1e+300', '1e+300'],
    ['NaN', '"NaN"'],
    ['-Infinity', '"-Infinity"'],
    ['-inf', '"-inf"'],
  ])
    t.equal(floatJson(in_), out, in_);
  // Every number written is valid JSON and the same value as its text.
  for (const [in_, out] of dec) if (!out.startsWith('"')) t.equal(JSON.parse(out), Number(in_));
});

t.test('timestamps: ISO 8601 with a T and microseconds; an offset only for zoned types; never shifted', async (t) => {
  t.equal(timestampText('2026-11-23 00:30:00', false), '2026-11-23T00:30:00.000000');
  t.equal(timestampText('2026-11-23 00:30:00.5', false), '2026-11-23T00:30:00.500000');
  t.equal(timestampText('2026-11-23 00:30:00.123456+00', true), '2026-11-23T00:30:00.123456+00:00');
  t.equal(timestampText('2026-11-23 00:30:00+0530', true), '2026-11-23T00:30:00.000000+05:30');
  t.equal(timestampText('12026-01-01 00:00:00', false), '12026-01-01T00:00:00.000000');
  t.equal(timestampText('infinity', true), 'infinity');
  t.equal(timestampText('0044-03-15 10:00:00 BC', false), '0044-03-15 10:00:00 BC');
});

t.test('json text goes on one line, strings and digits untouched', async (t) => {
  t.equal(
    compactJson('{"a": [1, 2.50],\n "s": "x y\\" z", "big": 12345678901234567890}'),
    '{"a":[1,2.50],"s":"x y\\" z","big":12345678901234567890}',
  );
  t.equal(compactJson('null'), 'null');
});

t.test('COPY text escapes and array literals', async (t) => {
  t.equal(unescapeCopy('a\\tb\\nc\\\\d\\re'), 'a\tb\nc\\d\re');
  t.equal(unescapeCopy('\\101\\x42'), 'AB');
  const str = (s: string) => JSON.stringify(s);
  t.equal(
    arrayJson('{1,NULL,3}', (s) => s, ','),
    '[1,null,3]',
  );
  t.equal(arrayJson('{"a b",NULL,"c\\"d","x\\\\y",""}', str, ','), '["a b",null,"c\\"d","x\\\\y",""]');
  t.equal(
    arrayJson('{{1,2},{3,4}}', (s) => s, ','),
    '[[1,2],[3,4]]',
  );
  t.equal(
    arrayJson('{}', (s) => s, ','),
    '[]',
  );
  t.equal(
    arrayJson('[0:1]={7,8}', (s) => s, ','),
    '[7,8]',
  );
  t.equal(arrayJson('{"NULL",NULL}', str, ','), '["NULL",null]');
  t.equal(arrayJson('{(0,0),(1,1);(2,2),(3,3)}', str, ';'), '["(0,0),(1,1)","(2,2),(3,3)"]');
});

t.test('the byte transcoder writes what the string converters write', async (t) => {
  // kinds: Raw 0, Int8 1, Num 2, Float 3, Bool 4, Str 5, Ts 6, Tstz 7, Date 8
  const slow = [
    (s: string) => s,
    (s: string) => intJson(s),
    decimalJson,
    floatJson,
    (s: string) => (s === 't' ? 'true' : 'false'),
    (s: string) => JSON.stringify(s),
    (s: string) => JSON.stringify(timestampText(s, false)),
    (s: string) => JSON.stringify(timestampText(s, true)),
    (s: string) => JSON.stringify(s),
  ];
  const cases: [number, string, unknown][] = [
    [1, '9007199254740993', '9007199254740993'],
    [1, '-42', -42],
    [2, '10.50', 10.5],
    [2, '0.00', 0],
    [2, '-0.50', -0.5],
    [2, '0.0000001', 1e-7],
    [2, '0.000001', 0.000001],
    [2, '123456789012345', 123456789012345],
    [2, '1234567890123456', '1234567890123456'],
    [2, '100.000', 100],
    [2, 'NaN', 'NaN'],
    [3, '-1.5e-300', -1.5e-300],
    [3, '-Infinity', '-Infinity'],
    [4, 't', true],
    [5, String.raw`a\\b\tc\nd\re\bf\fg\vh"i` + '\u0001j é🎉', 'a\\b\tc\nd\re\bf\fg\vh"i\u0001j é🎉'],
    [5, String.raw`\\N`, '\\N'],
    [6, '2026-11-23 00:30:00', '2026-11-23T00:30:00.000000'],
    [6, '2026-11-23 00:30:00.12', '2026-11-23T00:30:00.120000'],
    [6, '0044-03-15 10:00:00 BC', '0044-03-15 10:00:00 BC'],
    [7, '2026-11-23 00:30:00.5+00', '2026-11-23T00:30:00.500000+00:00'],
    [7, '-infinity', '-infinity'],
    [8, '2026-11-23', '2026-11-23'],
    [8, '0044-03-15 BC', '0044-03-15 BC'],
  ];
  for (const [kind, copyText, expected] of cases) {
    const x = new CopyTranscoder(['v'], [kind as never], [slow[kind]], '');
    const line = Buffer.from(copyText.replace(/\\u0001/, '\u0001') + '\n');
    x.lines(line, 0, line.length);
    const fast = x.take().bytes.toString();
    const viaString = `{"v":${slow[kind](unescapeCopy(copyText.replace(/\\u0001/, '\u0001')))}}\n`;
    t.equal(fast, viaString, `${kind} ${copyText}`);
    const want = typeof expected === 'string' ? expected.replace(/\\u0001/, '\u0001').replace(/\\v/, '\v') : expected;
    if (kind !== 5) t.same(JSON.parse(fast).v, want, `${kind} ${copyText} parses back`);
  }
  // The NULL marker, several columns, the lineage.
  const x = new CopyTranscoder(['a', 'b'], [0 as never, 5 as never], [slow[0], slow[5]], ',"_file":"q","_line":');
  const two = Buffer.from('1\t\\N\n\\N\tx\n');
  x.lines(two, 0, two.length);
  t.equal(
    x.take().bytes.toString(),
    '{"a":1,"b":null,"_file":"q","_line":1}\n{"a":null,"b":"x","_file":"q","_line":2}\n',
  );
});

t.test('fused byte writers: the reference bytes on awkward values, rows in any framing and chunking', async (t) => {
  // kinds: Raw 0, Int8 1, Num 2, Float 3, Bool 4, Str 5, Ts 6, Tstz 7, Date 8. Each value is COPY
  // text as the server writes it (escapes included); the reference is the string converter.
  const ref: ((s: string) => string)[] = [
    (s) => s,
    intJson,
    decimalJson,
    floatJson,
    (s) => (s === 't' ? 'true' : 'false'),
    (s) => JSON.stringify(s),
    (s) => JSON.stringify(timestampText(s, false)),
    (s) => JSON.stringify(timestampText(s, true)),
    (s) => JSON.stringify(s),
  ];
  const values: string[][] = [
    ['0', '-7', '2147483647', '\\N', '12'],
    ['0', '-1', '999999999999999', '1000000000000000', '-9223372036854775808', '\\N', '42'],
    [
      '0.00',
      '-0.00',
      '10.50',
      '100',
      '0.000001',
      '0.0000001',
      '-0.0000005',
      '123456789012.345',
      '1234567890123.4567',
      '00.5',
      'NaN',
      '-Infinity',
      '1e5',
      '\\N',
      '7.1',
    ],
    ['1.5', '-2.25e-300', '1e+100', 'NaN', '-Infinity', 'Infinity', '\\N', '3'],
    ['t', 'f', '\\N'],
    [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'abcde',
      'item 12345',
      '\\\\N',
      'N',
      '"',
      'a"b"',
      '\\\\\\\\',
      'x\\ty\\nz\\rw',
      '\\b\\f\\v',
      '\u0001\u001f',
      'é',
      'é🎉 long enough for words',
      'ab\\"',
      '\\N',
      '"quoted"',
    ],
    [
      '2026-11-23 00:30:00',
      '2026-11-23 00:30:00.5',
      '2026-11-23 00:30:00.123456',
      '2026-11-23 00:30:00.1234567',
      '2026-11-23 00:30:00.',
      '0044-03-15 10:00:00 BC',
      '10000-01-01 00:00:00',
      'infinity',
      '-infinity',
      '\\N',
    ],
    [
      '2026-11-23 00:30:00+00',
      '2026-11-23 00:30:00.000001+00',
      '2026-11-23 00:30:00+05',
      '2026-11-23 00:30:00+05:30',
      '2026-11-23 00:30:00',
      'infinity',
      '\\N',
    ],
    ['2026-11-23', '0044-03-15 BC', '10000-01-01', 'infinity', '\\N'],
  ];
  const names = ['a', 'b', 'ts', 'a long column name', 'é', 'x', 'y', 'z', 'd'];
  for (const lineage of ['', ',"_file":"q","_line":']) {
    // Every kind beside every other: column c of row r takes value (r + c) of its kind's list.
    const order = [6, 2, 5, 1, 7, 4, 8, 3, 0];
    const rows: string[] = [];
    const want: string[] = [];
    for (let r = 0; r < 40; r++) {
      const fields = order.map((k, c) => values[k][(r + c * 3) % values[k].length]);
      rows.push(fields.join('\t') + '\n');
      const body = fields.map(
        (f, c) => JSON.stringify(names[c]) + ':' + (f === '\\N' ? 'null' : ref[order[c]](unescapeCopy(f))),
      );
      want.push('{' + body.join(',') + (lineage ? `${lineage}${r + 1}` : '') + '}\n');
    }
    const run = (feed: (x: CopyTranscoder) => void) => {
      const x = new CopyTranscoder(
        names,
        order as never[],
        order.map((k) => ref[k]),
        lineage,
      );
      feed(x);
      return x.take().bytes.toString();
    };
    // All lines in one call; each line alone in a buffer of its own size (reads end at its end).
    const all = Buffer.from(rows.join(''));
    t.equal(
      run((x) => x.lines(all, 0, all.length)),
      want.join(''),
      `one call${lineage && ', lineage'}`,
    );
    const alone = run((x) => {
      for (const r of rows) {
        const b = Buffer.from(r);
        x.lines(b, 0, b.length);
      }
    });
    t.equal(alone, want.join(''), `a line per call${lineage && ', lineage'}`);
    // As CopyData messages off a socket, cut at every offset: a row per message (what the
    // server sends), then messages of two rows and of half a row:
    // the line sink gets whole lines whatever the framing.
    const msg = (p: Buffer) => {
      const h = Buffer.alloc(5);
      h[0] = 0x64;
      h.writeUInt32BE(p.length + 4, 1);
      return Buffer.concat([h, p]);
    };
    const odd: Buffer[] = [];
    for (let r = 0; r < rows.length; r += 3) {
      odd.push(msg(Buffer.from(rows[r] + (rows[r + 1] ?? ''))));
      if (r + 2 < rows.length) {
        const b = Buffer.from(rows[r + 2]);
        odd.push(msg(b.subarray(0, 7)), msg(b.subarray(7)));
      }
    }
    const framings = {
      'a row per message': Buffer.concat(rows.map((r) => msg(Buffer.from(r)))),
      'rows across messages': Buffer.concat(odd),
    };
    // Each both through the line sink alone and with the transcoder's own walk of whole
    // messages (messages(), the fast path), which must give the same bytes.
    for (const [how, framed] of Object.entries(framings)) {
      for (const fast of [false, true]) {
        let same = 0;
        for (let cut = 1; cut < framed.length; cut++) {
          const got = run((x) => {
            const f = new CopyFrames(
              (b, a, z) => x.lines(b, a, z),
              fast ? (b, i, n) => x.messages(b, i, n) : undefined,
            );
            for (const piece of pieces(framed, [cut])) f.chunk(Buffer.from(piece));
          });
          if (got === want.join('')) same++;
          else t.equal(got, want.join(''), `${how}${fast ? ', fast path' : ''}, cut at ${cut}`);
        }
        t.equal(
          same,
          framed.length - 1,
          `${how}${fast ? ', fast path' : ''}: every cut of ${framed.length} bytes${lineage && ', lineage'}`,
        );
      }
      // The whole stream in one chunk: the fast path takes every message of it.
      const fastAll = run((x) => {
        const f = new CopyFrames(
          (b, a, z) => x.lines(b, a, z),
          (b, i, n) => x.messages(b, i, n),
        );
        f.chunk(Buffer.from(framed));
      });
      t.equal(fastAll, want.join(''), `${how}, fast path, one chunk${lineage && ', lineage'}`);
    }
  }
  // Each value alone, at the very end of its buffer, as the first and only column.
  for (let k = 0; k < values.length; k++) {
    for (const v of values[k]) {
      const x = new CopyTranscoder(['v'], [k as never], [ref[k]], '');
      const line = Buffer.from(v + '\n');
      x.lines(line, 0, line.length);
      t.equal(x.take().bytes.toString(), `{"v":${v === '\\N' ? 'null' : ref[k](unescapeCopy(v))}}\n`, `${k} ${v}`);
    }
  }
});

t.test('incremental: the row comparison with --key, the plain one without; a stored position checked', async (t) => {
  const lit = (v: string) => `'${v}'`;
  t.equal(
    incrementalWhere('c', ['k'], lit, { value: '5', key: ['9'] }, { value: '7', key: ['2'] }),
    `c IS NOT NULL AND (c, k) <= ('7', '2') AND (c, k) > ('5', '9')`,
  );
  t.equal(incrementalWhere('c', [], lit, undefined, { value: '7' }), `c IS NOT NULL AND c <= '7'`);
  t.same(watermarkOf(undefined, { column: 'c', key: [] }, 'k'), undefined);
  t.same(watermarkOf({ value: '5', key: ['1'] }, { column: 'c', key: ['id'] }, 'k'), { value: '5', key: ['1'] });
  t.throws(() => watermarkOf({ value: '5' }, { column: 'c', key: ['id'] }, 'k'), {
    exitCode: 78,
    message: /no values for --key id/,
  });
  t.throws(() => watermarkOf(42, { column: 'c', key: [] }, 'k'), { exitCode: 78 });
  t.throws(() => refuseDuplicateColumns(['a', 'b', 'a'], 'the query'), {
    exitCode: 64,
    message: /"a" \(columns 1 and 3\)/,
  });
});

t.test('MySQL connection: URL, then MYSQL_PWD, then ~/.my.cnf [client]; the password is a secret', async (t) => {
  const home = tmp(t);
  writeFileSync(
    join(home, '.my.cnf'),
    '[mysqldump]\npassword=wrong\n[client]\nuser = cnfuser\npassword = "cnf-pass-1"\nport=3307\n',
  );
  let m = resolveMyTarget('mysql://127.0.0.1/shop', undefined, { HOME: home });
  t.match(m, { host: '127.0.0.1', port: 3307, user: 'cnfuser', password: 'cnf-pass-1', database: 'shop' });
  t.equal(redact('x cnf-pass-1 y'), 'x *** y');
  m = resolveMyTarget('mariadb://u@db.example:3306/shop', 'require', { HOME: home, MYSQL_PWD: 'env-pass-2' });
  t.match(m, { host: 'db.example', port: 3306, user: 'u', password: 'env-pass-2', ssl: { rejectUnauthorized: false } });
  m = resolveMyTarget('mysql://u:url%40pass@h/shop', undefined, { HOME: home, MYSQL_PWD: 'env-pass-2' });
  t.equal(m.password, 'url@pass');
  t.equal(redact('mysql://u:url%40pass@h/shop'), 'mysql://u:***@h/shop');
  t.equal(quoteMyIdent('we`ird'), '`we``ird`');
  t.match(myError(Object.assign(new Error('x'), { errno: 1142, sqlMessage: 'SELECT command denied' }), 'l'), {
    exitCode: 77,
  });
  t.match(myError(Object.assign(new Error('x'), { errno: 1064, sqlMessage: 'syntax' }), 'l'), { exitCode: 65 });
  t.match(myError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'u@h:1/d'), {
    exitCode: 69,
    message: /u@h:1\/d/,
  });
});

// ---- the sources themselves, against the servers ----------------------------------------------

const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MY = process.env.BX_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';
const logLines: string[] = [];
const io = {
  env: { DATABASE_URL: PG, TZ: 'Asia/Tokyo' },
  log: { info: (m: string) => logLines.push(m), warn: () => {}, debug: () => {}, error: () => {} },
  stdout: new PassThrough(),
} as never;
const ctx = (json: boolean) =>
  ({
    log: { info: () => {}, warn: () => {}, debug: () => {} },
    reject: () => {},
    json: json ? { lineage: true } : undefined,
  }) as never;
const req = (sql: SourceRequest['sql']): SourceRequest => ({ target: 'query', read: {} as never, sql });

async function drain(
  src: { batches: (c: never) => AsyncIterable<{ lines: number[]; records: unknown[]; ndjson?: Buffer }> },
  json: boolean,
) {
  const out: { lines: number[]; records: unknown[]; text: string }[] = [];
  for await (const b of src.batches(ctx(json)))
    out.push({ lines: b.lines, records: b.records, text: b.ndjson?.toString() ?? '' });
  return out;
}

t.test('PostgresSource: bytes batches with lineage, records batches parsed exactly, the checkpoint', async (t) => {
  const pgUp = await import('pg').then(async ({ default: pg }) => {
    const c = new pg.Client({ connectionString: PG });
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      return false;
    }
  });
  if (!pgUp) return t.skip(`PostgreSQL at ${PG} is not reachable`);
  const q = `SELECT g AS id, g::numeric / 4 AS q, (9007199254740990 + g)::int8 AS big FROM generate_series(1, 5) g`;
  let batches = await drain(await openPg(req({ query: q + ';' }), io), true);
  t.equal(batches.length, 1);
  t.same(batches[0].lines, [1, 2, 3, 4, 5]);
  t.equal(batches[0].text.split('\n')[3], '{"id":4,"q":1,"big":"9007199254740994","_file":"query","_line":4}');
  batches = await drain(await openPg(req({ query: q }), io), false);
  t.same(batches[0].records[2], { id: 3, q: 0.75, big: '9007199254740993' });
  const src = await openPg(req({ query: q, incremental: 'big', key: ['id'] }), io);
  batches = await drain(src, true);
  t.equal(batches[0].lines.length, 5);
  const [cp] = src.checkpoints!();
  const at = new URL(PG);
  t.match(
    cp.key,
    new RegExp(`^postgres://${at.hostname.replace(/\./g, '\\.')}:${at.port || '5432'}/[^#/]+#query:[0-9a-f]{16}@big$`),
  );
  t.same(cp.position, { value: '9007199254740995', key: ['5'] });
  t.equal(cp.records, 5);
});

t.test('MysqlSource: batches, pause and resume over many rows, the checkpoint', async (t) => {
  try {
    execFileSync('mysql', ['-uroot', '-h127.0.0.1', '-e', 'select 1']);
  } catch {
    return t.skip('MariaDB at 127.0.0.1:3306 is not reachable with mysql -uroot');
  }
  const q = 'SELECT seq AS id, seq * 1.5 AS x FROM seq_1_to_10000';
  const src = await openMy(req({ db: MY, query: q, incremental: 'id' }), io);
  const batches = await drain(src, true);
  t.ok(batches.length >= 3, `${batches.length} batches`);
  const lines = batches.flatMap((b) => b.text.trimEnd().split('\n'));
  t.equal(lines.length, 10000);
  t.equal(lines[9999], '{"id":10000,"x":15000,"_file":"query","_line":10000}');
  t.same(batches.flatMap((b) => b.lines).slice(-2), [9999, 10000]);
  t.same(src.checkpoints!()[0].position, { value: '10000' });
});

t.test(
  'MysqlSource: row packets read off the socket give the bytes mysql2 gives, values cut across chunks included',
  async (t) => {
    const mydb = new URL(MY.replace(/^mysql:/, 'http:')).pathname.slice(1) || 'test';
    const my = (sql: string) =>
      execFileSync('mysql', ['-uroot', '-h127.0.0.1', '-P3306', '--default-character-set=utf8mb4', mydb, '-e', sql]);
    try {
      my('select 1');
    } catch {
      return t.skip('MariaDB at 127.0.0.1:3306 is not reachable with mysql -uroot');
    }
    const controls = Array.from({ length: 31 }, (_, i) => `CHAR(${i + 1})`).join(', ');
    my(`DROP TABLE IF EXISTS bxdb_rows_edge; SET SESSION sql_mode = '';
    CREATE TABLE bxdb_rows_edge (id int PRIMARY KEY, zf int(5) zerofill, ti tinyint(1), sm smallint, y year, bg bigint,
      bgz bigint(5) zerofill, ub bigint unsigned, f float, d double, n decimal(30,10), n0 decimal(5,0), b5 bit(5), b64 bit(64),
      dd date, dt0 datetime, dt3 datetime(3), ts timestamp(6) NULL, tm time(3), s varchar(200), tx longtext, bl longblob,
      bn binary(4), e enum('a','b'), st set('x','y'), j json) DEFAULT CHARSET utf8mb4;
    INSERT INTO bxdb_rows_edge VALUES
      (1, 42, 1, -32768, 2026, 123456789012345, 42, 18446744073709551615, 3.4e38, 1e100, 0.0000001000, 0, b'10101', b'1111111111111111111111111111111111111111111111111111111111111111',
       '2026-11-23', '2026-11-23 10:00:00', '2026-11-23 10:00:00.5', '2038-01-19 03:14:07.999999', '-12:00:00.5', 'q"b\\\\s/é🎉\u2028', REPEAT('ab"c\\\\d\\n', 40000), REPEAT(x'00ff', 60000),
       x'00010203', 'b', 'x,y', '{ "a" : [ 1 , 2.50 ] , "b" : "c d" }'),
      (2, 0, 0, 0, 0, 0, 0, 0, -0.0, -0.0, -12345678901234567890.1234567890, -5, b'0', b'0', '0000-00-00', '0000-00-00 00:00:00', '2026-00-01 00:00:00', NULL, '838:59:59',
       CONCAT(${controls}), '', x'', x'00000000', 'a', '', 'null'),
      (3, NULL, NULL, NULL, NULL, -9223372036854775808, NULL, NULL, 1.5, 0.1, 99999999999999999999.9999999999, 99999, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, REPEAT('é', 300000), NULL, NULL, NULL, NULL, NULL)`);
    const base = 'SELECT * FROM bxdb_rows_edge ORDER BY id';
    // A geometry column is one only mysql2 reads: the whole query then goes through mysql2's rows.
    const viaMysql2 = `SELECT e.*, POINT(0, 0) AS g FROM bxdb_rows_edge e ORDER BY id`;
    const text = async (q: string) =>
      (await drain(await openMy(req({ db: MY, query: q, zeroDates: 'null' }), io), true)).map((b) => b.text).join('');
    const fast = await text(base);
    const slow = (await text(viaMysql2)).replace(/,"g":"[^"]*"/g, '');
    t.equal(fast.split('\n').length, 4);
    t.ok(Buffer.byteLength(fast) > 1_000_000, 'rows longer than a socket chunk');
    t.equal(fast, slow, 'the same bytes both ways');
    t.match(fast.split('\n')[0], /^\{"id":1,"zf":42,"ti":1,"sm":-32768,"y":2026,"bg":123456789012345,"bgz":42,/);
    t.match(fast.split('\n')[1], /^\{"id":2,"zf":0,"ti":0,"sm":0,"y":0,"bg":0,"bgz":0,"ub":0,"f":0,"d":0,/);
    // An error the server sends after rows have gone (a subquery of more than one row, found at row 4).
    await t.rejects(
      drain(
        await openMy(
          req({ db: MY, query: 'SELECT seq, (SELECT 1 UNION SELECT 2 FROM DUAL WHERE seq > 3) AS x FROM seq_1_to_10' }),
          io,
        ),
        true,
      ),
      { exitCode: 65, message: /Subquery returns more than 1 row/ },
    );
    my('DROP TABLE bxdb_rows_edge');
  },
);
