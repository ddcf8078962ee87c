// NATS JetStream: `nats://HOST:PORT/STREAM[?subject=…]`, read by sequence with an ordered
// consumer (ephemeral, no acks, no server-side state), from the committed sequence + 1 up to
// the stream's last sequence when the run starts (NEXT-STACK.md §4; docs/streams.md).
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type MsgRequest,
  type StreamInfo,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NoPermError, TempFailError, UnavailableError, UsageError } from '../lib/errors.js';
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
  untilMs,
  type Message,
  type StreamUrl,
  streamCheckpoint,
} from './broker.js';
import type { SourceOpener, SourceRequest } from './index.js';

// A fetch asks only for messages known to exist, so it returns at once; this bounds the wait
// when one was removed in the meantime (retention during the read).
const FETCH_EXPIRES_MS = 5000;

export class NatsSource implements Source {
  readonly name: string;
  private readonly key: string;
  private readonly subject?: string;
  private readonly decoder: Decoder;
  private readonly until?: number;
  private position?: number;
  private from?: number;
  private count = 0;

  constructor(
    private readonly url: StreamUrl,
    private readonly stored: number | undefined,
    req: SourceRequest,
  ) {
    this.name = url.name;
    this.subject = url.params.get('subject') ?? undefined;
    if (this.subject === '') throw new UsageError(`${url.name}: ?subject= needs a subject`);
    this.key = keyOf(url);
    this.decoder = new Decoder(req, url.name, url.stream, '_seq');
    this.until = untilMs(req);
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const nc = await connectTo(this.url);
    try {
      const jsm = await manager(nc, this.url);
      const info = await streamInfo(jsm, this.url);
      const { first_seq: first, last_seq: cutoff } = info.state;
      const stored = this.stored;
      if (stored !== undefined && stored > cutoff) {
        throw gapError(
          this.name,
          `the committed sequence ${stored} is past the stream's last sequence ${cutoff} (was the stream deleted and created again?)`,
        );
      }
      // The ordered consumer would silently start at first_seq (NEXT-STACK.md §4: asked for 51, got 201).
      if (stored !== undefined && stored < cutoff && first > stored + 1) {
        throw gapError(
          this.name,
          `messages ${stored + 1}…${first - 1} were removed by the stream's retention before they were loaded (committed sequence ${stored}, first sequence now ${first})`,
        );
      }
      const start = stored === undefined ? Math.max(first, 1) : stored + 1;
      this.position = start - 1;
      // cutoff == stored: consume() would wait forever for a message that is not there.
      if (start > cutoff) {
        this.position = Math.max(this.position, cutoff);
        return;
      }
      if (this.subject !== undefined) {
        // With a filter, the last matching message is not known: look for one before reading.
        // MSG.GET takes next_by_subj (typed only for direct get): measured on nats-server 2.9.10.
        const next = await jsm.streams
          .getMessage(this.url.stream, { seq: start, next_by_subj: this.subject } as unknown as MsgRequest)
          .catch((err) => {
            throw translate(err, this.url);
          });
        if (!next || next.seq > cutoff) {
          this.position = cutoff;
          return;
        }
      }
      const js = jetstream(nc);
      const consumer = await js.consumers
        .get(this.url.stream, {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: start,
          ...(this.subject !== undefined ? { filter_subjects: this.subject } : {}),
        })
        .catch((err) => {
          throw translate(err, this.url);
        });
      // Messages known to exist past the position (at most): the next fetch asks for no more.
      let pending = this.subject === undefined ? cutoff - this.position : BATCH_RECORDS;
      let done = false;
      const fetch = () =>
        consumer.fetch({ max_messages: Math.max(1, Math.min(BATCH_RECORDS, pending)), expires: FETCH_EXPIRES_MS });
      let it: Awaited<ReturnType<typeof fetch>> | undefined = await fetch();
      while (it) {
        if (ctx.signal?.aborted) throw new TempFailError(`${this.name}: interrupted at sequence ${this.position}`);
        const msgs: Message[] = [];
        for await (const m of it) {
          if (m.seq > cutoff) {
            // Published after the run started: the next run's (all matching ones up to cutoff are read).
            this.position = cutoff;
            done = true;
            break;
          }
          const time = Math.floor(m.info.timestampNanos / 1e6);
          if (this.until !== undefined && time > this.until) {
            this.position = m.seq - 1;
            done = true;
            break;
          }
          if (this.subject === undefined && m.seq !== this.position + 1) {
            throw gapError(
              this.name,
              `messages ${this.position + 1}…${m.seq - 1} were removed by the stream's retention while they were being read`,
            );
          }
          msgs.push({
            seq: m.seq,
            data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
            time,
            subject: m.subject,
          });
          this.position = m.seq;
          this.from ??= m.seq;
          pending = this.subject === undefined ? cutoff - m.seq : m.info.pending;
          if (m.seq === cutoff || pending === 0) {
            // No matching message is left now; any later one has a sequence past the cut-off.
            this.position = cutoff;
            done = true;
            break;
          }
        }
        it.stop();
        if (msgs.length === 0 && !done) {
          throw new TempFailError(
            `${this.name}: no message arrived within ${FETCH_EXPIRES_MS / 1000} s after sequence ${this.position} (cut-off ${cutoff}); worth a retry`,
          );
        }
        // The next batch is asked for before this one goes downstream: the round trip overlaps
        // bx-load's work, and at most two batches are held.
        it = done ? undefined : await fetch();
        if (msgs.length) {
          this.count += msgs.length;
          yield this.decoder.batch(msgs, ctx);
        }
      }
    } finally {
      await nc.close().catch(() => {});
    }
  }

  checkpoints(): Checkpoint[] {
    return streamCheckpoint(this.key, this.position, this.from, this.count);
  }
}

/** The bx_state key: scheme, host, port and stream, plus the subject filter (another filter is another position). */
export const keyOf = (url: StreamUrl) =>
  url.name + (url.params.get('subject') ? `?subject=${url.params.get('subject')}` : '');

async function connectTo(url: StreamUrl): Promise<NatsConnection> {
  try {
    return await connect({
      servers: url.host.includes(':') ? `[${url.host}]:${url.port}` : `${url.host}:${url.port}`,
      user: url.user,
      pass: url.password,
      name: 'bx-extract',
      // A nightly batch fails fast with 69 and is retried by its scheduler; no reconnect loop.
      reconnect: false,
      timeout: 5000,
    });
  } catch (err) {
    throw translate(err, url);
  }
}

async function manager(nc: NatsConnection, url: StreamUrl): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc, { timeout: 5000 });
  } catch (err) {
    if (
      (err as Error).name === 'JetStreamNotEnabled' ||
      /jetstream.*not enabled|no responders/i.test((err as Error).message)
    ) {
      return Promise.reject(
        new UnavailableError(`${url.name}: JetStream is not enabled on ${url.host}:${url.port} (nats-server -js)`),
      );
    }
    throw translate(err, url);
  }
}

async function streamInfo(jsm: JetStreamManager, url: StreamUrl): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(url.stream);
  } catch (err) {
    throw translate(err, url);
  }
}

function translate(err: unknown, url: StreamUrl): Error {
  const e = err as Error;
  const name = e?.name ?? '';
  if (name === 'StreamNotFoundError') return streamMissing(url, 'JetStream stream');
  if (name === 'InvalidNameError') return new UsageError(`${url.name}: "${url.stream}" is not a valid stream name`);
  if (
    name === 'AuthorizationError' ||
    name === 'PermissionViolationError' ||
    name === 'UserAuthenticationExpiredError'
  ) {
    return new NoPermError(`${url.name}: ${e.message}`);
  }
  if (
    name === 'ConnectionError' ||
    name === 'TimeoutError' ||
    name === 'ClosedConnectionError' ||
    (e as NodeJS.ErrnoException)?.code === 'ECONNREFUSED'
  ) {
    return brokerDown(url, 'NATS', err);
  }
  return e;
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const url = parseStreamUrl(req.target, 4222, ['subject']);
  const key = keyOf(url);
  return new NatsSource(url, await startPosition(req, io, key, 'number'), req);
};
