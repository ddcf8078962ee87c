// A MySQL or MariaDB query or table as a source (docs/design.md "Database sources"), through
// mysql2's callback API with the options NEXT-STACK.md §2 found exact: BIGINT and DECIMAL as
// strings, dates as the server's text (no shift to the Node process's zone), JSON as text, and
// a `+00:00` session so TIMESTAMP columns come out in UTC. Rows arrive as 'result' events; the
// connection is paused while a batch waits for the consumer, so memory stays flat.
import { defaultCa } from '../lib/tls.js';
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Connection, FieldPacket } from 'mysql2';
import {
  ConfigError,
  DataError,
  InternalError,
  NoPermError,
  TempFailError,
  UnavailableError,
  UsageError,
  type BxError,
} from '../lib/errors.js';
import { parseTableName } from '../lib/ident.js';
import type { Io } from '../lib/io.js';
import { addSecret, redact } from '../lib/redact.js';
import type { Batch, Checkpoint, Source, StageContext } from '../lib/stream.js';
import { readStartPosition } from '../run/state.js';
import { MK, MyRowReader, MyRowTranscoder, myKind, type MyField } from './mysql-rows.js';
import type { SourceOpener, SourceRequest } from './index.js';
import {
  BATCH_ROWS,
  bareQuery,
  bytesJson,
  checkpointKey,
  compactJson,
  decimalJson,
  floatJson,
  incrementalWhere,
  intJson,
  LineBatcher,
  refuseDuplicateColumns,
  unsealedWarning,
  rowCompare,
  sourceId,
  timestampText,
  watermarkOf,
  zeroDate,
  type Incremental,
  type Watermark,
} from './sql.js';

export interface MyTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  ssl?: { rejectUnauthorized: boolean; ca?: string[] };
}

/** `user@host:port/db`: safe in any message, never a password. */
export const myLabel = (t: MyTarget) => `${t.user}@${t.host}:${t.port}/${t.database ?? ''}`;

/** The [client] section of an option file (~/.my.cnf), as the mysql client reads it. */
function readOptionFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.*)\]$/.exec(line);
    if (sec) {
      inside = sec[1].trim() === 'client';
      continue;
    }
    const eq = line.indexOf('=');
    if (!inside || eq < 0) continue;
    let v = line.slice(eq + 1).trim();
    if (/^(["']).*\1$/.test(v)) v = v.slice(1, -1);
    out[line.slice(0, eq).trim().replace(/-/g, '_')] = v;
  }
  return out;
}

/**
 * The server, as the mysql client finds it: the URL's parts, else MYSQL_PWD / MYSQL_HOST /
 * MYSQL_TCP_PORT, else the [client] section of ~/.my.cnf (MYSQL_HOME/my.cnf too), else
 * localhost:3306 as the OS user.
 */
export function resolveMyTarget(
  db: string,
  sslmode: string | undefined,
  env: Record<string, string | undefined>,
): MyTarget {
  let u: URL;
  try {
    u = new URL(db.replace(/^(mysql|mariadb):/i, 'http:'));
  } catch {
    throw new ConfigError('--db: not a valid mysql:// URL');
  }
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ConfigError('--db: bad %-escape in the URL');
    }
  };
  const home = env.HOME ?? homedir();
  const cnf = {
    ...(env.MYSQL_HOME ? readOptionFile(join(env.MYSQL_HOME, 'my.cnf')) : {}),
    ...readOptionFile(join(home, '.my.cnf')),
  };
  const password = u.password ? dec(u.password) : (env.MYSQL_PWD ?? cnf.password);
  addSecret(password);
  const portText = u.port || env.MYSQL_TCP_PORT || cnf.port || '3306';
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new ConfigError(`port "${portText}" is not a TCP port number`);
  const mode = (sslmode ?? u.searchParams.get('sslmode') ?? u.searchParams.get('ssl-mode') ?? cnf.ssl_mode ?? 'disable')
    .toLowerCase()
    .replace(/_/g, '-');
  const ssl =
    mode === 'require' || mode === 'required'
      ? { rejectUnauthorized: false }
      : /^verify/.test(mode)
        ? { rejectUnauthorized: true, ca: defaultCa() }
        : undefined;
  let user = u.username ? dec(u.username) : cnf.user;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'root';
    }
  }
  const database = dec(u.pathname.replace(/^\//, '')) || cnf.database || undefined;
  return {
    host: u.hostname ? dec(u.hostname).replace(/^\[(.*)\]$/, '$1') : env.MYSQL_HOST || cnf.host || 'localhost',
    port,
    user,
    password: password || undefined,
    database,
    ssl,
  };
}

const PERM = new Set([1044, 1142, 1143, 1227, 1370]);
const BAD_QUERY = new Set([1064, 1146, 1054, 1109, 1052, 1111, 1241, 1242, 1305, 1630, 1584, 1248, 1327, 1066]);

/** A mysql2 error → the BxError a user sees: down 69, auth 78, no privilege 77, bad query 65. */
export function myError(err: unknown, label: string, what?: string): BxError {
  if (err instanceof Error && 'exitCode' in err) return err as BxError;
  const e = err as NodeJS.ErrnoException & { errno?: number; sqlMessage?: string; sqlState?: string; fatal?: boolean };
  const msg = redact(e?.sqlMessage ?? e?.message ?? String(err));
  const where = what ? `${label}: ${what}: ` : `${label}: `;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return new UnavailableError(`${label}: connection refused; is the server running?`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UnavailableError(`${label}: no such host`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new UnavailableError(`${label}: server unreachable (${e.code})`);
    case 'ECONNRESET':
    case 'EPIPE':
    case 'PROTOCOL_CONNECTION_LOST':
      return new TempFailError(`${label}: connection to the server was lost; worth a retry`);
  }
  const n = e?.errno;
  if (n === 1045 || n === 1698)
    return new ConfigError(`${label}: authentication failed: ${msg} (MYSQL_PWD, ~/.my.cnf [client] password)`);
  if (n === 1049) return new ConfigError(`${label}: ${msg}`);
  if (n !== undefined && PERM.has(n)) return new NoPermError(`${where}${msg}`);
  if (n === 1060)
    return new UsageError(
      `${where}${msg}: a record cannot hold two fields of one name; give each a distinct name with AS`,
    );
  if (n === 1205 || n === 1213 || n === 1040 || n === 1053) return new TempFailError(`${where}${msg}; worth a retry`);
  if ((n !== undefined && BAD_QUERY.has(n)) || e?.sqlState?.startsWith('42') || e?.sqlState?.startsWith('22'))
    return new DataError(undefined, undefined, `${where}${msg}`);
  if (/self[- ]signed|certificate|SSL|TLS/i.test(msg)) return new ConfigError(`${label}: TLS: ${msg}`);
  return new InternalError(`${where}${msg}${n ? ` (error ${n})` : ''}`);
}

/** A MySQL identifier: backquoted, a backquote doubled; no name can inject SQL. */
export function quoteMyIdent(name: string): string {
  if (name.length === 0) throw new UsageError('an empty name is not a valid identifier');
  if (name.includes('\0')) throw new UsageError(`identifier ${JSON.stringify(name)} holds a NUL byte`);
  return '`' + name.replace(/`/g, '``') + '`';
}

/** A string literal for MySQL, backslashes included (NO_BACKSLASH_ESCAPES off or on). */
const quoteMyLiteral = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0')}'`;

// mysql2's column types (mysql2/lib/constants/types.js).
const T = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  BIT: 16,
  JSON: 245,
  NEWDECIMAL: 246,
  GEOMETRY: 255,
};
const NUMERIC = new Set([
  T.DECIMAL,
  T.TINY,
  T.SHORT,
  T.LONG,
  T.FLOAT,
  T.DOUBLE,
  T.LONGLONG,
  T.INT24,
  T.YEAR,
  T.NEWDECIMAL,
  T.BIT,
]);

/** A value as mysql2 hands it over (number, string or Buffer) → its JSON text; `row` names it in errors. */
type Conv = (v: unknown, row: number) => string;

function converter(
  f: FieldPacket & { columnType?: number; extendedFormat?: string },
  name: string,
  zero: 'error' | 'null' | undefined,
): Conv {
  const t = f.columnType ?? (f as { type?: number }).type;
  const str: Conv = (v) =>
    typeof v === 'string' ? JSON.stringify(v) : Buffer.isBuffer(v) ? bytesJson(v) : JSON.stringify(String(v));
  if (f.extendedFormat === 'json' || t === T.JSON)
    return (v) => compactJson(Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  switch (t) {
    case T.TINY:
    case T.SHORT:
    case T.LONG:
    case T.INT24:
    case T.YEAR:
      return (v) => String(v);
    case T.LONGLONG:
      return (v) => intJson(String(v));
    case T.DECIMAL:
    case T.NEWDECIMAL:
      return (v) => decimalJson(String(v));
    case T.FLOAT:
    case T.DOUBLE:
      return (v) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : `"${v}"`) : floatJson(String(v)));
    case T.BIT:
      return (v) => (Buffer.isBuffer(v) ? intJson(BigInt('0x' + (v.toString('hex') || '0')).toString()) : String(v));
    case T.DATE:
    case T.NEWDATE:
      return (v, row) => {
        const s = String(v);
        return isZeroDate(s) ? zeroDate(name, row, f.name, s, zero) : '"' + s + '"';
      };
    case T.DATETIME:
    case T.TIMESTAMP: {
      const zoned = t === T.TIMESTAMP;
      return (v, row) => {
        const s = String(v);
        return isZeroDate(s) ? zeroDate(name, row, f.name, s, zero) : '"' + timestampText(s, zoned) + '"';
      };
    }
    default:
      return str;
  }
}

/** 0000-00-00, or a date with a zero month or day (allowed by some sql_modes). */
// Character codes, not a regex: this runs for every date of every row.
const isZeroDate = (s: string) =>
  (s.charCodeAt(5) === 48 && s.charCodeAt(6) === 48) ||
  (s.charCodeAt(8) === 48 && s.charCodeAt(9) === 48) ||
  (s.charCodeAt(0) === 48 && s.startsWith('0000-00-00'));

function query(conn: Connection, sql: string): Promise<{ rows: unknown[][]; fields: FieldPacket[] }> {
  return new Promise((resolve, reject) =>
    conn.query({ sql, rowsAsArray: true }, (err, rows, fields) =>
      err ? reject(err) : resolve({ rows: rows as unknown[][], fields: fields as FieldPacket[] }),
    ),
  );
}

export class MysqlSource implements Source {
  readonly name: string;
  private done: Checkpoint[] = [];

  constructor(
    private readonly req: SourceRequest,
    private readonly io: Io,
    private readonly target: MyTarget,
  ) {
    this.name = req.sql?.table ?? 'query';
  }

  private async connect(): Promise<Connection> {
    const { default: mysql } = await import('mysql2');
    const t = this.target;
    const conn = mysql.createConnection({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      ssl: t.ssl,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      connectTimeout: 10000,
    });
    // A late error (the server went away) must not crash the process: the query in flight reports it.
    conn.on('error', () => {});
    await new Promise<void>((resolve, reject) =>
      conn.connect((err) => (err ? reject(myError(err, myLabel(t))) : resolve())),
    );
    return conn;
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const sql = this.req.sql!;
    const label = myLabel(this.target);
    const what = sql.table !== undefined ? `--table ${sql.table}` : 'the query';
    const table = sql.table !== undefined ? parseTableName(sql.table) : undefined;
    const base = table
      ? `SELECT * FROM ${table.schema !== undefined ? `${quoteMyIdent(table.schema)}.` : ''}${quoteMyIdent(table.name)}`
      : bareQuery(sql.query ?? '');
    const inc: Incremental | undefined = sql.incremental ? { column: sql.incremental, key: sql.key ?? [] } : undefined;
    const stateKey = inc
      ? checkpointKey(
          'mysql',
          this.target.host,
          this.target.port,
          this.target.database ?? '',
          sourceId(sql),
          inc.column,
        )
      : '';
    const from = inc
      ? watermarkOf(await readStartPosition(this.req.state, stateKey, this.io.env), inc, stateKey)
      : undefined;
    if (inc) unsealedWarning(this.io, ctx);

    const conn = await this.connect();
    let finished = false;
    let rowReader: MyRowReader | undefined;
    try {
      const run = async (s: string, w = what) => {
        try {
          return await query(conn, s);
        } catch (err) {
          throw myError(err, label, w);
        }
      };
      await run("SET time_zone = '+00:00'", 'session set-up');
      await run('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ', 'session set-up');
      // One snapshot for the end of the batch and the rows (InnoDB).
      await run('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY', 'session set-up');
      let fields: FieldPacket[];
      try {
        ({ fields } = await query(conn, `SELECT * FROM (\n${base}\n) bx LIMIT 0`));
      } catch (err) {
        // The server's "near '…' at line N" counts the wrapper's first line; say it of the query.
        const e = err as { sqlMessage?: string };
        if (typeof e?.sqlMessage === 'string')
          e.sqlMessage = e.sqlMessage
            .replace(/near '\n?\) bx LIMIT 0' at line \d+$/, 'at the end of the query')
            .replace(/\n\) bx LIMIT 0'/, "'")
            .replace(/at line (\d+)$/, (_m, n) => `at line ${Math.max(1, Number(n) - 1)} of the query`);
        throw myError(err, label, what);
      }
      const names = fields.map((f) => f.name);
      refuseDuplicateColumns(names, what);
      const zero = sql.zeroDates;
      const convs = fields.map((f) => converter(f, this.name, zero));

      let dataSql = base;
      let to: Watermark | undefined;
      if (inc) {
        for (const c of [inc.column, ...inc.key]) {
          if (!names.includes(c))
            throw new UsageError(
              `--${c === inc.column ? 'incremental' : 'key'} ${c}: the query has no such column (it has ${names.join(', ')})`,
            );
        }
        const cols = [inc.column, ...inc.key];
        const numeric = cols.map((c) =>
          NUMERIC.has((fields[names.indexOf(c)] as { columnType?: number }).columnType ?? -1),
        );
        // A number goes in unquoted: MySQL compares a string with a BIGINT as doubles.
        const lit = (v: string, i: number) => (numeric[i] && /^-?\d+(\.\d+)?$/.test(v) ? v : quoteMyLiteral(v));
        const col = `bx.${quoteMyIdent(inc.column)}`;
        const keys = inc.key.map((k) => `bx.${quoteMyIdent(k)}`);
        const after = from ? ` AND ${rowCompare(col, keys, lit, '>', from)}` : '';
        // CAST … AS CHAR: the exact text of the value, in the +00:00 session for TIMESTAMP.
        const maxSql = `SELECT ${[col, ...keys].map((c) => `CAST(${c} AS CHAR)`).join(', ')} FROM (\n${base}\n) bx WHERE ${[col, ...keys].map((c) => `${c} IS NOT NULL`).join(' AND ')}${after} ORDER BY ${[col, ...keys].map((c) => `${c} DESC`).join(', ')} LIMIT 1`;
        const r = await run(maxSql, `--incremental ${inc.column}`);
        if (r.rows.length === 0) {
          if (from) this.done = [{ key: stateKey, position: from, from, records: 0 }];
          ctx.log.info(`${this.name}: no rows past the watermark${from ? ` ${from.value}` : ''}`);
          await run('COMMIT');
          finished = true;
          return;
        }
        const row = (r.rows[0] as unknown[]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
        to = inc.key.length ? { value: row[0], key: row.slice(1) } : { value: row[0] };
        dataSql = `SELECT * FROM (\n${base}\n) bx WHERE ${incrementalWhere(col, keys, lit, from, to)}`;
      }

      const out = new LineBatcher(this.name, ctx);
      const kinds = fields.map((f) => myKind(f as MyField));
      if (kinds.every((k) => k !== undefined)) {
        // Row packets straight to NDJSON bytes (mysql-rows.ts); mysql2 reads the rest.
        const rows = new MyRowTranscoder(names, kinds as MK[], convs, out.lineage);
        const reader = new MyRowReader(dataSql, names.length, (b, a, z) => rows.row(b, a, z));
        if (reader.start(conn as unknown as Parameters<MyRowReader['start']>[0])) {
          rowReader = reader;
          const enough = () => rows.count >= BATCH_ROWS;
          try {
            while (await reader.pump(enough)) yield out.bytes(rows.take());
          } catch (err) {
            throw myError(err, label, what);
          }
          if (rows.count > 0) yield out.bytes(rows.take());
          await run('COMMIT');
          finished = true;
          if (inc && to) this.done = [{ key: stateKey, position: to, from: from ?? null, records: out.total }];
          return;
        }
      }
      const keyText = names.map((n, i) => (i === 0 ? '{' : ',') + JSON.stringify(n) + ':');
      const ncol = names.length;
      let failure: unknown;
      let ended = false;
      let wake: (() => void) | undefined;
      let bad: unknown;
      const q = conn.query({ sql: dataSql, rowsAsArray: true });
      q.on('result', (r: unknown) => {
        if (bad) return;
        const row = r as unknown[];
        try {
          let body = ncol === 0 ? '{' : '';
          for (let c = 0; c < ncol; c++) {
            const v = row[c];
            body += keyText[c] + (v === null || v === undefined ? 'null' : convs[c](v, out.total + 1));
          }
          out.push(body);
        } catch (err) {
          // A zero date: stop reading; the error ends the run.
          bad = err;
          conn.pause();
          wake?.();
          return;
        }
        if (out.size >= BATCH_ROWS) {
          conn.pause();
          wake?.();
        }
      });
      q.on('error', (err) => {
        failure = err;
        wake?.();
      });
      q.on('end', () => {
        ended = true;
        wake?.();
      });
      for (;;) {
        if (bad) throw bad;
        if (failure) throw myError(failure, label, what);
        if (out.size >= BATCH_ROWS || (ended && out.size > 0)) {
          yield out.take();
          if (!ended) conn.resume();
          continue;
        }
        if (ended) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      await run('COMMIT');
      finished = true;
      if (inc && to) this.done = [{ key: stateKey, position: to, from: from ?? null, records: out.total }];
    } finally {
      // After an early stop (| head) or an error the rest of the result is not worth reading.
      if (finished) await new Promise<void>((r) => conn.end(() => r()));
      else {
        rowReader?.abandon();
        conn.destroy();
      }
    }
  }

  checkpoints(): Checkpoint[] {
    return this.done;
  }
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const target = resolveMyTarget(req.sql?.db ?? '', req.sql?.sslmode, io.env);
  return new MysqlSource(req, io, target);
};
