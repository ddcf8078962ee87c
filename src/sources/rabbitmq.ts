// RabbitMQ streams: `rabbitmq-stream://[USER:PASS@]HOST[:5672]/STREAM[?vhost=/&idle=1000]`,
// read over AMQP 0-9-1 (amqplib) with `x-stream-offset`, because the stream protocol client
// needs RabbitMQ ≥ 3.11 and this one is 3.10 (NEXT-STACK.md §4). Acks are flow control only:
// a stream keeps its messages, and the position lives in bx_state.
//
// The caveat (docs/streams.md): AMQP tells no tail offset. The cut-off is the offset of the
// first message published after the run started (seen by a second consumer at "next"), else,
// on a quiet stream, the first pause of `idle` ms. A pause that long under load ends a batch
// early; the next run goes on from there, so nothing is lost or read twice.
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { InternalError, NoPermError, TempFailError, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import type { Batch, Checkpoint, Source, StageContext } from '../lib/stream.js';
import {
  BATCH_RECORDS,
  brokerDown,
  Decoder,
  gapError,
  parseStreamUrl,
  startPosition,
  streamMissing,
  type Message,
  type StreamUrl,
  streamCheckpoint,
} from './broker.js';
import type { SourceOpener, SourceRequest } from './index.js';

export const DEFAULT_IDLE_MS = 1000;

export class RabbitSource implements Source {
  readonly name: string;
  private readonly decoder: Decoder;
  private readonly idleMs: number;
  private position?: number;
  private from?: number;
  private count = 0;

  constructor(
    private readonly url: StreamUrl,
    private readonly stored: number | undefined,
    req: SourceRequest,
  ) {
    this.name = url.name;
    this.decoder = new Decoder(req, url.name, url.stream, '_seq');
    const idle = url.params.get('idle');
    this.idleMs = idle === null ? DEFAULT_IDLE_MS : Number(idle);
    if (!Number.isInteger(this.idleMs) || this.idleMs < 10)
      throw new UsageError(`${url.name}: ?idle= expects milliseconds (≥ 10), got "${idle}"`);
    if (req.stream?.until !== undefined) {
      throw new UsageError(
        `${url.name}: --until needs message times, which AMQP does not carry for a stream; the batch ends at the messages present when the run starts (docs/streams.md)`,
      );
    }
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const conn = await connectTo(this.url);
    try {
      await checkStream(conn, this.url);
      const tail = new TailProbe();
      await tail.start(conn, this.url);
      const stored = this.stored;
      this.position = stored;
      const reader = new Reader(this.idleMs);
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      // Prefetch is required on a stream queue; it bounds what waits here unacked to one batch.
      await ch.prefetch(BATCH_RECORDS);
      await ch.consume(this.url.stream, (m) => reader.push(m), {
        noAck: false,
        arguments: { 'x-stream-offset': stored === undefined ? 'first' : stored + 1 },
      });
      let first = true;
      for (;;) {
        if (ctx.signal?.aborted) throw new TempFailError(`${this.name}: interrupted at offset ${this.position}`);
        if (tail.cutoff !== undefined && this.position !== undefined && this.position >= tail.cutoff) break;
        const got = await reader.take(BATCH_RECORDS, tail);
        const msgs: Message[] = [];
        let stop = got.idle;
        let last: ConsumeMessage | undefined;
        for (const m of got.msgs) {
          last = m;
          const off = offsetOf(m, this.name);
          // A stream delivers from the start of the chunk holding the asked-for offset.
          if (stored !== undefined && off <= stored) continue;
          if (tail.cutoff !== undefined && off > tail.cutoff) {
            stop = true;
            break;
          }
          if (first) {
            first = false;
            // Like a NATS ordered consumer, a stream silently starts at its first retained offset.
            if (stored !== undefined && off > stored + 1) {
              throw gapError(
                this.name,
                `offsets ${stored + 1}…${off - 1} were removed by the stream's retention before they were loaded (committed offset ${stored}, first offset now ${off})`,
              );
            }
          } else if (off !== this.position! + 1) {
            throw gapError(
              this.name,
              `offsets ${this.position! + 1}…${off - 1} are missing from the stream while it was read`,
            );
          }
          const ts = m.properties.timestamp as number | undefined;
          msgs.push({ seq: off, data: m.content, time: typeof ts === 'number' ? ts * 1000 : undefined });
          this.position = off;
          this.from ??= off;
          if (tail.cutoff !== undefined && off === tail.cutoff) stop = true;
        }
        if (msgs.length) {
          this.count += msgs.length;
          yield this.decoder.batch(msgs, ctx);
        }
        // Acked after the batch went on: the ack is the broker's flow control, never a commit.
        if (last && !stop) ch.ack(last, true);
        if (stop) break;
      }
      await tail.stop();
      await ch.close().catch(() => {});
    } finally {
      await conn.close().catch(() => {});
    }
  }

  checkpoints(): Checkpoint[] {
    return streamCheckpoint(this.name, this.position, this.from, this.count);
  }
}

function offsetOf(m: ConsumeMessage, name: string): number {
  const v = m.properties.headers?.['x-stream-offset'] as unknown;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'value' in v) return Number((v as { value: unknown }).value);
  // checkStream made sure of the queue type; a message without an offset means it is not a stream after all.
  throw new InternalError(`${name}: a message without x-stream-offset: not a stream queue`);
}

/** The messages pushed by the consumer callback, taken a batch at a time; idle when none came for `idleMs`. */
class Reader {
  private queue: ConsumeMessage[] = [];
  private wake?: () => void;
  private lastAt: number;
  private ended = false;

  constructor(private readonly idleMs: number) {
    // The first message may take longer (the broker reads the stream's segment from disk): 3× idle.
    this.lastAt = Date.now() + 2 * idleMs;
  }

  push(m: ConsumeMessage | null) {
    // null: the broker cancelled the consumer (the stream was deleted).
    if (m === null) this.ended = true;
    else {
      this.queue.push(m);
      this.lastAt = Date.now();
    }
    this.wake?.();
  }

  async take(n: number, tail: TailProbe): Promise<{ msgs: ConsumeMessage[]; idle: boolean }> {
    for (;;) {
      const reached =
        tail.cutoff !== undefined &&
        this.queue.some((m) => (m.properties.headers?.['x-stream-offset'] as number) >= tail.cutoff!);
      if (this.queue.length >= n || reached || this.ended) return { msgs: this.queue.splice(0, n), idle: this.ended };
      const quiet = Date.now() - this.lastAt;
      if (quiet >= this.idleMs) return { msgs: this.queue.splice(0, n), idle: true };
      await new Promise<void>((res) => {
        const t = setTimeout(res, this.idleMs - quiet);
        this.wake = () => {
          clearTimeout(t);
          res();
        };
      });
      this.wake = undefined;
    }
  }
}

/**
 * The cut-off: a consumer at offset "next" sees first the message published just after it
 * attached, at the start of the run; everything before that offset is this run's.
 */
class TailProbe {
  cutoff?: number;
  private ch?: Channel;
  private tag?: string;

  async start(conn: ChannelModel, url: StreamUrl) {
    this.ch = await conn.createChannel();
    this.ch.on('error', () => {});
    await this.ch.prefetch(1);
    const r = await this.ch.consume(
      url.stream,
      (m) => {
        if (!m || this.cutoff !== undefined) return;
        this.cutoff = offsetOf(m, url.name) - 1;
        void this.stop();
      },
      { noAck: false, arguments: { 'x-stream-offset': 'next' } },
    );
    this.tag = r.consumerTag;
  }

  async stop() {
    const ch = this.ch;
    this.ch = undefined;
    if (!ch) return;
    await ch.close().catch(() => {});
  }
}

async function connectTo(url: StreamUrl): Promise<ChannelModel> {
  try {
    const conn = await amqp.connect(
      {
        protocol: 'amqp',
        hostname: url.host,
        port: url.port,
        username: url.user ?? 'guest',
        password: url.password ?? 'guest',
        vhost: url.params.get('vhost') ?? '/',
        heartbeat: 30,
      },
      { timeout: 5000 },
    );
    conn.on('error', () => {});
    return conn;
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/ACCESS_REFUSED|403/.test(msg))
      throw new NoPermError(`${url.name}: login refused (${msg.replace(/\s+/g, ' ').slice(0, 200)})`);
    if (/NOT_ALLOWED|vhost/i.test(msg)) throw new NoPermError(`${url.name}: ${msg.replace(/\s+/g, ' ').slice(0, 200)}`);
    throw brokerDown(url, 'RabbitMQ', err);
  }
}

/**
 * The queue must exist (else 66) and be a stream: declaring it again as one fails with 406
 * when it is a classic or quorum queue, whose consumption would remove the messages.
 */
async function checkStream(conn: ChannelModel, url: StreamUrl) {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.checkQueue(url.stream);
  } catch (err) {
    if (/404|NOT_FOUND/.test((err as Error).message)) throw streamMissing(url, 'RabbitMQ stream queue');
    throw err;
  }
  await ch.close().catch(() => {});
  const ch2 = await conn.createChannel();
  ch2.on('error', () => {});
  try {
    await ch2.assertQueue(url.stream, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  } catch (err) {
    if (/406|PRECONDITION_FAILED/.test((err as Error).message)) {
      throw new UsageError(
        `${url.name}: the queue is not a stream (x-queue-type: stream); reading a classic or quorum queue would remove its messages`,
      );
    }
    throw err;
  }
  await ch2.close().catch(() => {});
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const url = parseStreamUrl(req.target, 5672, ['vhost', 'idle']);
  return new RabbitSource(url, await startPosition(req, io, url.name, 'number'), req);
};
