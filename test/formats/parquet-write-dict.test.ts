// The Parquet writer's string dictionary (formats/parquet-encode.ts, ByteArrayColumn): 60 000
// distinct strings, so its hash table rehashes many times and its probes collide, and one
// partition's dictionary passes 1 MB and falls back to PLAIN; every row reads back with its
// own value, and DuckDB-style readers see the same (the lake round trip tests cover the types).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sh, tmp } from '../helpers.js';

t.test('60 000 distinct strings: the dictionary rehashes, falls back to PLAIN, reads back exact', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in.ndjson');
  const note = (i: number) => `${'x'.repeat(30)}-${i}`;
  const text = (i: number) =>
    `{"sale_id":"${i}","day":"2026-11-0${(i % 3) + 1}","note":"${note(i)}","price":"${(i % 500) + 0.25}"}`;
  writeFileSync(input, Array.from({ length: 60000 }, (_, i) => text(i + 1) + '\n').join(''));
  const load = await sh(`bx-load -q --to parquet --path ${dir}/lake --partition-by day ${input}`);
  t.equal(load.code, 0, load.stderr);
  const back = await sh(`bx-extract -q ${dir}/lake/`);
  t.equal(back.code, 0, back.stderr);
  const notes = new Map<string, string>();
  for (const l of back.stdout.split('\n').filter(Boolean)) {
    const r = JSON.parse(l) as { sale_id: number | string; note: string };
    notes.set(String(r.sale_id), r.note);
  }
  t.equal(notes.size, 60000, 'every row once');
  let wrong = 0;
  for (let i = 1; i <= 60000; i++) if (notes.get(String(i)) !== note(i)) wrong++;
  t.equal(wrong, 0, 'every value read back as written');
});
