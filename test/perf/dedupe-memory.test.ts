// bx-clean --dedupe under --memory: the seen-key set stays within its bound by spilling sorted
// runs of digests to disk, and answers exactly as the unbounded set does; when even the runs'
// filters would not fit it refuses (exit 73) before passing the bound, never an OOM kill.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DigestSet } from '../../src/lib/dedupe.js';
import { CantCreateError } from '../../src/lib/errors.js';
import { sh, tmp } from '../helpers.js';

let seed = 11;
const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);

t.test('a bounded set spills and gives the same answer as the unbounded one for every key', async (t) => {
  const dir = tmp(t);
  const memory = 512 * 1024;
  const spills: number[] = [];
  const bounded = new DigestSet(16, { memory, tempDir: dir, onSpill: (_r, n) => spills.push(n) });
  const free = new DigestSet(16);
  let maxBytes = 0;
  let differ = 0;
  let dups = 0;
  for (let i = 0; i < 120_000; i++) {
    // 60 000 distinct keys, each seen about twice, repeats both near and far (in spilled runs).
    const key = `k${rnd(30_000)}|${rnd(2) === 0 ? 'x' : 'y'}`;
    const a = bounded.add(key);
    const b = free.add(key);
    if (a !== b) differ++;
    if (!b) dups++;
    maxBytes = Math.max(maxBytes, bounded.bytes);
  }
  t.equal(differ, 0, 'every add() answers as the unbounded set');
  t.ok(dups > 10_000, `many duplicates met (${dups})`);
  t.ok(bounded.runCount >= 3, `spilled ${bounded.runCount} runs`);
  t.equal(bounded.keys, free.size, 'the same number of keys held');
  t.ok(
    maxBytes <= memory,
    `held at most ${maxBytes} bytes, within the ${memory}-byte bound (table and runs' filters; a spill's sort and a doubling fit in what is left)`,
  );
  t.same(readdirSync(dir), [], 'no spill file or directory left in the temp dir (unlinked when opened)');
  bounded.close();
});

t.test(
  'past what the bound can hold even spilled: CantCreateError (exit 73) naming the keys and the fix',
  async (t) => {
    const set = new DigestSet(16, { memory: 16 * 1024, tempDir: tmp(t) });
    let err: unknown;
    let added = 0;
    try {
      for (let i = 0; i < 100_000; i++) if (set.add(`key-${i}`)) added++;
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof CantCreateError, 'refused');
    t.equal((err as CantCreateError).exitCode, 73);
    t.match((err as Error).message, /--memory 0 MB: --dedupe holds \d+ keys in 0 MB .*raise --memory/);
    t.ok(added > 1000 && set.bytes <= 16 * 1024, `held ${added} keys in ${set.bytes} bytes when it refused`);
    set.close();
  },
);

t.test('bx-clean --dedupe --memory: same output and rejects as without a bound; a refusal is exit 73', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in.ndjson');
  const lines: string[] = [];
  for (let i = 0; i < 150_000; i++) lines.push(JSON.stringify({ id: `o-${(i * 7919) % 100_000}`, n: i }));
  writeFileSync(input, lines.join('\n') + '\n');
  const free = await sh(
    `bx-clean --accept-unsealed --dedupe id --rejects ${dir}/r1.ndjson ${input} > ${dir}/o1.ndjson && md5sum < ${dir}/o1.ndjson && md5sum < ${dir}/r1.ndjson`,
  );
  t.equal(free.code, 0, free.stderr);
  const bound = await sh(
    `bx-clean --accept-unsealed --dedupe id --memory 1MB --temp-dir ${dir} --rejects ${dir}/r2.ndjson ${input} > ${dir}/o2.ndjson && md5sum < ${dir}/o2.ndjson && md5sum < ${dir}/r2.ndjson`,
  );
  t.equal(bound.code, 0, bound.stderr);
  t.match(bound.stderr, /spilled run \d+/, 'it spilled');
  t.match(bound.stderr, /150000 rows in, 100000 out, 50000 rejected/);
  t.equal(bound.stdout, free.stdout, 'the same records out and the same rejects, byte for byte');
  const refused = await sh(`bx-clean --accept-unsealed --dedupe id --memory 8K --temp-dir ${dir} ${input} > /dev/null`);
  t.equal(refused.code, 73, 'exit 73');
  t.match(refused.stderr, /--dedupe holds \d+ keys/);
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  const bad = await sh(`bx-clean --dedupe id --memory lots ${input}`);
  t.equal(bad.code, 64, '--memory lots: a usage error');
});
