// Where a bx command finds its PostgreSQL server, and how it connects (DESIGN.md "PostgreSQL").
// Reusable by every command that talks to a database: bx-load, the query sources of bx-extract,
// a run log in a database. pg is imported lazily: only code paths that connect pay for it.
import { defaultCa } from '../lib/tls.js';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Client, ClientConfig } from 'pg';
import { ConfigError, UnavailableError } from '../lib/errors.js';
import { addSecret } from '../lib/redact.js';
import { pgError } from './errors.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface ConnectOptions {
  /** `--db`: a postgres:// URL or a libpq `key=value` string. */
  db?: string;
  /** `--sslmode`, overriding the URL's and PGSSLMODE. */
  sslmode?: string;
  /** application_name shown in pg_stat_activity. */
  appName?: string;
}

/** A resolved connection: what to pass to pg, and a password-free label for messages. */
export interface Target {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  sslmode: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  appName: string;
  connectTimeout?: number;
  /** Which source named the server: --db, DATABASE_URL, PG* variables or PGSERVICE. */
  source: string;
  /** Further hosts of a host list (`host=a,b`), tried in turn when the one before is unreachable. */
  alternates?: { host: string; port: number }[];
}

/** `user@host:port/db`: safe in any message, never a password. */
export const targetLabel = (t: Target) =>
  `${t.user}@${t.host.startsWith('/') ? `[${t.host}]` : t.host}:${t.port}/${t.database}`;

type Params = Record<string, string>;

/**
 * Resolves the server as libpq would: `--db`, else DATABASE_URL, else PGSERVICE / PG*
 * variables (with defaults: localhost, port 5432, the OS user, a database named after the
 * user). A missing password is left to node-postgres, which reads ~/.pgpass (PGPASSFILE).
 */
export function resolveTarget(opts: ConnectOptions, env: Record<string, string | undefined>): Target {
  let params: Params;
  let source: string;
  if (opts.db) {
    params = parseConninfo(opts.db, '--db');
    source = '--db';
  } else if (env.DATABASE_URL) {
    params = parseConninfo(env.DATABASE_URL, 'DATABASE_URL');
    source = 'DATABASE_URL';
  } else {
    params = {};
    source = 'PG* variables';
  }
  // A service names a section of pg_service.conf; explicit values and the URL win over it.
  const service = params.service ?? env.PGSERVICE;
  if (service) {
    params = { ...readService(service, env), ...params };
    if (source === 'PG* variables') source = `PGSERVICE ${service}`;
  }
  const pick = (key: string, envName: string) => params[key] ?? env[envName];
  const user = pick('user', 'PGUSER') || osUser();
  const sslmodeText = opts.sslmode ?? pick('sslmode', 'PGSSLMODE') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(sslmodeText)) {
    throw new ConfigError(`sslmode "${sslmodeText}" is not one of ${SSL_MODES.join(', ')}`);
  }
  // host and port may be lists (libpq: each host is tried in turn); an empty entry is the default.
  const hosts = (pick('host', 'PGHOST') || 'localhost').split(',').map((h) => h || 'localhost');
  const portTexts = (pick('port', 'PGPORT') || '5432').split(',').map((x) => x || '5432');
  if (portTexts.length !== 1 && portTexts.length !== hosts.length) {
    throw new ConfigError(`could not match ${portTexts.length} port numbers to ${hosts.length} hosts`);
  }
  const ports = portTexts.map((portText) => {
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port <= 0 || port > 65535)
      throw new ConfigError(`port "${portText}" is not a TCP port number`);
    return port;
  });
  const portOf = (i: number) => ports[ports.length === 1 ? 0 : i];
  const timeoutText = pick('connect_timeout', 'PGCONNECT_TIMEOUT');
  const t: Target = {
    host: hosts[0],
    port: portOf(0),
    user,
    database: pick('dbname', 'PGDATABASE') || user,
    password: pick('password', 'PGPASSWORD') || undefined,
    sslmode: sslmodeText as SslMode,
    sslrootcert: pick('sslrootcert', 'PGSSLROOTCERT'),
    sslcert: pick('sslcert', 'PGSSLCERT'),
    sslkey: pick('sslkey', 'PGSSLKEY'),
    appName: params.application_name ?? env.PGAPPNAME ?? opts.appName ?? 'bx',
    connectTimeout: timeoutText ? Number(timeoutText) : undefined,
    source,
  };
  if (hosts.length > 1) t.alternates = hosts.slice(1).map((host, i) => ({ host, port: portOf(i + 1) }));
  addSecret(t.password);
  return t;
}

const osUser = () => {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
};

/**
 * A `postgresql://` / `postgres://` URI or a libpq `key=value …` string, to libpq keys, parsed
 * as libpq's conninfo_uri_parse and conninfo_parse do (PostgreSQL docs, "Connection Strings").
 * WHATWG URL is no help here: it refuses a percent-encoded socket directory as the host
 * (`postgresql://%2Fvar%2Frun%2Fpostgresql/db`) and reads `+` in a query value as a space.
 */
export function parseConninfo(text: string, what: string): Params {
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUri(text, what);
  if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return parseKeyValues(text, what);
  if (text.trim() === '') return {};
  throw new ConfigError(`${what}: expected a postgresql:// URI or key=value pairs`);
}

/** libpq decodes %XX (and nothing else: `+` stays `+`); %00 and a bad escape are errors. */
function percentDecode(s: string, what: string, part: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new ConfigError(`${what}: bad %-escape "%${hex}" in the URI's ${part}`);
      const b = parseInt(hex, 16);
      if (b === 0) throw new ConfigError(`${what}: %00 is not allowed in the URI's ${part}`);
      bytes.push(b);
      i += 2;
    } else bytes.push(...Buffer.from(s[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseUri(text: string, what: string): Params {
  const p: Params = {};
  let rest = text.replace(/^postgres(ql)?:\/\//i, '');
  const q = rest.indexOf('?');
  const query = q >= 0 ? rest.slice(q + 1) : '';
  if (q >= 0) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  if (slash >= 0 && slash + 1 < rest.length) p.dbname = percentDecode(rest.slice(slash + 1), what, 'database name');
  // The last @ ends the user part: a password may hold an unescaped @ (libpq reads it so too).
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (user) p.user = percentDecode(user, what, 'user name');
    if (colon >= 0) {
      p.password = percentDecode(userinfo.slice(colon + 1), what, 'password');
      addSecret(p.password);
    }
  }
  const hostspec = at >= 0 ? authority.slice(at + 1) : authority;
  if (hostspec !== '') {
    const hosts: string[] = [];
    const ports: string[] = [];
    for (const one of hostspec.split(',')) {
      let host: string;
      let port = '';
      if (one.startsWith('[')) {
        const close = one.indexOf(']');
        if (close < 0) throw new ConfigError(`${what}: an IPv6 address in the URI opens "[" but never closes it`);
        host = one.slice(1, close);
        const after = one.slice(close + 1);
        if (after !== '' && !after.startsWith(':'))
          throw new ConfigError(`${what}: unexpected "${after}" after the IPv6 address ${one.slice(0, close + 1)}`);
        port = after.slice(1);
      } else {
        const colon = one.lastIndexOf(':');
        host = colon >= 0 ? one.slice(0, colon) : one;
        port = colon >= 0 ? one.slice(colon + 1) : '';
      }
      hosts.push(percentDecode(host, what, 'host'));
      ports.push(percentDecode(port, what, 'port'));
    }
    if (hosts.some((h) => h !== '')) p.host = hosts.join(',');
    if (ports.some((x) => x !== '')) p.port = ports.join(',');
  }
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new ConfigError(`${what}: URI parameter "${pair}" has no "=value"`);
      let key = percentDecode(pair.slice(0, eq), what, 'parameters');
      const value = percentDecode(pair.slice(eq + 1), what, 'parameters');
      // libpq's aliases in URIs: ssl=true is sslmode=require.
      if (key === 'database') key = 'dbname';
      if (key === 'ssl' && value === 'true') {
        p.sslmode = 'require';
        continue;
      }
      p[key] = value;
      if (key === 'password') addSecret(value);
    }
  }
  return p;
}

/**
 * `key = value` pairs split by whitespace; a value is single-quoted to hold spaces (`'my db'`,
 * empty `''`), and a backslash takes the next character literally, quoted or not.
 */
function parseKeyValues(text: string, what: string): Params {
  const p: Params = {};
  const n = text.length;
  let i = 0;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && !isSpace(text[i])) i++;
    const key = text.slice(keyStart, i);
    while (i < n && isSpace(text[i])) i++;
    if (text[i] !== '=') throw new ConfigError(`${what}: missing "=" after "${key}" in the connection string`);
    i++;
    while (i < n && isSpace(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        if (i >= n) throw new ConfigError(`${what}: unterminated quoted value for "${key}" in the connection string`);
        const c = text[i];
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else {
      while (i < n && !isSpace(text[i])) {
        if (text[i] === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else value += text[i++];
      }
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new ConfigError(`${what}: "${key}" is not a connection option name`);
    p[key] = value;
  }
  if (p.password !== undefined) addSecret(p.password);
  return p;
}

/** A [section] of pg_service.conf (PGSERVICEFILE, else ~/.pg_service.conf, else PGSYSCONFDIR). */
function readService(name: string, env: Record<string, string | undefined>): Params {
  const files = [
    env.PGSERVICEFILE ?? join(homedir(), '.pg_service.conf'),
    join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf'),
  ];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let inside = false;
    const p: Params = {};
    let found = false;
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const sec = /^\[(.*)\]$/.exec(line);
      if (sec) {
        inside = sec[1] === name;
        found ||= inside;
        continue;
      }
      const eq = line.indexOf('=');
      if (inside && eq > 0) p[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    if (found) {
      addSecret(p.password);
      return p;
    }
  }
  throw new ConfigError(`service "${name}" (PGSERVICE) is not defined in ${files.join(' or ')}`);
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

/**
 * The `ssl` option for pg, by libpq's sslmode meaning (node-postgres alone treats `require`
 * as `verify-full` and warns on stderr). `allow` and `prefer` start as plain and TLS: the
 * connect() below falls back when the server has no TLS.
 */
function sslConfig(t: Target): ClientConfig['ssl'] {
  if (t.sslmode === 'disable' || t.sslmode === 'allow') return false;
  const ssl: Record<string, unknown> = { rejectUnauthorized: false };
  if (t.sslcert) ssl.cert = readPem(t.sslcert, 'sslcert');
  if (t.sslkey) ssl.key = readPem(t.sslkey, 'sslkey');
  if (t.sslmode === 'verify-ca' || t.sslmode === 'verify-full') {
    const homeCa = join(homedir(), '.postgresql', 'root.crt');
    const caFile = t.sslrootcert ?? homeCa;
    ssl.rejectUnauthorized = true;
    // sslrootcert=system: the operating system's trusted CAs, as libpq 16+.
    if (caFile === 'system') {
      const ca = defaultCa();
      if (ca) ssl.ca = ca;
    } else {
      try {
        ssl.ca = readFileSync(caFile, 'utf8');
      } catch {
        throw new ConfigError(
          `sslmode ${t.sslmode} needs a CA file: ${caFile} is not readable (set sslrootcert in the URL or PGSSLROOTCERT)`,
        );
      }
    }
    if (t.sslmode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
    else if (!t.host.startsWith('/')) ssl.servername = /^[\d.]+$|:/.test(t.host) ? undefined : t.host;
  }
  return ssl as ClientConfig['ssl'];
}

export function clientConfig(t: Target): ClientConfig {
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    database: t.database,
    password: t.password,
    ssl: sslConfig(t),
    application_name: t.appName,
    connectionTimeoutMillis: t.connectTimeout ? t.connectTimeout * 1000 : undefined,
  };
}

/**
 * Connects, mapping failures to exit codes (unreachable 69, bad credentials/database/TLS
 * setup 78, server starting or full 75). Every message names the server by targetLabel().
 */
export async function connect(t: Target, how: { early?: boolean } = {}): Promise<Client> {
  if (!t.alternates?.length) return connectOne(t, how.early);
  const all: Target[] = [
    { ...t, alternates: undefined },
    ...t.alternates.map((h) => ({ ...t, ...h, alternates: undefined })),
  ];
  for (let i = 0; ; i++) {
    try {
      return await connectOne(all[i], how.early);
    } catch (err) {
      // As libpq: the next host when this one cannot be reached; other failures are final.
      if (i + 1 < all.length && err instanceof UnavailableError) continue;
      throw err;
    }
  }
}

/**
 * pg, without the cost of its Cloudflare check: on a Node with no global `navigator` (20) the
 * check touches the global Response, which loads undici and with it http, http2, tls, zlib,
 * worker_threads and web streams (66 internal modules, 35–40 ms of every start-up that
 * connects; measured with process.moduleLoadList and hrtime around require('pg')). A plain
 * `navigator` answers the check instead, for the load only.
 */
async function loadPg(): Promise<typeof import('pg').default> {
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return (await import('pg')).default;
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: 'Node.js' },
    configurable: true,
    writable: true,
  });
  try {
    return (await import('pg')).default;
  } finally {
    delete g.navigator;
  }
}

async function connectOne(t: Target, early = false): Promise<Client> {
  const config = clientConfig(t);
  const opening = early ? openEarly(t) : undefined;
  // A refusal may come while pg loads (from dist/commands, pg's own files are read
  // asynchronously): it is handled below, not an unhandled rejection meanwhile.
  opening?.catch(() => {});
  const pg = await loadPg();
  if (opening) {
    let opened: Opened | undefined;
    try {
      opened = await opening;
    } catch (err) {
      throw pgError(err, { target: targetLabel(t) });
    }
    if (opened) {
      try {
        return await open(pg, { ...config, ssl: opened.tls ? config.ssl : false, stream: handOver(opened) });
      } catch (err) {
        throw pgError(err, { target: targetLabel(t) });
      }
    }
  }
  try {
    return await open(pg, config);
  } catch (err) {
    const noTls = err instanceof Error && /does not support SSL/.test(err.message);
    // prefer: TLS when the server offers it, else plain, as libpq does.
    if (noTls && t.sslmode === 'prefer') {
      try {
        return await open(pg, { ...config, ssl: false });
      } catch (err2) {
        throw pgError(err2, { target: targetLabel(t) });
      }
    }
    if (noTls)
      throw new ConfigError(`${targetLabel(t)}: sslmode ${t.sslmode} needs TLS, but the server does not support it`);
    throw pgError(err, { target: targetLabel(t) });
  }
}

/** SSLRequest: length 8, then the code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

interface Opened {
  sock: Socket;
  /** The server answered the SSLRequest with S: TLS goes on over this socket. */
  tls: boolean;
}

/**
 * The PostgreSQL source's connection (connect(t, { early: true })): the TCP connection is
 * opened before pg loads, so the server starts its backend meanwhile, and sslmode=prefer's
 * SSLRequest is answered on it. node-postgres alone sends the SSLRequest, and on N (a server
 * without TLS) fails and connect() above opens a second connection, plain: strace of a
 * `select 1` extract showed two connects, each a backend the server forks. Here an N goes
 * on over the same socket, as libpq does. Resolves undefined (the usual path, from a new
 * connection) for an answer other than S or N; rejects with the socket's error, which is
 * what node-postgres would have failed with. Not for Unix sockets, TLS-only modes, or a
 * connect_timeout (node-postgres times the whole connect).
 */
function openEarly(t: Target): Promise<Opened | undefined> | undefined {
  if (t.host.startsWith('/') || t.connectTimeout) return undefined;
  if (t.sslmode !== 'prefer' && t.sslmode !== 'disable' && t.sslmode !== 'allow') return undefined;
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: t.host, port: t.port });
    const failed = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.on('error', failed);
    sock.once('connect', () => {
      if (t.sslmode !== 'prefer') {
        sock.removeListener('error', failed);
        resolve({ sock, tls: false });
        return;
      }
      sock.write(SSL_REQUEST);
      sock.once('data', (b: Buffer) => {
        sock.removeListener('error', failed);
        if (b.length === 1 && (b[0] === 0x4e || b[0] === 0x53)) resolve({ sock, tls: b[0] === 0x53 });
        else {
          sock.destroy();
          resolve(undefined);
        }
      });
    });
  });
}

/**
 * The socket as node-postgres's `stream`: its connect() (the socket is connected) and, after an
 * S, the SSLRequest it writes (answered already) are played back to it, so it goes on to the
 * startup message, or to the TLS handshake on this socket.
 */
function handOver({ sock, tls }: Opened): () => Socket {
  const s = sock as Socket & { connect: unknown; write: unknown };
  s.connect = () => {
    process.nextTick(() => sock.emit('connect'));
    return sock;
  };
  if (tls) {
    const write = sock.write;
    s.write = () => {
      s.write = write;
      process.nextTick(() => sock.emit('data', Buffer.from('S')));
      return true;
    };
  }
  return () => sock;
}

async function open(pg: typeof import('pg').default, config: ClientConfig): Promise<Client> {
  const client = new pg.Client(config);
  // An error after connect (the server went away while idle) must not crash the process:
  // the query in flight rejects with it, and that is where it is reported.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Resolves and connects in one step. */
export async function connectFrom(
  opts: ConnectOptions,
  env: Record<string, string | undefined>,
): Promise<{ client: Client; target: Target }> {
  const target = resolveTarget(opts, env);
  return { client: await connect(target), target };
}
