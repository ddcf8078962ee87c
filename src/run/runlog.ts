// The run log (docs/monitoring.md): one record per command run, appended to an NDJSON file or to
// a bx_runs table, and read back by bx-runs. Loaded only when BX_RUN_LOG is set or bx-runs runs;
// pg only when the log is a database.
import { closeSync, constants, createReadStream, openSync, writeSync } from 'node:fs';
import type { Client } from 'pg';
import { ConfigError, InputMissingError, classify } from '../lib/errors.js';
import { parseTableName, qualified, type TableName } from '../lib/ident.js';
import type { RunRecord } from './summary.js';

export const RUNS_TABLE = 'bx_runs';

/** BX_RUN_LOG as given: a postgres:// URL (a bx_runs table) or a file path. */
export const isDatabaseLog = (target: string) => /^postgres(ql)?:\/\//i.test(target);

/** Appends one record; throws on failure (the caller turns that into one warning). */
export async function appendRun(
  target: string,
  rec: RunRecord,
  env: Record<string, string | undefined>,
): Promise<void> {
  if (isDatabaseLog(target)) return appendToTable(target, rec, env);
  appendToFile(target, rec);
}

/**
 * One write(2) of one whole line on a descriptor opened with O_APPEND: the kernel puts each such
 * write at the end of the file as one piece, so many stages and many cron jobs can share one log
 * without a lock and never tear or interleave a line (test/e2e/monitor.test.ts: 8 writers ×
 * 1,000 records).
 */
export function appendToFile(path: string, rec: RunRecord): void {
  const line = Buffer.from(JSON.stringify(rec) + '\n', 'utf8');
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o640);
  try {
    const n = writeSync(fd, line);
    if (n !== line.length) throw new Error(`short write (${n} of ${line.length} bytes)`);
  } finally {
    closeSync(fd);
  }
}

/** The database log: the URL without bx's own `table=` parameter, and the table it names (public.bx_runs by default). */
export function databaseTarget(target: string): { url: string; table: TableName } {
  const q = target.indexOf('?');
  let table: TableName = { schema: 'public', name: RUNS_TABLE } as TableName;
  if (q < 0) return { url: target, table };
  const params = new URLSearchParams(target.slice(q + 1));
  const t = params.get('table');
  if (t !== null) {
    try {
      table = parseTableName(t);
    } catch (err) {
      throw new ConfigError(`BX_RUN_LOG: table=${t}: ${(err as Error).message}`);
    }
    params.delete('table');
  }
  const rest = params.toString();
  return { url: target.slice(0, q) + (rest ? `?${rest}` : ''), table };
}

async function connectLog(
  target: string,
  env: Record<string, string | undefined>,
): Promise<{ client: Client; table: TableName }> {
  const { url, table } = databaseTarget(target);
  const { resolveTarget, connect } = await import('../pg/connect.js');
  const t = resolveTarget({ db: url, appName: 'bx-runlog' }, env);
  // A run log must not hold a job up: five seconds to connect unless the URL says otherwise.
  t.connectTimeout ??= 5;
  return { client: await connect(t), table };
}

const COLUMNS = `run_id text PRIMARY KEY,
  pipeline_id text NOT NULL,
  command text NOT NULL,
  args jsonb NOT NULL,
  host text,
  "user" text,
  pid integer,
  started timestamptz NOT NULL,
  ended timestamptz NOT NULL,
  seconds double precision,
  status text NOT NULL,
  exit_code integer NOT NULL,
  rows_in bigint,
  rows_out bigint,
  rejected bigint,
  bytes_in bigint,
  bytes_out bigint,
  "table" text,
  checkpoint jsonb,
  error text,
  note text`;

const FIELDS = [
  'run_id',
  'pipeline_id',
  'command',
  'args',
  'host',
  'user',
  'pid',
  'started',
  'ended',
  'seconds',
  'status',
  'exit_code',
  'rows_in',
  'rows_out',
  'rejected',
  'bytes_in',
  'bytes_out',
  'table',
  'checkpoint',
  'error',
  'note',
] as const;

/**
 * Creates the table on first use. Three stages of one pipe arrive at once: CREATE TABLE IF NOT
 * EXISTS alone races (a unique violation on pg_type), so creation takes an advisory lock.
 */
async function ensureTable(client: Client, table: TableName): Promise<void> {
  const name = qualified(table);
  const exists = await client.query('SELECT to_regclass($1) AS t', [name]);
  if (exists.rows[0].t !== null) return;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bx-runlog ${name}`]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${name} (\n  ${COLUMNS}\n)`);
    await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIndex(table, 'started')} ON ${name} (started DESC)`);
    await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIndex(table, 'pipeline')} ON ${name} (pipeline_id, started)`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

const quoteIndex = (t: TableName, what: string) => `"${`${t.name}_${what}_idx`.replace(/"/g, '""').slice(0, 63)}"`;

async function appendToTable(target: string, rec: RunRecord, env: Record<string, string | undefined>): Promise<void> {
  const { client, table } = await connectLog(target, env);
  try {
    await client.query("SET statement_timeout = '5s'");
    await ensureTable(client, table);
    const cols = FIELDS.map((f) => `"${f}"`).join(', ');
    const values = FIELDS.map((f) => {
      const v = (rec as unknown as Record<string, unknown>)[f];
      if (v === undefined) return null;
      return f === 'args' || f === 'checkpoint' ? JSON.stringify(v) : v;
    });
    await client.query(
      `INSERT INTO ${qualified(table)} (${cols}) VALUES (${FIELDS.map((_, i) => `$${i + 1}`).join(', ')})`,
      values,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** What bx-runs asks for. */
export interface RunFilter {
  since?: Date;
  failed?: boolean;
  pipeline?: string;
  command?: string;
}

/** Every record matching `f`, newest first. A line that is not a run record is skipped and counted. */
export async function readRuns(
  target: string,
  f: RunFilter,
  env: Record<string, string | undefined>,
): Promise<{ runs: RunRecord[]; skipped: number }> {
  const runs = isDatabaseLog(target) ? await readTable(target, f, env) : await readFile(target, f);
  runs.runs.sort((a, b) => (a.started < b.started ? 1 : a.started > b.started ? -1 : a.ended < b.ended ? 1 : -1));
  return runs;
}

/** bx-runs --command load and --command bx-load mean the same. */
const commandName = (c: string) => (c.startsWith('bx-') ? c : `bx-${c}`);

export function matches(r: RunRecord, f: RunFilter): boolean {
  if (f.since && !(Date.parse(r.started) >= f.since.getTime() || Date.parse(r.ended) >= f.since.getTime()))
    return false;
  if (f.failed && r.status === 'ok') return false;
  if (f.pipeline !== undefined && r.pipeline_id !== f.pipeline) return false;
  if (f.command !== undefined && r.command !== commandName(f.command)) return false;
  return true;
}

async function readFile(path: string, f: RunFilter): Promise<{ runs: RunRecord[]; skipped: number }> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    const known = classify(err);
    throw known instanceof InputMissingError
      ? new InputMissingError(`run log ${path}: ${known.message.replace(`${path}: `, '')}`)
      : (known ?? err);
  }
  const runs: RunRecord[] = [];
  let skipped = 0;
  // readline only here, for bx-runs: a command appending its record does not load it.
  const { createInterface } = await import('node:readline');
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (line === '') continue;
    let r: RunRecord;
    try {
      r = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    if (!r || typeof r !== 'object' || typeof r.run_id !== 'string' || typeof r.started !== 'string') {
      skipped++;
      continue;
    }
    if (matches(r, f)) runs.push(r);
  }
  return { runs, skipped };
}

async function readTable(
  target: string,
  f: RunFilter,
  env: Record<string, string | undefined>,
): Promise<{ runs: RunRecord[]; skipped: number }> {
  const { client, table } = await connectLog(target, env);
  try {
    const exists = await client.query('SELECT to_regclass($1) AS t', [qualified(table)]);
    if (exists.rows[0].t === null) return { runs: [], skipped: 0 };
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace(/\?/g, `$${params.length}`));
    };
    if (f.since) add('(started >= ? OR ended >= ?)', f.since.toISOString());
    if (f.failed) where.push("status <> 'ok'");
    if (f.pipeline !== undefined) add('pipeline_id = ?', f.pipeline);
    if (f.command !== undefined) add('command = ?', commandName(f.command));
    const sql = `SELECT ${FIELDS.map((c) => `"${c}"`).join(', ')} FROM ${qualified(table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started DESC`;
    const r = await client.query(sql, params);
    const runs = r.rows.map((row) => {
      const rec: Record<string, unknown> = {};
      for (const k of FIELDS) {
        let v = row[k];
        if (v === null || v === undefined) continue;
        if (v instanceof Date) v = v.toISOString();
        else if (['rows_in', 'rows_out', 'rejected', 'bytes_in', 'bytes_out'].includes(k)) v = Number(v);
        rec[k] = v;
      }
      return rec as unknown as RunRecord;
    });
    return { runs, skipped: 0 };
  } finally {
    await client.end().catch(() => {});
  }
}
