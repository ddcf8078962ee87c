// The pg layer without a server: COPY text encoding, origins, conninfo resolution, error mapping.
import t from 'tap';
import { CopyEncoder, copyValue, OriginMap, truncateIdent } from '../../src/pg/copy-text.js';
import { parseConninfo, resolveTarget, targetLabel } from '../../src/pg/connect.js';
import { pgError } from '../../src/pg/errors.js';
import { parsePartition } from '../../src/pg/load.js';
import { ExitCode } from '../../src/lib/errors.js';
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
  const batch = { name: 'stdin', lines: [1, 2, 4, 5], records: [{ a: 1, b: 'x' }, { a: 2, _file: 'f.csv', _line: 9 }, { a: 3, c: 'new' }, { a: 4 }] };
  const r = enc.encode(batch);
  t.same(r, { text: '1\tx\n2\t\\N\n', count: 2, needs: ['c'] });
  t.same(enc.originOfRow(2), { at: { file: 'stdin', line: 2 }, source: 'f.csv:9' });
  enc.widen(['a', 'b', 'c']);
  t.same(enc.encode(batch, 2), { text: '3\t\\N\tnew\n4\t\\N\t\\N\n', count: 2 });
  t.same(enc.originOf(2), { at: { file: 'stdin', line: 5 }, source: undefined }, 'COPY lines count from the new statement');
  t.throws(() => new CopyEncoder(['a'], table, false).encode({ name: 'in', lines: [7], records: [{ a: 1, zz: 2 }] }), /in:7: field "zz": no column of that name/);
  t.equal(new CopyEncoder(['a'], table, true).encode({ name: 'in', lines: [7], records: [{ a: 1, zz: 2 }] }).text, '1\n', '--ignore-extra');
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
  const fromDb = resolveTarget({ db: 'postgres://u:p%40ss1234@h.example:6000/d?sslmode=require' }, { DATABASE_URL: 'postgres://x@y/z' });
  t.match(fromDb, { host: 'h.example', port: 6000, user: 'u', database: 'd', password: 'p@ss1234', sslmode: 'require', source: '--db' });
  t.equal(targetLabel(fromDb), 'u@h.example:6000/d');
  t.equal(redact('said p@ss1234 here'), 'said *** here');
  t.match(resolveTarget({}, { DATABASE_URL: 'postgresql://x@y/z' }), { host: 'y', user: 'x', database: 'z', sslmode: 'prefer', source: 'DATABASE_URL' });
  t.match(resolveTarget({}, { PGHOST: 'ph', PGPORT: '5433', PGUSER: 'pu', PGDATABASE: 'pd', PGSSLMODE: 'disable' }), { host: 'ph', port: 5433, user: 'pu', database: 'pd', sslmode: 'disable', source: 'PG* variables' });
  t.match(resolveTarget({ db: "host=/tmp dbname='my db' user=k" }, {}), { host: '/tmp', database: 'my db', user: 'k' });
  t.same(parseConninfo('postgres://[::1]:5/db', 'x'), { host: '::1', port: '5', dbname: 'db' });
  t.throws(() => resolveTarget({ sslmode: 'maybe' }, {}), { exitCode: ExitCode.Config });
  t.throws(() => resolveTarget({}, { PGSERVICE: 'nope', PGSERVICEFILE: '/nonexistent' }), { exitCode: ExitCode.Config, message: /service "nope"/ });
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
  for (const [err, code] of cases) t.equal(pgError(err).exitCode, code, `${(err as { code?: string }).code ?? (err as Error).message} → ${code}`);
  const copy = pgError(server('22P02', { message: 'invalid input syntax for type integer: "x"', where: 'COPY t, line 2, column qty: "x"' }), {
    copyOrigin: (n) => ({ at: { file: 'stdin', line: n + 10 }, source: 'a.csv:5' }),
  });
  t.equal(copy.message, 'stdin:12: field "qty": invalid input syntax for type integer: "x" (record from a.csv:5)');
});
