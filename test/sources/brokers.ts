// The brokers the stream tests talk to (loopback only), and how they tell a missing server:
// each test file skips what it cannot reach, with the reason, and never passes without it.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { root } from '../helpers.js';

export const NATS = { host: '127.0.0.1', port: 4222 };
export const REDIS = { host: '127.0.0.1', port: 6379 };
export const RABBIT = { host: '127.0.0.1', port: 5672 };

/** Why a server cannot be used, or undefined when it answers on its port. */
export function unreachable(what: string, s: { host: string; port: number }): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = tcp({ host: s.host, port: s.port });
    const done = (why?: string) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(2000, () => done(`${what} does not answer on ${s.host}:${s.port} (timeout)`));
    sock.on('connect', () => done());
    sock.on('error', (e) => done(`${what} is not reachable on ${s.host}:${s.port} (${e.message})`));
  });
}

/** NATS must also have JetStream on. */
export async function natsUnusable(): Promise<string | undefined> {
  const why = await unreachable('NATS', NATS);
  if (why) return why;
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: `${NATS.host}:${NATS.port}` });
  try {
    await jetstreamManager(nc, { timeout: 3000 });
    return undefined;
  } catch (e) {
    return `NATS on ${NATS.host}:${NATS.port} has no JetStream (${(e as Error).message}); start nats-server with -js`;
  } finally {
    await nc.close();
  }
}

/** RabbitMQ must also accept a stream queue (3.9+). */
export async function rabbitUnusable(probeQueue: string): Promise<string | undefined> {
  const why = await unreachable('RabbitMQ', RABBIT);
  if (why) return why;
  const amqp = (await import('amqplib')).default;
  try {
    const conn = await amqp.connect(`amqp://guest:guest@${RABBIT.host}:${RABBIT.port}`);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(probeQueue, { durable: true, arguments: { 'x-queue-type': 'stream' } });
      await ch.deleteQueue(probeQueue);
      return undefined;
    } finally {
      await conn.close().catch(() => {});
    }
  } catch (e) {
    return `RabbitMQ on ${RABBIT.host}:${RABBIT.port} cannot declare a stream queue (${(e as Error).message})`;
  }
}

const pubScript = join(root, 'bench', 'stream-pub.mjs');

/** Publishes ids start…start+count-1 with bench/stream-pub.mjs; resolves with how many went out. */
export function publish(kind: 'nats' | 'redis' | 'rabbitmq', name: string, count: number, start = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [pubScript, kind, name, String(count), String(start)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: cleanEnv(),
    });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`stream-pub ${kind} ${name} exited ${code}`)),
    );
  });
}

/** A producer that keeps publishing (one message every `everyMs`) until stop(); stop() resolves with how many it sent. */
export function publisher(
  kind: 'nats' | 'redis' | 'rabbitmq',
  name: string,
  start: number,
  everyMs = 2,
): { child: ChildProcess; started: Promise<void>; stop: () => Promise<number> } {
  const child = spawn(process.execPath, [pubScript, kind, name, '0', String(start), '--every', String(everyMs)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: cleanEnv(),
  });
  let out = '';
  let began: () => void;
  const started = new Promise<void>((resolve) => (began = resolve));
  child.stdout!.on('data', (d) => {
    out += d;
    if (out.startsWith('started\n')) began();
  });
  // The last line is the count published; a child that never started prints none (0).
  const closed = new Promise<number>((resolve) =>
    child.on('close', () => {
      began();
      resolve(Number(out.trim().split('\n').pop()) || 0);
    }),
  );
  return {
    child,
    started,
    stop: () => {
      child.kill('SIGTERM');
      return closed;
    },
  };
}

/** tap's NODE_OPTIONS loader is not for plain .mjs children. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

export async function dropNats(stream: string) {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: `${NATS.host}:${NATS.port}` });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => {});
  await nc.close();
}

export async function dropRedis(...keys: string[]) {
  const { createClient } = await import('@redis/client');
  const c = createClient({ url: `redis://${REDIS.host}:${REDIS.port}` });
  await c.connect();
  await c.del(keys);
  await c.quit();
}

export async function dropRabbit(...queues: string[]) {
  const amqp = (await import('amqplib')).default;
  const conn = await amqp.connect(`amqp://guest:guest@${RABBIT.host}:${RABBIT.port}`);
  const ch = await conn.createChannel();
  for (const q of queues) await ch.deleteQueue(q).catch(() => {});
  await conn.close().catch(() => {});
}
