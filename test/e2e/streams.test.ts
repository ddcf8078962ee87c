// Streams into PostgreSQL exactly once, through the real binaries in real pipes:
//   BX_SEAL=1 bx-extract <stream URL> --from-state "$DATABASE_URL" | bx-load --table T --create
// 10,000 messages; bx-load killed with SIGKILL while its COPY is under way (every row sent,
// no trailer yet) leaves nothing; the re-run loads exactly 10,000 rows; 500 more load exactly
// those 500; a producer publishing during a run neither hangs it nor leaks into it.
// Each broker that cannot be reached skips its part with the reason.
import { spawn } from 'node:child_process';
import t from 'tap';
import pg from 'pg';
import { bin, databaseUrl, sh, tmp } from '../helpers.js';
import {
  dropNats,
  dropRabbit,
  dropRedis,
  natsUnusable,
  publish,
  publisher,
  rabbitUnusable,
  unreachable,
  REDIS,
} from '../sources/brokers.js';

type Test = Parameters<Parameters<typeof t.test>[1]>[0];

const url = databaseUrl();
if (!url) {
  t.fail('DATABASE_URL is not set (run the tests with npm test / make test)');
  process.exit(1);
}
const db = new pg.Client({ connectionString: url });
const env = { DATABASE_URL: url, BX_SEAL: '1' };
const id = process.pid;

// Three brokers × four pipelines on a shared 2-core machine: measured 4½ minutes, past tap's 300 s.
t.setTimeout(900_000);
t.before(() => db.connect());
t.teardown(() => db.end());

const one = async (sql: string, args: unknown[] = []) => (await db.query(sql, args)).rows[0];
const table = async (T: string) => {
  const exists = (await one(`SELECT to_regclass($1) AS t`, [T])).t !== null;
  if (!exists) return { rows: 0, sum: 0, ids: 0, max: -1 };
  const r = await one(
    `SELECT count(*)::int AS rows, coalesce(sum(amount), 0)::bigint AS sum, count(DISTINCT id)::int AS ids, coalesce(max(id), -1)::int AS max FROM ${T}`,
  );
  return { rows: r.rows, sum: Number(r.sum), ids: r.ids, max: r.max };
};
const stateOf = async (key: string) => {
  if ((await one(`SELECT to_regclass('public.bx_state') AS t`)).t === null) return undefined;
  return (await db.query(`SELECT position, "from", records FROM public.bx_state WHERE key = $1`, [key])).rows[0];
};
/** Σ (i mod 100) for i < n: the amount the stream-pub messages 0…n-1 carry. */
const sumTo = (n: number) => {
  let s = 0;
  for (let i = 0; i < n; i++) s += i % 100;
  return s;
};

const pipeline = (src: string, T: string) =>
  sh(`bx-extract '${src}' --from-state "$DATABASE_URL" | bx-load --table ${T} --create`, { env });

/**
 * The pipeline with bx-load killed mid-COPY: every record goes through but the trailer is held
 * back, and once PostgreSQL reports the COPY's tuples, bx-load gets SIGKILL.
 */
async function killedLoad(t: Test, src: string, T: string): Promise<number> {
  const penv = { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}` };
  delete penv.NODE_OPTIONS;
  // Through bash, which drops tap's NODE_OPTIONS (re-added on every spawn; see helpers.ts sh()).
  const run = (cmd: string) => ['-c', `unset NODE_OPTIONS; exec ${cmd}`];
  const extract = spawn('bash', run(`bx-extract '${src}' --from-state "$DATABASE_URL"`), {
    env: penv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // --infer-rows 1000: COPY starts after 1000 records, not at the 10,000th (which would wait for more input).
  const load = spawn('bash', run(`bx-load --table ${T} --create --infer-rows 1000`), {
    env: penv,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  load.stdin.on('error', () => {});
  let stderr = '';
  extract.stderr.on('data', (d) => (stderr += d));
  load.stderr.on('data', (d) => (stderr += d));
  let held = '';
  extract.stdout.on('data', (d: Buffer) => {
    const text = held + d.toString('utf8');
    const at = text.indexOf('{"@bx":"end"');
    if (at >= 0) {
      load.stdin.write(text.slice(0, at));
      held = text.slice(at);
    } else {
      const nl = text.lastIndexOf('\n');
      load.stdin.write(text.slice(0, nl + 1));
      held = text.slice(nl + 1);
    }
  });
  const loadDone = new Promise<number | null>((r) => load.on('exit', (code, sig) => r(sig ? -1 : code)));
  let copied = 0;
  // A fifth of the rows in COPY: killed mid-way, with rows in the table's transaction.
  for (let i = 0; i < 600 && copied < 2000; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const r = await one(
      `SELECT coalesce(max(p.tuples_processed), 0)::int AS n FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.query ILIKE $1`,
      [`%COPY%${T}%`],
    );
    copied = r?.n ?? 0;
  }
  t.ok(copied > 0, `bx-load's COPY was under way (${copied} rows copied) when it was killed`, { stderr });
  load.kill('SIGKILL');
  t.equal(await loadDone, -1, 'bx-load died of SIGKILL');
  load.stdin.destroy();
  if (extract.exitCode === null) await new Promise((r) => extract.on('exit', r));
  // The server rolls the transaction back once it sees the socket closed.
  for (let i = 0; i < 100; i++) {
    const busy = await one(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE $1 AND pid <> pg_backend_pid()`,
      [`%${T}%`],
    );
    if (busy.n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return copied;
}

type Kind = 'nats' | 'redis' | 'rabbitmq';

async function exactlyOnce(t: Test, kind: Kind, stream: string, src: string, key: string) {
  const T = `bxst_sales_${kind}_${id}`;
  t.teardown(async () => {
    await db.query(`DROP TABLE IF EXISTS ${T}`);
    if ((await one(`SELECT to_regclass('public.bx_state') AS t`)).t !== null)
      await db.query(`DELETE FROM public.bx_state WHERE key = $1`, [key]);
  });
  await db.query(`DROP TABLE IF EXISTS ${T}`);
  t.equal(await publish(kind, stream, 10_000), 10_000, '10,000 messages published');

  t.test('bx-load killed during its COPY: nothing loaded, nothing committed', async (t) => {
    await killedLoad(t, src, T);
    t.same(
      await table(T),
      { rows: 0, sum: 0, ids: 0, max: -1 },
      'no rows (the table, created in the same transaction, is gone too)',
    );
    t.equal(await stateOf(key), undefined, 'no position in bx_state');
  });

  t.test('the re-run loads exactly the 10,000', async (t) => {
    const r = await pipeline(src, T);
    t.equal(r.code, 0, r.stderr);
    t.same(await table(T), { rows: 10_000, sum: sumTo(10_000), ids: 10_000, max: 9_999 });
    const s = await stateOf(key);
    t.equal(s.records, '10000');
    t.match(r.stderr, new RegExp(`checkpoint ${key.replace(/[.?]/g, '\\$&')}`));
  });

  t.test('500 new messages: the next run loads exactly those', async (t) => {
    t.equal(await publish(kind, stream, 500, 10_000), 500);
    const r = await pipeline(src, T);
    t.equal(r.code, 0, r.stderr);
    t.same(await table(T), { rows: 10_500, sum: sumTo(10_500), ids: 10_500, max: 10_499 });
    t.equal((await stateOf(key)).records, '500');
    const again = await pipeline(src, T);
    t.equal(again.code, 0, again.stderr);
    t.equal((await table(T)).rows, 10_500, 'a run with nothing new loads nothing');
  });

  t.test('a producer publishing during the run: the run ends at its cut-off, nothing leaks or repeats', async (t) => {
    // A backlog the run needs a while for, so the producer publishes during it.
    t.equal(await publish(kind, stream, 5_000, 10_500), 5_000);
    const p = publisher(kind, stream, 15_500, 2);
    await p.started;
    const r = await pipeline(src, T);
    t.equal(r.code, 0, r.stderr);
    const during = await table(T);
    await new Promise((r) => setTimeout(r, 300));
    const sent = await p.stop();
    t.ok(during.rows >= 15_500, `the backlog up to the start was loaded (${during.rows} rows)`);
    t.ok(
      during.rows < 15_500 + sent,
      `messages published after the cut-off stayed for the next run (${during.rows} loaded, ${15_500 + sent} published)`,
    );
    t.equal(during.ids, during.rows, 'no duplicate');
    t.equal(during.max, during.rows - 1, 'no hole: ids 0…N-1');
    const last = await pipeline(src, T);
    t.equal(last.code, 0, last.stderr);
    t.same(
      await table(T),
      { rows: 15_500 + sent, sum: sumTo(15_500 + sent), ids: 15_500 + sent, max: 15_500 + sent - 1 },
      'the next run loads the rest, exactly',
    );
  });
}

t.test('NATS JetStream → PostgreSQL', async (t) => {
  const why = await natsUnusable();
  if (why) return t.skip(`NATS skipped: ${why}`);
  const S = `bxst_POS_${id}`;
  t.teardown(() => dropNats(S));
  await dropNats(S);
  const src = `nats://127.0.0.1:4222/${S}`;
  await exactlyOnce(t, 'nats', S, src, src);

  t.test('exit codes through the binaries: 69, 66, 65 with nothing loaded, --rejects', async (t) => {
    const down = await sh(`bx-extract nats://127.0.0.1:1/${S}`);
    t.equal(down.code, 69);
    t.match(down.stderr, /^bx-extract: nats:\/\/127\.0\.0\.1:1\/.*cannot reach NATS at 127\.0\.0\.1:1/m);
    const missing = await sh(`bx-extract nats://127.0.0.1:4222/bxst_none_${id}`);
    t.equal(missing.code, 66);
    t.match(missing.stderr, /no such JetStream stream/);
    const B = `bxst_BAD_${id}`;
    t.teardown(async () => {
      await dropNats(B);
      await db.query(`DELETE FROM public.bx_state WHERE key = $1`, [`nats://127.0.0.1:4222/${B}`]).catch(() => {});
    });
    await publish('nats', B, 3);
    const { connect } = await import('@nats-io/transport-node');
    const { jetstream } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: '127.0.0.1:4222' });
    await jetstream(nc).publish(`${B}.sale`, '{"id":3,"amount":');
    await nc.close();
    await publish('nats', B, 2, 4);
    const T = `bxst_bad_${id}`;
    t.teardown(() => db.query(`DROP TABLE IF EXISTS ${T}`));
    const bad = await sh(`bx-extract nats://127.0.0.1:4222/${B} | bx-load --table ${T} --create`, { env });
    t.equal(bad.code, 65);
    t.match(bad.stderr, new RegExp(`^bx-extract: nats://127\\.0\\.0\\.1:4222/${B}:4: not valid JSON`, 'm'));
    t.equal((await table(T)).rows, 0, 'nothing loaded');
    const dir = tmp(t);
    const ok = await sh(
      `bx-extract nats://127.0.0.1:4222/${B} --meta --rejects ${dir}/rej.ndjson | bx-load --table ${T} --create`,
      { env },
    );
    t.equal(ok.code, 0, ok.stderr);
    t.equal((await table(T)).rows, 5);
    const rej = await sh(`cat ${dir}/rej.ndjson`);
    t.match(rej.stdout, new RegExp(`"source":"nats://127\\.0\\.0\\.1:4222/${B}:4"`));
  });
});

t.test('Redis Streams → PostgreSQL', async (t) => {
  const why = await unreachable('Redis', REDIS);
  if (why) return t.skip(`Redis skipped: ${why}`);
  const K = `bxst_POS_${id}`;
  t.teardown(() => dropRedis(K));
  await dropRedis(K);
  const src = `redis://127.0.0.1:6379/${K}`;
  await exactlyOnce(t, 'redis', K, src, src);
});

t.test('RabbitMQ streams (AMQP) → PostgreSQL', async (t) => {
  const Q = `bxst_POS_${id}`;
  const why = await rabbitUnusable(`${Q}_probe`);
  if (why) return t.skip(`RabbitMQ skipped: ${why}`);
  t.teardown(() => dropRabbit(Q));
  await dropRabbit(Q);
  await exactlyOnce(
    t,
    'rabbitmq',
    Q,
    `rabbitmq-stream://127.0.0.1:5672/${Q}?idle=500`,
    `rabbitmq-stream://127.0.0.1:5672/${Q}`,
  );
});
