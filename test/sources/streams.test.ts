// The stream sources against the real brokers on loopback (NATS with JetStream, Redis,
// RabbitMQ): payload decoding, --meta, the start position, the cut-off, the gap checks and the
// errors. A broker that cannot be reached skips its tests with the reason.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DataError, InputMissingError, UsageError, type Origin } from '../../src/lib/errors.js';
import type { Io } from '../../src/lib/io.js';
import { Logger } from '../../src/lib/log.js';
import type { Checkpoint, Rec, StageContext } from '../../src/lib/stream.js';
import type { RuleFailure } from '../../src/lib/rejects.js';
import { openSource, type SourceRequest } from '../../src/sources/index.js';
import { splitCsvLine } from '../../src/sources/broker.js';
import { compareIds } from '../../src/sources/redis.js';
import { tmp } from '../helpers.js';
import { dropNats, dropRabbit, dropRedis, natsUnusable, rabbitUnusable, unreachable, REDIS } from './brokers.js';

const P = `bxst_u${process.pid}`;
const io = { env: {} } as unknown as Io;

interface Read {
  records: Rec[];
  lines: number[];
  rejects: { record: unknown; failure: RuleFailure; at: Origin }[];
  checkpoints: Checkpoint[];
}

function req(
  target: string,
  o: { payload?: 'json' | 'text' | 'csv'; meta?: boolean; until?: string; stateFile?: string; columns?: string[] } = {},
): SourceRequest {
  return {
    target,
    read: {
      encoding: 'utf8',
      header: true,
      skipLines: 0,
      stripNs: false,
      maxRecordSize: 1 << 20,
      maxDepth: 1000,
      lineage: false,
    } as SourceRequest['read'],
    columns: o.columns,
    stream: { payload: o.payload ?? 'json', meta: Boolean(o.meta), until: o.until },
    state: o.stateFile ? { file: o.stateFile } : undefined,
  };
}

/** Reads a source to its end; with `collect`, rejects are collected instead of thrown (as --rejects does). */
async function read(r: SourceRequest, collect = false): Promise<Read> {
  const out: Read = { records: [], lines: [], rejects: [], checkpoints: [] };
  const ctx: StageContext = {
    log: new Logger({ stderr: process.stderr } as never),
    reject: (record, failure, at) => {
      if (!collect) throw new DataError(at, failure.field, failure.message);
      out.rejects.push({ record, failure, at });
    },
  };
  const src = await openSource(r, io);
  for await (const b of src.batches(ctx)) {
    // Batches of about 1000 records (STYLE.md "Streams").
    if (b.records.length > 1000) throw new Error(`a batch of ${b.records.length} records`);
    out.records.push(...b.records);
    out.lines.push(...b.lines);
  }
  out.checkpoints = src.checkpoints?.() ?? [];
  return out;
}

const stateFile = (dir: string, key: string, position: unknown) => {
  const f = join(dir, 'state.json');
  writeFileSync(f, JSON.stringify({ [key]: { position, updated_at: new Date().toISOString() } }));
  return f;
};

t.test('CSV payload lines split as RFC 4180 says', async (t) => {
  t.same(splitCsvLine('a,"b,c","say ""hi""",', ',', '"'), ['a', 'b,c', 'say "hi"', '']);
  t.same(splitCsvLine('x;y', ';', ''), ['x', 'y']);
  t.equal(splitCsvLine('"open', ',', '"'), undefined);
  t.equal(compareIds('10-0', '9-5'), 1);
  t.equal(compareIds('5-10', '5-9'), 1);
  t.equal(compareIds('5-1', '5-1'), 0);
});

t.test('NATS JetStream', async (t) => {
  const why = await natsUnusable();
  if (why) return t.skip(`NATS tests skipped: ${why}`);
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const S = `${P}_N`;
  const url = `nats://127.0.0.1:4222/${S}`;
  const make = async (name: string, extra: object = {}) => {
    await jsm.streams.delete(name).catch(() => {});
    await jsm.streams.add({ name, subjects: [`${name}.>`], ...extra });
  };
  t.teardown(async () => {
    for (const s of [S, `${S}_gap`, `${S}_f`, `${S}_bad`, `${S}_t`]) await dropNats(s);
    await nc.close();
  });

  await make(S);
  await js.publish(`${S}.a`, '{"id":1,"big":12345678901234567890,"amount":1.10}');
  await js.publish(`${S}.b`, '{"2020":"x","id":2}');
  await js.publish(`${S}.a`, '{"id":3}');

  t.test('JSON payloads with exact numbers, --meta, the checkpoint', async (t) => {
    const r = await read(req(url, { meta: true }));
    t.equal(r.records.length, 3);
    t.same(r.lines, [1, 2, 3], 'lines are the stream sequences');
    t.equal(r.records[0].big, '12345678901234567890', 'a long number keeps its digits');
    t.match(r.records[0], { id: 1, _stream: S, _seq: 1, _subject: `${S}.a` });
    t.match(r.records[0]._time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.same(r.checkpoints, [{ key: url, position: 3, from: 1, records: 3 }]);
  });

  t.test('a stored position: start after it; at the end, no read at all (and no hang)', async (t) => {
    const dir = tmp(t);
    let r = await read(req(url, { stateFile: stateFile(dir, url, 1) }));
    t.same(
      r.records.map((x) => x.id),
      [2, 3],
    );
    t.same(r.checkpoints, [{ key: url, position: 3, from: 2, records: 2 }]);
    r = await read(req(url, { stateFile: stateFile(dir, url, 3) }));
    t.same(r.records, []);
    t.same(r.checkpoints, [{ key: url, position: 3, records: 0 }], 'the position stays');
    await t.rejects(
      read(req(url, { stateFile: stateFile(dir, url, 9) })),
      /committed sequence 9 is past the stream's last sequence 3/,
    );
    await t.rejects(read(req(url, { stateFile: stateFile(dir, url, 'x') })), /position "x" is not a stream sequence/);
  });

  t.test('--payload text and csv', async (t) => {
    const r = await read(req(url, { payload: 'text' }));
    t.same(r.records[2], { payload: '{"id":3}' });
    await t.rejects(read(req(url, { payload: 'csv' })), UsageError, 'csv needs --columns');
    const B = `${S}_t`;
    await make(B);
    await js.publish(`${B}.x`, 'S1,"3,5",x');
    await js.publish(`${B}.x`, 'S2,4');
    const c = await read(
      req(`nats://127.0.0.1:4222/${B}`, { payload: 'csv', columns: ['store', 'qty', 'note'] }),
      true,
    );
    t.same(c.records, [{ store: 'S1', qty: '3,5', note: 'x' }]);
    t.match(c.rejects, [
      {
        failure: { rule: 'columns', message: /expected 3 fields \(--columns\), got 2/ },
        at: { file: `nats://127.0.0.1:4222/${B}`, line: 2 },
      },
    ]);
  });

  t.test('a payload that is not JSON names stream and sequence; with rejects, the run goes on', async (t) => {
    const B = `${S}_bad`;
    const bu = `nats://127.0.0.1:4222/${B}`;
    await make(B);
    await js.publish(`${B}.x`, '{"id":1}');
    await js.publish(`${B}.x`, '{"id":2,');
    await js.publish(`${B}.x`, '[1]');
    await js.publish(`${B}.x`, '{"id":4}');
    await t.rejects(read(req(bu)), {
      constructor: DataError,
      message: new RegExp(`^nats://127\\.0\\.0\\.1:4222/${B}:2: not valid JSON`),
    });
    const r = await read(req(bu), true);
    t.same(
      r.records.map((x) => x.id),
      [1, 4],
    );
    t.same(
      r.rejects.map((x) => [x.at.line, x.failure.rule]),
      [
        [2, 'json'],
        [3, 'json'],
      ],
    );
    t.match(r.rejects[1].failure.message, /expected a JSON object, got an array/);
    t.same(r.checkpoints[0].position, 4, 'rejected messages are read: the position passes them');
  });

  t.test('retention removed unread messages: exit 65 naming stream and sequences', async (t) => {
    const G = `${S}_gap`;
    const gu = `nats://127.0.0.1:4222/${G}`;
    await make(G, { max_msgs: 5 });
    for (let i = 1; i <= 10; i++) await js.publish(`${G}.x`, JSON.stringify({ id: i }));
    const dir = tmp(t);
    const err = await read(req(gu, { stateFile: stateFile(dir, gu, 2) })).catch((e) => e);
    t.type(err, DataError);
    t.match(
      err.message,
      new RegExp(
        `^${gu.replace(/\./g, '\\.')}: messages 3…5 were removed by the stream's retention before they were loaded \\(committed sequence 2, first sequence now 6\\)`,
      ),
    );
    // Only loaded messages were removed: no gap.
    const r = await read(req(gu, { stateFile: stateFile(dir, gu, 5) }));
    t.same(
      r.records.map((x) => x.id),
      [6, 7, 8, 9, 10],
    );
  });

  t.test('?subject= filters, and is part of the key', async (t) => {
    const F = `${S}_f`;
    await make(F);
    for (let i = 1; i <= 6; i++) await js.publish(`${F}.${i % 2 ? 'eu' : 'us'}`, JSON.stringify({ id: i }));
    const fu = `nats://127.0.0.1:4222/${F}?subject=${F}.eu`;
    const r = await read(req(fu));
    t.same(
      r.records.map((x) => x.id),
      [1, 3, 5],
    );
    t.same(
      r.checkpoints,
      [{ key: fu, position: 6, from: 1, records: 3 }],
      'position: the cut-off, every message up to it seen',
    );
    const dir = tmp(t);
    const none = await read(req(fu, { stateFile: stateFile(dir, fu, 5) }));
    t.same(none.records, [], 'nothing matching past the position: no read (and no hang)');
    t.equal(none.checkpoints[0].position, 6);
  });

  t.test('--until cuts at a time', async (t) => {
    const info = await jsm.streams.info(S);
    const cut = new Date(Date.parse(info.state.last_ts) + 1).toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await js.publish(`${S}.a`, '{"id":4}');
    const r = await read(req(url, { until: cut }));
    t.same(
      r.records.map((x) => x.id),
      [1, 2, 3],
    );
    t.equal(r.checkpoints[0].position, 3);
    await t.rejects(read(req(url, { until: 'yesterday' })), /--until: expected an ISO 8601 time/);
  });

  t.test('a missing stream is exit 66, a down server 69', async (t) => {
    await t.rejects(read(req(`nats://127.0.0.1:4222/${P}_none`)), {
      constructor: InputMissingError,
      message: /no such JetStream stream/,
    });
    const err = await read(req(`nats://127.0.0.1:1/${S}`)).catch((e) => e);
    t.equal(err.exitCode, 69);
    t.match(err.message, /cannot reach NATS at 127\.0\.0\.1:1/);
  });
});

t.test('Redis Streams', async (t) => {
  const why = await unreachable('Redis', REDIS);
  if (why) return t.skip(`Redis tests skipped: ${why}`);
  const { createClient } = await import('@redis/client');
  const c = createClient({ url: 'redis://127.0.0.1:6379' });
  await c.connect();
  const K = `${P}_R`;
  const url = `redis://127.0.0.1:6379/${K}`;
  t.teardown(async () => {
    await dropRedis(K, `${K}_f`, `${K}_s`);
    await c.quit();
  });
  await c.del(K);
  const ids: string[] = [];
  ids.push(await c.xAdd(K, '1000-1', { payload: '{"id":1,"n":0.1000000000000000055511}' }));
  ids.push(await c.xAdd(K, '1000-2', { payload: '{"id":2' }));
  ids.push(await c.xAdd(K, '2000-0', { payload: '{"id":3}' }));
  ids.push(await c.xAdd(K, '3000-0', { payload: '{"id":4}' }));

  t.test('entries, ids, --meta, rejects naming the id', async (t) => {
    const r = await read(req(url, { meta: true }), true);
    t.same(
      r.records.map((x) => x.id),
      [1, 3, 4],
    );
    t.equal(r.records[0].n, '0.1000000000000000055511', 'exact number kept as its digits');
    t.match(r.records[1], { _stream: K, _id: '2000-0', _time: '1970-01-01T00:00:02.000Z' });
    t.match(r.rejects, [
      { failure: { rule: 'json', message: /^id 1000-2: not valid JSON/ }, at: { file: url, line: 2 } },
    ]);
    t.same(r.checkpoints, [{ key: url, position: '3000-0', from: '1000-1', records: 4 }]);
    await t.rejects(read(req(url)), {
      message: new RegExp(`^redis://127\\.0\\.0\\.1:6379/${K}:2: id 1000-2: not valid JSON`),
    });
  });

  t.test('a stored id: XRANGE (id; --until is an id bound', async (t) => {
    const dir = tmp(t);
    const r = await read(req(url, { stateFile: stateFile(dir, url, '1000-2') }));
    t.same(
      r.records.map((x) => x.id),
      [3, 4],
    );
    const u = await read(req(url, { stateFile: stateFile(dir, url, '1000-2'), until: '1970-01-01T00:00:02.500Z' }));
    t.same(
      u.records.map((x) => x.id),
      [3],
    );
    t.equal(u.checkpoints[0].position, '2000-0');
    const none = await read(req(url, { stateFile: stateFile(dir, url, '3000-0') }));
    t.same(none.records, []);
    t.equal(none.checkpoints[0].position, '3000-0');
    await t.rejects(read(req(url, { stateFile: stateFile(dir, url, 12) })), /position 12 is not a stream entry id/);
  });

  t.test('trimming loaded entries is fine; trimming unread ones is a gap (65)', async (t) => {
    const S = `${K}_s`;
    const su = `redis://127.0.0.1:6379/${S}`;
    for (let i = 1; i <= 10; i++) await c.xAdd(S, `${i}-0`, { payload: JSON.stringify({ id: i }) });
    await c.xTrim(S, 'MAXLEN', 8); // removes 1-0 and 2-0
    const dir = tmp(t);
    const ok = await read(req(su, { stateFile: stateFile(dir, su, '3-0') }));
    t.same(
      ok.records.map((x) => x.id),
      [4, 5, 6, 7, 8, 9, 10],
      'the committed entry is still there: nothing unread was trimmed',
    );
    const err = await read(req(su, { stateFile: stateFile(dir, su, '1-0') })).catch((e) => e);
    t.type(err, DataError);
    t.match(
      err.message,
      new RegExp(
        `^${su.replace(/\./g, '\\.')}: entries after the committed id 1-0 were trimmed or deleted before they were loaded`,
      ),
    );
    await c.xDel(S, '6-0');
    const del = await read(req(su, { stateFile: stateFile(dir, su, '5-0') })).catch((e) => e);
    t.match(
      del.message,
      /entries after the committed id 5-0 were trimmed or deleted before they were loaded \(largest deleted id 6-0/,
      'an XDEL past the position too',
    );
  });

  t.test('?field= names the payload field; a missing stream is 66, a string key too', async (t) => {
    const F = `${K}_f`;
    await c.xAdd(F, '*', { kind: 'sale', body: '{"id":9}' });
    const r = await read(req(`redis://127.0.0.1:6379/${F}?field=body`));
    t.same(r.records, [{ id: 9 }]);
    await t.rejects(
      read(req(`redis://127.0.0.1:6379/${F}`)),
      /entry \d+-\d+ has no field "payload" \(fields: kind, body\); name the payload field with \?field=NAME/,
    );
    await t.rejects(read(req(`redis://127.0.0.1:6379/${P}_none`)), {
      constructor: InputMissingError,
      message: /no such Redis stream/,
    });
    const err = await read(req(`redis://127.0.0.1:1/${K}`)).catch((e) => e);
    t.equal(err.exitCode, 69);
    t.match(err.message, /cannot reach Redis at 127\.0\.0\.1:1/);
  });
});

t.test('RabbitMQ streams over AMQP', async (t) => {
  const Q = `${P}_Q`;
  const why = await rabbitUnusable(`${Q}_probe`);
  if (why) return t.skip(`RabbitMQ tests skipped: ${why}`);
  const amqp = (await import('amqplib')).default;
  const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createConfirmChannel();
  t.teardown(async () => {
    await conn.close().catch(() => {});
    await dropRabbit(Q, `${Q}_classic`);
  });
  await ch.assertQueue(Q, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  for (let i = 0; i < 2500; i++) ch.sendToQueue(Q, Buffer.from(JSON.stringify({ id: i })));
  ch.sendToQueue(Q, Buffer.from('not json'));
  await ch.waitForConfirms();
  const url = `rabbitmq-stream://127.0.0.1:5672/${Q}?idle=300`;
  const key = `rabbitmq-stream://127.0.0.1:5672/${Q}`;

  t.test('offsets from the first; a bad payload named by offset', async (t) => {
    const r = await read(req(url, { meta: true }), true);
    t.equal(r.records.length, 2500);
    t.same(r.records[0], { id: 0, _stream: Q, _seq: 0, _time: null });
    t.equal(r.lines[2499], 2499);
    t.match(r.rejects, [{ at: { file: key, line: 2500 }, failure: { rule: 'json' } }]);
    t.same(r.checkpoints, [{ key, position: 2500, from: 0, records: 2501 }]);
  });

  t.test('from a stored offset; a classic queue is refused; a missing one is 66', async (t) => {
    const dir = tmp(t);
    const r = await read(req(url, { stateFile: stateFile(dir, key, 2400) }), true);
    t.equal(r.records.length, 99);
    t.equal(r.records[0].id, 2401);
    const none = await read(req(url, { stateFile: stateFile(dir, key, 2500) }), true);
    t.same(none.records, []);
    t.equal(none.checkpoints[0].position, 2500);
    await ch.assertQueue(`${Q}_classic`, { durable: false });
    await t.rejects(read(req(`rabbitmq-stream://127.0.0.1:5672/${Q}_classic`)), {
      constructor: UsageError,
      message: /is not a stream .* would remove its messages/,
    });
    await t.rejects(read(req(`rabbitmq-stream://127.0.0.1:5672/${P}_none`)), { constructor: InputMissingError });
    await t.rejects(read(req(url, { until: '2026-01-01' })), /--until needs message times/);
  });
});
