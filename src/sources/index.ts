// The source registry: where records come from. A source is one file here plus one line in
// `kinds` (docs/design.md "Adding a source"). Modules load only when a run needs them.
import { stat } from 'node:fs/promises';
import { UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import type { Source } from '../lib/stream.js';
import { formatOfPath, type ReadOptions } from '../formats/index.js';
import { isS3 } from '../lib/s3.js';

/** Everything a user can say about one source on the command line. */
export interface SourceRequest {
  /** A path, `-` (stdin), a directory or glob (Parquet lake), or a URL: nats://…, redis://…, rabbitmq-stream://… */
  target: string;
  /** The file format when not told by the name (--format). */
  format?: string;
  read: ReadOptions;
  /** Database sources (--query, --query-file, --table). */
  sql?: {
    query?: string;
    table?: string;
    /** Connection: --db (a postgres:// or mysql:// URL, or a key=value string), else the environment. */
    db?: string;
    sslmode?: string;
    /** --incremental COLUMN: only rows past the committed watermark, up to the maximum at start. */
    incremental?: string;
    /** --key K1,K2: the tie-breaker that makes an incremental watermark exact when many rows share a value. */
    key?: string[];
    /** MySQL zero dates (0000-00-00): refused (default) or read as null. */
    zeroDates?: 'error' | 'null';
  };
  /** Streaming sources. */
  stream?: {
    payload: 'json' | 'text' | 'csv';
    /** --meta: add _stream, _seq/_id, _time. */
    meta: boolean;
    /** --until TIMESTAMP: cut the batch at this time instead of at the stream's end when the run starts. */
    until?: string;
  };
  /** --columns for column stores (Parquet): read only these. */
  columns?: string[];
  /** Where the starting position comes from: the target's bx_state (--from-state URL) or a file (--state). */
  state?: { db?: string; file?: string };
}

export type SourceOpener = (req: SourceRequest, io: Io) => Promise<Source>;

/** kind → module under src/sources/ exporting `open: SourceOpener`. */
const kinds: Record<string, string> = {
  file: 'file',
  parquet: 'parquet',
  postgres: 'postgres',
  mysql: 'mysql',
  nats: 'nats',
  redis: 'redis',
  'rabbitmq-stream': 'rabbitmq',
};

const SCHEMES: Record<string, string> = {
  's3:': 's3',
  'nats:': 'nats',
  'redis:': 'redis',
  'rediss:': 'redis',
  'rabbitmq-stream:': 'rabbitmq-stream',
  'amqp:': 'amqp',
  'amqps:': 'amqp',
  'mqtt:': 'mqtt',
  'mqtts:': 'mqtt',
  'kafka:': 'kafka',
};

/** Which kind of source a request names. */
export function kindOf(req: SourceRequest): string {
  if (req.sql) {
    const db = req.sql.db ?? '';
    return /^(mysql|mariadb):\/\//i.test(db) ? 'mysql' : 'postgres';
  }
  const m = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(req.target);
  if (m) {
    const kind = SCHEMES[m[1].toLowerCase()];
    if (kind === 'amqp' || kind === 'mqtt') {
      throw new UsageError(
        `${req.target}: a ${kind === 'amqp' ? 'plain AMQP queue' : 'MQTT topic'} is destructive: a message read cannot be read again after a failed load, so a nightly batch could lose it; use a RabbitMQ stream (rabbitmq-stream://…) or a NATS/Redis stream`,
      );
    }
    if (kind === 'kafka')
      throw new UsageError(
        `${req.target}: Kafka is not built yet (docs/design.md "Streaming sources" describes the same contract over kafkajs offsets)`,
      );
    if (kind === 's3') return s3Kind(req);
    if (!kind)
      throw new UsageError(
        `${req.target}: unknown source scheme ${m[1]}; known: ${Object.keys(SCHEMES)
          .filter((s) => SCHEMES[s] !== 'amqp' && SCHEMES[s] !== 'mqtt' && SCHEMES[s] !== 'kafka')
          .join(', ')}, or a file path`,
      );
    return kind;
  }
  if (req.format !== undefined) return req.format.toLowerCase() === 'parquet' ? 'parquet' : 'file';
  // A Parquet lake: a .parquet file, a glob of them, or (see openSource) a directory.
  if (/\.parquet$/i.test(req.target) || req.target.endsWith('/')) return 'parquet';
  return 'file';
}

/**
 * An s3:// path is a file of a known format (`s3://b/day.csv.gz`: read as a stream), else Parquet:
 * one `.parquet` object or a prefix (a lake, read through its manifests).
 */
function s3Kind(req: SourceRequest): string {
  if (req.format !== undefined) return req.format.toLowerCase() === 'parquet' ? 'parquet' : 'file';
  if (/\.parquet$/i.test(req.target) || req.target.endsWith('/')) return 'parquet';
  return formatOfPath(req.target) ? 'file' : 'parquet';
}

export async function openSource(req: SourceRequest, io: Io): Promise<Source> {
  let kind = kindOf(req);
  if (kind === 'file' && req.target !== '-' && req.format === undefined && !isS3(req.target)) {
    const st = await stat(req.target).catch(() => undefined);
    if (st?.isDirectory()) kind = 'parquet';
  }
  const mod = (await import(`./${kinds[kind]}.js`)) as { open: SourceOpener };
  return mod.open(req, io);
}
