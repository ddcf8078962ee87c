// COPY TO STDOUT frames read off the socket (src/sources/pg-copy-out.ts): whatever the chunking
// of the socket's bytes, the transcoder sees the same whole lines and writes the same NDJSON;
// then the same against the machine's PostgreSQL for the awkward values.
import t from 'tap';
import pg from 'pg';
import { CopyFrames } from '../../src/sources/pg-copy-out.js';
import { CopyTranscoder, open as openPg } from '../../src/sources/postgres.js';
import type { SourceRequest } from '../../src/sources/index.js';
import { PassThrough } from 'node:stream';

/** One backend message: code, 4-byte length (itself included), payload. */
const msg = (code: string, payload: Buffer | string) => {
  const p = Buffer.from(payload);
  const h = Buffer.alloc(5);
  h[0] = code.charCodeAt(0);
  h.writeUInt32BE(p.length + 4, 1);
  return Buffer.concat([h, p]);
};

/** Lines each CopyFrames sink call got, as text, for `stream` cut into the given chunk sizes. */
function feed(stream: Buffer, cuts: number[]): { lines: string[]; stop: number; rest: string } {
  const lines: string[] = [];
  const f = new CopyFrames((b, a, z) => lines.push(b.toString('latin1', a, z)));
  let at = 0;
  let stop = -1;
  let rest = '';
  for (let k = 0; at < stream.length; k++) {
    const n = cuts.length ? cuts[k % cuts.length] : stream.length;
    const chunk = Buffer.from(stream.subarray(at, at + n));
    const end = f.chunk(chunk);
    at += n;
    if (f.stop >= 0) {
      stop = at - n + f.stop;
      rest = chunk.toString('latin1', end) + stream.toString('latin1', at);
      break;
    }
  }
  return { lines, stop, rest };
}

t.test('frames: any chunking gives the same lines, up to the message that ends the copy', async (t) => {
  const rows = ['1\tab\n', '2\t\\N\n', '3\t' + 'x'.repeat(70000) + '\n', '4\té🎉\n'];
  const tail = msg('c', '').toString('latin1') + msg('C', 'COPY 4\0').toString('latin1') + 'Z\0\0\0\x05I';
  const stream = Buffer.concat([
    msg('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
    msg('N', 'a notice\0'),
    ...rows.map((r) => msg('d', Buffer.from(r))),
    Buffer.from(tail, 'latin1'),
  ]);
  const whole = rows.map((r) => Buffer.from(r).toString('latin1'));
  for (const cuts of [[], [1], [2], [3], [4], [5], [6], [7], [13], [4096], [1, 9, 2, 70001]]) {
    const r = feed(stream, cuts);
    t.same(r.lines.join(''), whole.join(''), `cut every ${cuts.join(',') || 'never'}`);
    t.equal(r.stop, stream.length - tail.length, 'stops at CopyDone');
    t.equal(r.rest, tail, 'the rest is handed back untouched');
  }
  // Unchunked, each row is one sink call on the socket's own bytes.
  t.same(feed(stream, []).lines, whole);
});

t.test('frames: a row split across CopyData messages, several rows in one, a multibyte char cut', async (t) => {
  const parts = ['1\tab', 'c\n2\tx', 'y\n', '3\t\xc3', '\xa9\n'].map((s) => Buffer.from(s, 'latin1'));
  const stream = Buffer.concat([...parts.map((p) => msg('d', p)), msg('c', '')]);
  for (const cuts of [[], [1], [3], [8]]) {
    const r = feed(stream, cuts);
    t.equal(r.lines.join(''), '1\tabc\n2\txy\n3\t\xc3\xa9\n', `cut every ${cuts.join(',') || 'never'}`);
    t.ok(
      r.lines.every((l) => l.endsWith('\n')),
      'only whole lines',
    );
  }
  // An error in the middle: the ErrorResponse and all after it go back to node-postgres.
  const err = Buffer.concat([msg('d', '1\n'), msg('E', 'SERROR\0\0'), msg('Z', 'I')]);
  const r = feed(err, [3]);
  t.same(r.lines, ['1\n']);
  t.equal(r.stop, 7);
});

const kinds = { raw: 0, int8: 1, num: 2, float: 3, bool: 4, str: 5, ts: 6, tstz: 7, date: 8 } as const;

t.test('transcoder: lines fed whole or through frames cut anywhere give the same NDJSON', async (t) => {
  const names = ['i', 's', 'n', 'z'];
  const ks = [kinds.raw, kinds.str, kinds.num, kinds.tstz];
  const slow = [(s: string) => s, (s: string) => JSON.stringify(s), (s: string) => s, (s: string) => JSON.stringify(s)];
  const lines = [
    '1\tplain\t10.50\t2026-11-23 00:30:00.5+00\n',
    '2\tq"uote \\\\ back\\ttab\\nnl \x01\x1f\u2028 é🎉\t-0.00\t2026-11-23 00:30:00+00\n',
    '\\N\t\\N\t\\N\t\\N\n',
    '3\t' + 'w'.repeat(100000) + '\t1\t1970-01-01 00:00:00+00\n',
  ];
  const text = Buffer.from(lines.join(''));
  const ref = new CopyTranscoder(names, ks as never, slow, '');
  ref.lines(text, 0, text.length);
  const want = ref.take().bytes.toString();
  const parsed = want
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(parsed[1], {
    i: 2,
    s: 'q"uote \\ back\ttab\nnl \x01\x1f\u2028 é🎉',
    n: 0,
    z: '2026-11-23T00:30:00.000000+00:00',
  });
  t.same(parsed[2], { i: null, s: null, n: null, z: null });
  t.equal(parsed[3].s.length, 100000);
  // A notice between rows, an empty CopyData and two rows in one message, then CopyDone and
  // what node-postgres reads after it: with and without the fast path (messages()), every cut.
  const stream = Buffer.concat([
    msg('d', Buffer.from(lines[0])),
    msg('N', 'SNOTICE\0\0'),
    msg('d', Buffer.from(lines[1])),
    msg('d', ''),
    msg('d', Buffer.from(lines[2] + lines[3])),
    msg('c', ''),
    msg('C', 'COPY 4\0'),
  ]);
  const copyDone = stream.length - 5 - 12;
  for (const fast of [false, true]) {
    for (const cut of [1, 2, 5, 17, 1000, stream.length]) {
      const x = new CopyTranscoder(names, ks as never, slow, '');
      const f = new CopyFrames((b, a, z) => x.lines(b, a, z), fast ? (b, i, n) => x.messages(b, i, n) : undefined);
      let stopAt = -1;
      for (let at = 0; at < stream.length && f.stop < 0; at += cut) {
        f.chunk(Buffer.from(stream.subarray(at, at + cut)));
        if (f.stop >= 0) stopAt = at + f.stop;
      }
      t.equal(x.take().bytes.toString(), want, `chunks of ${cut}${fast ? ', fast path' : ''}`);
      t.equal(stopAt, copyDone, `CopyDone found, chunks of ${cut}${fast ? ', fast path' : ''}`);
      t.equal(f.pending, 0);
    }
  }
  // No columns at all, and no rows.
  const none = new CopyTranscoder([], [], [], '');
  none.lines(Buffer.from('\n\n'), 0, 2);
  t.equal(none.take().bytes.toString(), '{}\n{}\n');
  const zero = new CopyTranscoder(names, ks as never, slow, '');
  t.same(zero.take(), { bytes: Buffer.alloc(0), rows: 0 });
});

const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const io = {
  env: { DATABASE_URL: PG },
  log: { info: () => {}, warn: () => {}, debug: () => {}, error: () => {} },
  stdout: new PassThrough(),
} as never;
const ctx = { log: { info: () => {}, warn: () => {}, debug: () => {} }, reject: () => {}, json: {} } as never;
const req = (query: string): SourceRequest => ({ target: 'query', read: {} as never, sql: { query } });

async function extract(query: string): Promise<string> {
  const src = await openPg(req(query), io);
  let text = '';
  for await (const b of src.batches(ctx)) text += b.ndjson!.toString();
  return text;
}

t.test('PostgreSQL: wide rows, zero rows, NULLs everywhere, characters that need JSON escapes', async (t) => {
  const c = new pg.Client({ connectionString: PG });
  try {
    await c.connect();
    await c.end();
  } catch {
    return t.skip(`PostgreSQL at ${PG} is not reachable`);
  }
  t.equal(await extract('SELECT 1 AS a WHERE false'), '', 'no rows: nothing');
  const nulls = await extract(
    'SELECT NULL::int AS a, NULL::text AS b, NULL::numeric AS c, NULL::timestamptz AS d, NULL::jsonb AS e, NULL::int[] AS f FROM generate_series(1, 3)',
  );
  t.equal(nulls, '{"a":null,"b":null,"c":null,"d":null,"e":null,"f":null}\n'.repeat(3));
  const special = `"q" \\ back\ttab\nnl\rcr\b\f\v\u0001\u001f\u007f \u2028\u2029 é🎉 \\N`;
  const got = await extract(
    `SELECT ${[...special].map((ch) => `chr(${ch.codePointAt(0)})`).join(' || ')} AS s, repeat('é🎉x', 200000) AS wide, g AS i FROM generate_series(1, 3) g`,
  );
  const rows = got
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(rows.length, 3);
  t.equal(rows[0].s, special);
  t.equal(rows[2].wide, 'é🎉x'.repeat(200000));
  t.same(
    rows.map((r) => r.i),
    [1, 2, 3],
  );
  // 300 columns.
  const cols = Array.from({ length: 300 }, (_, i) => `${i % 2 ? `'v${i}'` : i} AS c${i}`).join(', ');
  const wideRow = JSON.parse(await extract(`SELECT ${cols}`));
  t.equal(Object.keys(wideRow).length, 300);
  t.equal(wideRow.c299, 'v299');
  t.equal(wideRow.c298, 298);
});
