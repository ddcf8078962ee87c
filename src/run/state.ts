// Where sources' positions live between runs (docs/design.md "The sealed stream", checkpoints):
// in the target database's bx_state table, written in the load's own transaction, or in a
// state file written only after a file sink's output is in place. A failed run stores nothing,
// so the next run reads the same records again.
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../lib/atomic-file.js';
import { DataError } from '../lib/errors.js';
import type { Checkpoint } from '../lib/stream.js';

type StateFile = Record<
  string,
  { position: unknown; from?: unknown; records?: number; run_id?: string; updated_at: string }
>;

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
  for (const c of checkpoints)
    all[c.key] = { position: c.position, from: c.from, records: c.records, run_id: runId, updated_at: now };
  await writeFileAtomic(path, JSON.stringify(all, null, 2) + '\n', { what: 'the state file' });
}

/**
 * Where a source starts: the position committed for `key` in the database of `--from-state`
 * (bx_state) or in the `--state` file; undefined when nothing was committed yet.
 */
export async function readStartPosition(
  state: { db?: string; file?: string } | undefined,
  key: string,
  env: Record<string, string | undefined>,
): Promise<unknown | undefined> {
  if (!state) return undefined;
  if (state.file !== undefined) return readStateFile(state.file, key);
  const [{ connectFrom }, { readCheckpoint }] = await Promise.all([
    import('../pg/connect.js'),
    import('../pg/state.js'),
  ]);
  const { client } = await connectFrom({ db: state.db, appName: 'bx-extract (state)' }, env);
  try {
    return await readCheckpoint(client, key);
  } finally {
    await client.end().catch(() => {});
  }
}
