// Where a bx command finds its PostgreSQL server, and how it connects (DESIGN.md "PostgreSQL").
// Reusable by every command that talks to a database: bx-load, the query sources of bx-extract,
// a run log in a database. pg is imported lazily: only code paths that connect pay for it.
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Client, ClientConfig } from 'pg';
import { ConfigError } from '../lib/errors.js';
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
}

/** `user@host:port/db`: safe in any message, never a password. */
export const targetLabel = (t: Target) => `${t.user}@${t.host.startsWith('/') ? `[${t.host}]` : t.host}:${t.port}/${t.database}`;

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
  const portText = pick('port', 'PGPORT') || '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError(`port "${portText}" is not a TCP port number`);
  const timeoutText = pick('connect_timeout', 'PGCONNECT_TIMEOUT');
  const t: Target = {
    host: pick('host', 'PGHOST') || 'localhost',
    port,
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

const URL_KEYS: Record<string, string> = { user: 'user', password: 'password', host: 'host', port: 'port', dbname: 'dbname' };

/** A `postgres://` / `postgresql://` URL or a libpq `key=value …` string, to libpq keys. */
export function parseConninfo(text: string, what: string): Params {
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUrl(text, what);
  if (/^[a-z_]+\s*=/.test(text.trim())) return parseKeyValues(text, what);
  throw new ConfigError(`${what}: expected a postgres:// URL or key=value pairs`);
}

function parseUrl(text: string, what: string): Params {
  let u: URL;
  try {
    // WHATWG URL does not know postgres://; parse it as http to get the parts.
    u = new URL(text.replace(/^postgres(ql)?:/i, 'http:'));
  } catch {
    throw new ConfigError(`${what}: not a valid URL`);
  }
  const p: Params = {};
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ConfigError(`${what}: bad %-escape in the URL`);
    }
  };
  if (u.username) p.user = dec(u.username);
  if (u.password) p.password = dec(u.password);
  addSecret(p.password);
  if (u.hostname) p.host = dec(u.hostname).replace(/^\[(.*)\]$/, '$1');
  if (u.port) p.port = u.port;
  const db = dec(u.pathname.replace(/^\//, ''));
  if (db) p.dbname = db;
  for (const [k, v] of u.searchParams) p[k === 'database' ? 'dbname' : k] = v;
  return p;
}

function parseKeyValues(text: string, what: string): Params {
  const p: Params = {};
  const re = /\s*([a-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text)) !== null && m[0].length > 0) {
    let v = m[2];
    if (v.startsWith("'")) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    p[m[1]] = v;
    end = re.lastIndex;
  }
  if (text.slice(end).trim() !== '') throw new ConfigError(`${what}: cannot parse the connection string after "${text.slice(0, end).replace(/password\s*=\s*\S+/gi, 'password=***')}"`);
  if (URL_KEYS.password in p) addSecret(p.password);
  return p;
}

/** A [section] of pg_service.conf (PGSERVICEFILE, else ~/.pg_service.conf, else PGSYSCONFDIR). */
function readService(name: string, env: Record<string, string | undefined>): Params {
  const files = [env.PGSERVICEFILE ?? join(homedir(), '.pg_service.conf'), join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf')];
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
    throw new ConfigError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
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
    const defaultCa = join(homedir(), '.postgresql', 'root.crt');
    const caFile = t.sslrootcert ?? defaultCa;
    ssl.rejectUnauthorized = true;
    // sslrootcert=system: the operating system's trusted CAs, as libpq 16+.
    if (caFile !== 'system') {
      try {
        ssl.ca = readFileSync(caFile, 'utf8');
      } catch {
        throw new ConfigError(`sslmode ${t.sslmode} needs a CA file: ${caFile} is not readable (set sslrootcert in the URL or PGSSLROOTCERT)`);
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
export async function connect(t: Target): Promise<Client> {
  const { default: pg } = await import('pg');
  const config = clientConfig(t);
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
    if (noTls) throw new ConfigError(`${targetLabel(t)}: sslmode ${t.sslmode} needs TLS, but the server does not support it`);
    throw pgError(err, { target: targetLabel(t) });
  }
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
export async function connectFrom(opts: ConnectOptions, env: Record<string, string | undefined>): Promise<{ client: Client; target: Target }> {
  const target = resolveTarget(opts, env);
  return { client: await connect(target), target };
}
