// The string dictionary shared by the files of a lake write (parquet-encode.ts SharedDictionary):
// the files are byte for byte those written with each file's own dictionary table, for values
// pushed by both paths, row groups of every size, and dictionaries that close midway (past
// MAX_SHARED values, past MAX_SHARED_BYTES) and hand their values back to the files' own tables.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { root, sh, tmp } from '../helpers.js';

const helper = join(root, 'test', 'formats', 'parquet-shared-dict.helper.mjs');

t.test('shared dictionaries: the same files as one table per file, through their closing', async (t) => {
  const dir = tmp(t);
  const shared = await sh(`node ${helper} shared ${dir}/shared`);
  t.equal(shared.code, 0, shared.stderr);
  // few, some, sparse and text stay open; unique and long close.
  t.same(JSON.parse(shared.stdout), { closed: [false, false, true, true, false, false] });
  const own = await sh(`node ${helper} own ${dir}/own`);
  t.equal(own.code, 0, own.stderr);
  for (let p = 0; p < 4; p++) {
    const a = readFileSync(join(dir, 'shared', `part-${p}.parquet`));
    const b = readFileSync(join(dir, 'own', `part-${p}.parquet`));
    t.ok(a.equals(b), `part-${p}.parquet: the same ${b.length} bytes`);
  }
});
