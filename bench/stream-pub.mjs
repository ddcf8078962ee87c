#!/usr/bin/env node
// Publishes sale records to a broker for the stream tests and bench/streams.sh:
//   node bench/stream-pub.mjs nats|redis|rabbitmq NAME COUNT [START] [--every MS]
// Message i is {"id":i,"store":"S<i%50>","qty":<1+i%7>,"amount":<i%100>}; ids run START…START+COUNT-1.
// NATS: stream NAME on subject NAME.sale (created when missing); --fast: see below. Redis: key NAME, field "payload".
// RabbitMQ: stream queue NAME. With --every MS, one message every MS ms (a producer that keeps
// publishing during a run); COUNT 0 means until killed. Prints the number published on exit, and
// with --every also `started` on a line of its own once the first message is in the broker, so a
// test can wait for a producer that is really publishing (on a loaded machine start-up alone can
// outlast a short run).
const args = process.argv.slice(2);
// --fast (NATS): core publishes, flushed per window, then the stream's count checked; JetStream's
// per-message acks publish ~1.5 k msgs/s here, too slow for the bench's 300 k.
const fastAt = args.indexOf('--fast');
const fast = fastAt >= 0 && args.splice(fastAt, 1).length > 0;
const everyAt = args.indexOf('--every');
const every = everyAt >= 0 ? Number(args.splice(everyAt, 2)[1]) : undefined;
const [kind, name, countArg, startArg] = args;
const count = Number(countArg);
const start = Number(startArg ?? 0);
const body = (i) => JSON.stringify({ id: i, store: `S${i % 50}`, qty: 1 + (i % 7), amount: i % 100 });
const WINDOW = 1000;

let publish;
let close;
if (kind === 'nats') {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: process.env.NATS_HOSTPORT ?? '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.info(name).catch(() => jsm.streams.add({ name, subjects: [`${name}.>`] }));
  const js = jetstream(nc);
  const before = (await jsm.streams.info(name)).state.messages;
  publish = fast
    ? async (ids) => {
        for (const i of ids) nc.publish(`${name}.sale`, body(i));
        await nc.flush();
      }
    : (ids) => Promise.all(ids.map((i) => js.publish(`${name}.sale`, body(i))));
  close = async () => {
    if (fast) {
      // Core publishes are not acked: wait until the stream holds them all.
      for (let k = 0; k < 600; k++) {
        const n = (await jsm.streams.info(name)).state.messages - before;
        if (n >= sent) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const n = (await jsm.streams.info(name)).state.messages - before;
      if (n !== sent) console.error(`stream-pub: NATS stored ${n} of ${sent} core publishes`);
    }
    await nc.close();
  };
} else if (kind === 'redis') {
  const { createClient } = await import('@redis/client');
  const c = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  await c.connect();
  publish = async (ids) => {
    const m = c.multi();
    for (const i of ids) m.xAdd(name, '*', { payload: body(i) });
    await m.exec();
  };
  close = () => c.quit();
} else if (kind === 'rabbitmq') {
  const amqp = (await import('amqplib')).default;
  const conn = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  publish = async (ids) => {
    for (const i of ids) ch.sendToQueue(name, Buffer.from(body(i)));
    await ch.waitForConfirms();
  };
  close = () => conn.close();
} else {
  console.error('usage: stream-pub.mjs nats|redis|rabbitmq NAME COUNT [START] [--every MS]');
  process.exit(64);
}

let sent = 0;
let stopping = false;
const finish = async () => {
  await close().catch(() => {});
  console.log(sent);
  process.exit(0);
};
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));
if (every === undefined) {
  for (let i = start; i < start + count && !stopping; i += WINDOW) {
    const ids = [];
    for (let j = i; j < Math.min(i + WINDOW, start + count); j++) ids.push(j);
    await publish(ids);
    sent += ids.length;
  }
} else {
  for (let i = start; (count === 0 || i < start + count) && !stopping; i++) {
    await publish([i]);
    if (sent++ === 0) process.stdout.write('started\n');
    await new Promise((r) => setTimeout(r, every));
  }
}
await finish();
