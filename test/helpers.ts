// Shared by the tests: run real binaries in real shell pipes, find fixtures, make temp dirs.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const bin = join(root, 'bin');
/**
 * Real data nobody here wrote (../shared/data), e.g. superstore.csv. A clone elsewhere (CI's fresh
 * clone in /tmp) finds it beside the checkout it was cloned from, or at BX_SHARED_DATA.
 */
export const sharedDir = findSharedData();
export const shared = (name: string) => join(sharedDir, name);

function findSharedData(): string {
  const beside = resolve(root, '..', 'shared', 'data');
  const candidates = [process.env.BX_SHARED_DATA, beside];
  try {
    const origin = execFileSync('git', ['-C', root, 'config', '--get', 'remote.origin.url'], {
      encoding: 'utf8',
    }).trim();
    if (origin && !/^[a-z][a-z0-9+.-]*:\/\//i.test(origin) && !/^[^/]+@[^:]+:/.test(origin))
      candidates.push(resolve(root, origin, '..', 'shared', 'data'));
  } catch {
    // not a git checkout, or no origin: the places above only
  }
  return candidates.find((d) => d !== undefined && existsSync(d)) ?? beside;
}
export const fx = (name: string) => join(root, 'test', 'fixtures', name);

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ShOptions {
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Runs `cmd` under bash with pipefail and bin/ first on PATH, like a user's shell would. */
export function sh(cmd: string, opts: ShOptions = {}): Promise<ShResult> {
  return new Promise((resolveP, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    // A test decides itself whether the stream is sealed.
    if (!opts.env || !('BX_SEAL' in opts.env)) delete env.BX_SEAL;
    // tap's NODE_OPTIONS (--import of its process-info hook, re-added on every spawn) breaks the
    // extensionless ESM bins with ERR_REQUIRE_CYCLE_MODULE: the shell drops it.
    const child = spawn('bash', ['-o', 'pipefail', '-c', `unset NODE_OPTIONS; ${cmd}`], {
      cwd: opts.cwd ?? root,
      env: env as NodeJS.ProcessEnv,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolveP({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => {});
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** A fresh temp directory, removed when the test ends. */
export function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bx-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Parses NDJSON output into records (the trailer of a sealed stream included, if any). */
export const ndjson = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));

/** The database the tests use: DATABASE_URL, set by scripts/run-tests.mjs when none is configured. */
export const databaseUrl = () => process.env.DATABASE_URL;

/**
 * Runs a command in this process through cli(), as a shell would run its binary: the same argv
 * parsing and exit path, without a node start-up per case (test/commands/). `input` as chunks
 * feeds stdin one chunk at a time (the tests that cut input at every place).
 */
export async function runIn(
  prog: string,
  spec: import('../src/run/cli.js').CommandSpec<any>,
  argv: string[],
  input: string | Buffer | Buffer[] = '',
  env: Record<string, string | undefined> = {},
  cwd = root,
): Promise<ShResult> {
  const { PassThrough, Readable, Writable } = await import('node:stream');
  const { cli } = await import('../src/run/cli.js');
  const stdin = Array.isArray(input) ? Readable.from(input) : new PassThrough().end(input);
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        f(chunk.toString());
        cb();
      },
    });
  const code = await cli(prog, spec, argv, {
    stdin,
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env,
    cwd: () => cwd,
  });
  return { code, stdout, stderr };
}

/**
 * A test file's own schema on DATABASE_URL (`<prefix>_<pid>`, so two runs on one server never drop
 * each other's tables), made before the tests and dropped after; `cleanup` runs first at the end.
 * Fails the file when DATABASE_URL is not set.
 */
export async function pgSchema(
  t: {
    before: (fn: () => Promise<void>) => void;
    teardown: (fn: () => Promise<void>) => void;
    fail: (m: string) => void;
  },
  prefix: string,
  cleanup?: (db: import('pg').Client) => Promise<unknown>,
) {
  const url = databaseUrl();
  if (!url) {
    t.fail('DATABASE_URL is not set (run the tests with npm test / make test)');
    process.exit(1);
  }
  const { default: pg } = await import('pg');
  const S = `${prefix}_${process.pid}`;
  const db = new pg.Client({ connectionString: url });
  t.before(async () => {
    await db.connect();
    await db.query(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S}`);
  });
  t.teardown(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
    await cleanup?.(db);
    await db.end();
  });
  return { url, S, env: { DATABASE_URL: url }, db };
}

/** `buf` cut at `cuts` (ascending offsets), as the chunks a stream would hand on; empty ones dropped. */
export const pieces = (buf: Buffer, cuts: number[]): Buffer[] => {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    out.push(buf.subarray(at, c));
    at = c;
  }
  out.push(buf.subarray(at));
  return out.filter((p) => p.length > 0);
};

/**
 * After a lake rewrite killed at step `k` (the lake and S3 kill tests): the partition `untouched`
 * keeps its old rows and every other of `days` holds wholly its old or wholly its new rows.
 * `seen`, `oldBy` and `newBy` map a day to its row ids.
 */
export function checkKilledLake(
  t: { equal: (a: unknown, b: unknown, m: string) => void; ok: (v: boolean, m: string) => void },
  k: number,
  days: string[],
  untouched: string,
  seen: Record<string, unknown[]>,
  oldBy: Record<string, unknown[]>,
  newBy: Record<string, unknown[]>,
): void {
  for (const day of days) {
    const ids = JSON.stringify(seen[day] ?? []);
    const o = JSON.stringify(oldBy[day] ?? []);
    const n = JSON.stringify(newBy[day] ?? []);
    if (day === untouched) t.equal(ids, o, `kill ${k}: an untouched partition keeps its rows`);
    else t.ok(ids === o || ids === n, `kill ${k}: partition ${day} is wholly old or wholly new`);
  }
}
