// Where sources' positions live between runs (docs/design.md "The sealed stream", checkpoints):
// in the target database's bx_state table, written in the load's own transaction, or in a
// state file written only after a file sink's output is in place. A failed run stores nothing,
// so the next run reads the same records again.
import { promises as fsp } from 'node:fs';
import type { Client } from 'pg';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { DataError } from '../lib/errors.js';
import type { Checkpoint } from '../lib/stream.js';

export const STATE_TABLE = 'bx_state';

const CREATE = `CREATE TABLE IF NOT EXISTS public.${STATE_TABLE} (
  key text PRIMARY KEY,
  position jsonb NOT NULL,
  "from" jsonb,
  records bigint,
  run_id text,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

/** Stores the checkpoints on `client`, inside the caller's open transaction. */
export async function storeCheckpoints(client: Client, checkpoints: Checkpoint[], runId?: string): Promise<void> {
  if (checkpoints.length === 0) return;
  await client.query(CREATE);
  for (const c of checkpoints) {
    await client.query(
      `INSERT INTO public.${STATE_TABLE} (key, position, "from", records, run_id, updated_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (key) DO UPDATE SET position = EXCLUDED.position, "from" = EXCLUDED."from", records = EXCLUDED.records, run_id = EXCLUDED.run_id, updated_at = now()`,
      [c.key, JSON.stringify(c.position), c.from === undefined ? null : JSON.stringify(c.from), c.records ?? null, runId ?? null],
    );
  }
}

/** The committed position for `key` in the database `client` is connected to, or undefined. */
export async function readCheckpoint(client: Client, key: string): Promise<unknown | undefined> {
  const exists = await client.query(`SELECT to_regclass('public.${STATE_TABLE}') AS t`);
  if (exists.rows[0].t === null) return undefined;
  const r = await client.query(`SELECT position FROM public.${STATE_TABLE} WHERE key = $1`, [key]);
  return r.rows.length ? r.rows[0].position : undefined;
}

type StateFile = Record<string, { position: unknown; from?: unknown; records?: number; run_id?: string; updated_at: string }>;

async function readStateFileAll(path: string): Promise<StateFile> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as StateFile;
  } catch (err) {
    throw new DataError({ file: path, line: 1 }, undefined, `not a bx state file: ${(err as Error).message}`);
  }
}

/** The position stored for `key` in a state file (none yet: undefined). */
export async function readStateFile(path: string, key: string): Promise<unknown | undefined> {
  return (await readStateFileAll(path))[key]?.position;
}

/** Merges the checkpoints into the state file and renames it into place in one step. */
export async function writeStateFile(path: string, checkpoints: Checkpoint[], runId?: string): Promise<void> {
  if (checkpoints.length === 0) return;
  const all = await readStateFileAll(path);
  const now = new Date().toISOString();
  for (const c of checkpoints) all[c.key] = { position: c.position, from: c.from, records: c.records, run_id: runId, updated_at: now };
  await writeFileAtomic(path, JSON.stringify(all, null, 2) + '\n', { what: 'the state file' });
}
