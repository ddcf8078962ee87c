// Redis Streams: `redis://HOST:PORT/KEY[?field=payload&db=0]`, paged with
// `XRANGE key (<lastId> <cutoff> COUNT n`, the cut-off being `last-generated-id` when the run
// starts (NEXT-STACK.md §4; docs/streams.md). No consumer group: nothing is acked on the server.
import { defaultCa } from '../lib/tls.js';
import { createClient } from '@redis/client';
import { NoPermError, TempFailError, UsageError, InputMissingError } from '../lib/errors.js';
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

/** Entry ids `ms-seq` compared as the pair of whole numbers they are. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const d = BigInt(am) - BigInt(bm) || BigInt(as ?? 0) - BigInt(bs ?? 0);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

type Client = ReturnType<typeof createClient>;

/** The bx_state key: scheme, host, port and key, plus ?db=N when not database 0. */
export const keyOf = (url: StreamUrl) =>
  url.name + (url.params.get('db') && url.params.get('db') !== '0' ? `?db=${url.params.get('db')}` : '');

export class RedisSource implements Source {
  readonly name: string;
  private readonly decoder: Decoder;
  private readonly field: string;
  private readonly until?: number;
  private position?: string;
  private from?: string;
  private count = 0;

  constructor(
    private readonly url: StreamUrl,
    private readonly stored: string | undefined,
    req: SourceRequest,
  ) {
    this.name = url.name;
    this.field = url.params.get('field') ?? 'payload';
    this.decoder = new Decoder(req, url.name, url.stream, '_id');
    this.until = untilMs(req);
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const client = await connectTo(this.url);
    try {
      const info = await streamInfo(client, this.url);
      let cutoff = info.last;
      // An id starts with its milliseconds: --until is an exact id bound.
      if (this.until !== undefined && compareIds(`${this.until}-18446744073709551615`, cutoff) < 0)
        cutoff = `${this.until}-18446744073709551615`;
      const stored = this.stored;
      if (stored !== undefined) {
        if (compareIds(stored, info.last) > 0) {
          throw gapError(
            this.name,
            `the committed id ${stored} is past the stream's last id ${info.last} (was the key deleted and the stream created again?)`,
          );
        }
        // XDEL: Redis 7 keeps the largest id ever deleted; past the committed id, an unread entry is gone.
        // XTRIM removes from the front: while the committed entry itself is there, nothing after it
        // was trimmed. Once it is gone too, an unread one may have gone with it: fail, to be safe
        // (docs/streams.md: trim to a length the nightly run never reaches).
        const deleted = info.maxDeleted !== undefined && compareIds(info.maxDeleted, stored) > 0;
        const trimmed =
          info.first !== undefined &&
          compareIds(info.first, stored) > 0 &&
          !(await entryExists(client, this.url, stored));
        const lost = deleted || trimmed;
        if (lost) {
          throw gapError(
            this.name,
            `entries after the committed id ${stored} were trimmed or deleted before they were loaded (largest deleted id ${info.maxDeleted ?? '?'}, first entry now ${info.first ?? 'none'})`,
          );
        }
      }
      this.position = stored;
      let ordinal = 0;
      const page = (from: string) => {
        const p = client
          .sendCommand(['XRANGE', this.url.stream, from, cutoff, 'COUNT', String(BATCH_RECORDS)])
          .catch((err) => {
            throw translate(err, this.url);
          }) as unknown as Promise<[string, string[]][]>;
        // A page asked for ahead may fail after the run stopped for another reason: not unhandled.
        p.catch(() => {});
        return p;
      };
      const caughtUp = stored !== undefined && compareIds(stored, cutoff) >= 0;
      let next: Promise<[string, string[]][]> | undefined = caughtUp
        ? undefined
        : page(stored === undefined ? '-' : `(${stored}`);
      while (next) {
        if (ctx.signal?.aborted) throw new TempFailError(`${this.name}: interrupted after id ${this.position}`);
        const reply = await next;
        if (reply.length === 0) break;
        const lastId = reply[reply.length - 1][0];
        // The next page is asked for before this one goes downstream: the round trip overlaps
        // bx-load's work, and at most two pages are held.
        next = reply.length < BATCH_RECORDS || compareIds(lastId, cutoff) >= 0 ? undefined : page(`(${lastId}`);
        const msgs: Message[] = [];
        for (const [id, fields] of reply) {
          msgs.push({ seq: ++ordinal, id, text: this.payload(id, fields), time: Number(id.slice(0, id.indexOf('-'))) });
        }
        this.from ??= reply[0][0];
        this.position = lastId;
        this.count += msgs.length;
        yield this.decoder.batch(msgs, ctx);
      }
    } finally {
      await client.quit().catch(() => client.destroy());
    }
  }

  /** The entry's payload: its field `?field=` (default `payload`), else its only field. */
  private payload(id: string, fields: string[]): string {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === this.field) return fields[i + 1];
    if (fields.length === 2) return fields[1];
    const names = fields.filter((_, i) => i % 2 === 0);
    throw new UsageError(
      `${this.name}: entry ${id} has no field "${this.field}" (fields: ${names.join(', ')}); name the payload field with ?field=NAME`,
    );
  }

  checkpoints(): Checkpoint[] {
    return streamCheckpoint(keyOf(this.url), this.position, this.from, this.count);
  }
}

async function connectTo(url: StreamUrl): Promise<Client> {
  const db = url.params.get('db');
  if (db !== null && !/^\d+$/.test(db))
    throw new UsageError(`${url.name}: ?db= expects a database number, got "${db}"`);
  const client = createClient({
    socket: {
      host: url.host,
      port: url.port,
      connectTimeout: 5000,
      reconnectStrategy: false,
      ...(url.scheme === 'rediss' ? { tls: true, ca: defaultCa() } : {}),
    },
    username: url.user,
    password: url.password,
    database: db === null ? undefined : Number(db),
    name: 'bx-extract',
  } as Parameters<typeof createClient>[0]);
  // Errors come back from the calls below; the 'error' event alone would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    client.destroy?.();
    throw translate(err, url);
  }
  return client;
}

async function entryExists(client: Client, url: StreamUrl, id: string): Promise<boolean> {
  const r = (await client.sendCommand(['XRANGE', url.stream, id, id]).catch((err) => {
    throw translate(err, url);
  })) as unknown as unknown[];
  return r.length > 0;
}

interface Info {
  last: string;
  first?: string;
  maxDeleted?: string;
}

async function streamInfo(client: Client, url: StreamUrl): Promise<Info> {
  let reply: unknown;
  try {
    reply = await client.sendCommand(['XINFO', 'STREAM', url.stream]);
  } catch (err) {
    throw translate(err, url);
  }
  // The client turns RESP2's flat key/value list into an object; a flat list is read as well.
  const raw = Array.isArray(reply)
    ? Object.fromEntries(reply.flatMap((v, i) => (i % 2 ? [] : [[String(v), reply[i + 1]]])))
    : (reply as Record<string, unknown>);
  const first = raw['first-entry'] as [string, unknown] | null | undefined;
  const maxDeleted = raw['max-deleted-entry-id'] !== undefined ? String(raw['max-deleted-entry-id']) : undefined;
  return { last: String(raw['last-generated-id']), first: first ? first[0] : undefined, maxDeleted };
}

function translate(err: unknown, url: StreamUrl): Error {
  const e = err as NodeJS.ErrnoException;
  const msg = e?.message ?? String(err);
  if (/^ERR no such key/.test(msg)) return streamMissing(url, 'Redis stream');
  if (/^WRONGTYPE/.test(msg)) return new InputMissingError(`${url.name}: the key holds no stream (WRONGTYPE)`);
  if (/^(NOAUTH|WRONGPASS|NOPERM)/.test(msg)) return new NoPermError(`${url.name}: ${msg}`);
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(e?.code ?? '') ||
    /Socket closed|connect|timeout/i.test(msg)
  ) {
    return brokerDown(url, 'Redis', err);
  }
  return e;
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const url = parseStreamUrl(req.target, 6379, ['field', 'db']);
  return new RedisSource(url, await startPosition(req, io, keyOf(url), 'id'), req);
};
