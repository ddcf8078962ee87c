import type { Checkpoint } from '../lib/stream.js';
// What the stream sources (nats.ts, redis.ts, rabbitmq.ts) share (docs/streams.md): the URL and
// the checkpoint key, the start position read back from bx_state, a message's payload turned
// into a record, and the errors a broker gives turned into bx's exit codes.
//
// The contract: read (committed position, cut-off at start], never ack or commit on the broker,
// and hand the last position read to the trailer, so that bx-load commits it with the rows.
import { isUtf8 } from 'node:buffer';
import { DataError, InputMissingError, UnavailableError, UsageError, type Origin } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { parseRecord } from '../lib/records.js';
import { redact } from '../lib/redact.js';
import type { Batch, Rec, StageContext } from '../lib/stream.js';
import { readStartPosition } from '../run/state.js';
import type { SourceRequest } from './index.js';

/** Records per batch: one write() on a pipe per ~1000 lines (STYLE.md "Streams"). */
export const BATCH_RECORDS = 1000;

/** A stream URL taken apart: `nats://user:pw@host:4222/POS?subject=pos.eu`. */
export interface StreamUrl {
  scheme: string;
  host: string;
  port: number;
  /** The stream (NATS), key (Redis) or stream queue (RabbitMQ), decoded. */
  stream: string;
  user?: string;
  password?: string;
  params: URLSearchParams;
  /** How errors and records name it: no password, no query. `nats://host:4222/POS`. */
  name: string;
}

export function parseStreamUrl(target: string, defaultPort: number, known: string[]): StreamUrl {
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    throw new UsageError(`${redact(target)}: not a valid URL`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  const stream = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (stream === '' || stream.includes('/'))
    throw new UsageError(
      `${redact(target)}: expected ${scheme}://HOST[:PORT]/STREAM (one path step naming the stream)`,
    );
  for (const k of u.searchParams.keys()) {
    if (!known.includes(k))
      throw new UsageError(`${redact(target)}: unknown URL parameter "${k}"; known: ${known.join(', ') || 'none'}`);
  }
  // IPv6 hosts come bracketed from URL; the clients want them bare.
  const host = (u.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = u.port === '' ? defaultPort : Number(u.port);
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return {
    scheme,
    host,
    port,
    stream,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    params: u.searchParams,
    name: `${scheme}://${hostPort}/${stream}`,
  };
}

/** Where a broker error sends the user: a refused or timed-out connection is exit 69 naming host and port. */
export function brokerDown(url: StreamUrl, what: string, err: unknown): UnavailableError {
  const detail = (err as Error)?.message ?? String(err);
  return new UnavailableError(`${url.name}: cannot reach ${what} at ${url.host}:${url.port} (${redact(detail)})`);
}

export const streamMissing = (url: StreamUrl, what: string) => new InputMissingError(`${url.name}: no such ${what}`);

/**
 * The position committed for `key`, checked: a whole number (NATS sequence, RabbitMQ offset)
 * or, with `idPattern`, a string id (Redis). A position of another shape is a data error
 * naming the key: starting anywhere else would skip or repeat messages.
 */
export async function startPosition(
  req: SourceRequest,
  io: Io,
  key: string,
  kind: 'number',
): Promise<number | undefined>;
export async function startPosition(req: SourceRequest, io: Io, key: string, kind: 'id'): Promise<string | undefined>;
export async function startPosition(
  req: SourceRequest,
  io: Io,
  key: string,
  kind: 'number' | 'id',
): Promise<number | string | undefined> {
  const p = await readStartPosition(req.state, key, io.env);
  if (p === undefined || p === null) return undefined;
  const where = req.state?.file !== undefined ? `state file ${req.state.file}` : 'bx_state';
  if (kind === 'number') {
    if (typeof p === 'number' && Number.isSafeInteger(p) && p >= 0) return p;
    throw new DataError(
      undefined,
      undefined,
      `${where}: key ${key}: position ${JSON.stringify(p)} is not a stream sequence (a whole number)`,
    );
  }
  if (typeof p === 'string' && /^\d+-\d+$/.test(p)) return p;
  throw new DataError(
    undefined,
    undefined,
    `${where}: key ${key}: position ${JSON.stringify(p)} is not a stream entry id (ms-seq)`,
  );
}

/** --until as milliseconds since the epoch; undefined without it. */
export function untilMs(req: SourceRequest): number | undefined {
  const u = req.stream?.until;
  if (u === undefined) return undefined;
  // An ISO 8601 date or date-time; a bare date is midnight UTC (as Date.parse reads it).
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(u) ? Date.parse(u) : NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`--until: expected an ISO 8601 time such as 2026-12-01T23:59:59Z, got "${u}"`);
  return ms;
}

/** One message as it left the broker. */
export interface Message {
  /** NATS sequence, RabbitMQ offset; for Redis, the entry's ordinal in this run (its id is `id`). */
  seq: number;
  id?: string;
  /** The payload's bytes, or its text when the client has decoded it already (Redis). */
  data?: Buffer;
  text?: string;
  /** Milliseconds since the epoch, when the broker says. */
  time?: number;
  subject?: string;
}

/**
 * Turns messages into records: `--payload json` (bx's exact-number parser: a long number stays
 * its digits), `text` (`{"payload": "…"}`), or `csv` (one line per message, fields named by
 * --columns). A message that does not decode goes to ctx.reject with the stream and sequence
 * as its origin: to the rejects file, or (without one) the run's exit 65.
 */
export class Decoder {
  private readonly mode: 'json' | 'text' | 'csv';
  private readonly meta: boolean;
  private readonly lineage: boolean;
  private readonly columns?: string[];
  private readonly delimiter: string;
  private readonly quote: string;
  private readonly maxDepth?: number;

  constructor(
    req: SourceRequest,
    /** How origins name the stream: `nats://host:4222/POS`. */
    readonly name: string,
    /** The `_stream` value: the stream's own name. */
    private readonly stream: string,
    /** `_seq` (NATS sequence, RabbitMQ offset) or `_id` (Redis entry id). */
    private readonly position: '_seq' | '_id',
  ) {
    const s = req.stream ?? { payload: 'json', meta: false };
    this.mode = s.payload;
    this.meta = s.meta;
    this.lineage = Boolean(req.read.lineage);
    this.maxDepth = req.read.maxDepth;
    this.delimiter = req.read.delimiter ?? ',';
    this.quote = req.read.quote ?? '"';
    if (this.mode === 'csv') {
      if (!req.columns?.length)
        throw new UsageError('--payload csv needs --columns NAME,NAME… (a message is one CSV line without a header)');
      this.columns = req.columns;
    }
  }

  /** The messages of one batch as records; rejected ones are left out (ctx.reject saw them). */
  batch(msgs: Message[], ctx: StageContext): Batch {
    const records: Rec[] = [];
    const lines: number[] = [];
    for (const m of msgs) {
      const rec = this.record(m, ctx);
      if (rec === undefined) continue;
      if (this.meta) {
        rec._stream = this.stream;
        rec[this.position] = this.position === '_id' ? m.id : m.seq;
        if (m.subject !== undefined) rec._subject = m.subject;
        rec._time = m.time === undefined ? null : new Date(m.time).toISOString();
      }
      if (this.lineage) {
        rec._file = this.name;
        rec._line = m.seq;
      }
      records.push(rec);
      lines.push(m.seq);
    }
    return { name: this.name, lines, records };
  }

  private record(m: Message, ctx: StageContext): Rec | undefined {
    const at: Origin = { file: this.name, line: m.seq };
    // Redis ids are not numbers: the error names the id beside the entry's ordinal.
    const where = m.id !== undefined ? `id ${m.id}: ` : '';
    let text = m.text;
    if (text === undefined) {
      const data = m.data ?? Buffer.alloc(0);
      if (!isUtf8(data)) {
        ctx.reject(
          data.toString('latin1').slice(0, 1000),
          { rule: 'encoding', message: `${where}payload is not valid UTF-8` },
          at,
        );
        return undefined;
      }
      text = data.toString('utf8');
    }
    if (this.mode === 'text') return { payload: text };
    if (this.mode === 'csv') return this.csvRecord(text, at, where, ctx);
    try {
      return parseRecord(text, at, this.maxDepth);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      ctx.reject(text.length > 1000 ? text.slice(0, 1000) : text, { rule: 'json', message: where + err.detail }, at);
      return undefined;
    }
  }

  private csvRecord(text: string, at: Origin, where: string, ctx: StageContext): Rec | undefined {
    const fields = splitCsvLine(text.replace(/\r?\n$/, ''), this.delimiter, this.quote);
    const names = this.columns!;
    if (fields === undefined) {
      ctx.reject(text.slice(0, 1000), { rule: 'quote', message: `${where}unterminated quote in the CSV payload` }, at);
      return undefined;
    }
    if (fields.length !== names.length) {
      ctx.reject(
        fields,
        { rule: 'columns', message: `${where}expected ${names.length} fields (--columns), got ${fields.length}` },
        at,
      );
      return undefined;
    }
    const rec: Rec = {};
    for (let i = 0; i < names.length; i++) rec[names[i]] = fields[i];
    return rec;
  }
}

/**
 * The fields of one CSV line (RFC 4180 quoting, a doubled quote inside quotes); undefined when
 * a quote never closes. An empty quote character turns quoting off.
 */
export function splitCsvLine(line: string, delimiter: string, quote: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (quote !== '' && line.startsWith(quote, i)) {
      let v = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf(quote, j);
        if (q < 0) return undefined;
        v += line.slice(j, q);
        if (line.startsWith(quote, q + 1)) {
          v += quote;
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      // Text after the closing quote up to the delimiter is kept, as lenient readers do.
      const d = line.indexOf(delimiter, j);
      out.push(v + line.slice(j, d < 0 ? line.length : d));
      if (d < 0) return out;
      i = d + delimiter.length;
    } else {
      const d = line.indexOf(delimiter, i);
      out.push(line.slice(i, d < 0 ? line.length : d));
      if (d < 0) return out;
      i = d + delimiter.length;
    }
  }
}

/** Thrown when retention removed messages the last committed run had not read yet. */
export function gapError(name: string, detail: string): DataError {
  return new DataError(
    undefined,
    undefined,
    `${name}: ${detail}; those messages are lost to this pipeline (load them another way, or remove the key from bx_state to start over from the stream's first message)`,
  );
}

/** The checkpoint of a broker source: where it stopped, where it began, how many it read. */
export function streamCheckpoint(key: string, position: unknown, from: unknown, records: number): Checkpoint[] {
  if (position === undefined) return [];
  return [{ key, position, ...(from !== undefined ? { from } : {}), records }];
}
