// bx_state: where sources' positions live in the target database. bx-load stores them in the
// load's own transaction, so the rows and the position commit together or not at all.
import type { Client } from 'pg';
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
      [
        c.key,
        JSON.stringify(c.position),
        c.from === undefined ? null : JSON.stringify(c.from),
        c.records ?? null,
        runId ?? null,
      ],
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
