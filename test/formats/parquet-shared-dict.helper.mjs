// Run by parquet-shared-dict.test.ts in a plain node process (hyparquet-writer's subpath imports
// do not resolve under the test runner's TypeScript loader), against the built dist/ modules:
//   node parquet-shared-dict.helper.mjs shared|own OUTDIR
// writes the same rows into four files taking them in turn (as LakeSink's partitions do), each
// string column's values numbered in one SharedDictionary across the four (`shared`) or in each
// file's own table (`own`); values pushed as the record path does (push) and as the byte path
// does (pushBytes), row groups of a different size per file. The columns: 12 values, 5 000
// values, a new value in 7 rows of 8 (its dictionary closes at MAX_SHARED values), 3 kB values
// in the first 4 000 rows (it closes at MAX_SHARED_BYTES), the eighth repeating a value the
// file's table must find once the dictionary has closed; one with nulls and "", and one with
// escapes and non-ASCII text.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
const dist = new URL('../../dist/', import.meta.url);
const { ParquetPart } = await import(new URL('formats/parquet-writer.js', dist));
const { planColumn } = await import(new URL('formats/parquet-types.js', dist));
const { SharedDictionary, fnv1a, MAX_SHARED } = await import(new URL('formats/parquet-encode.js', dist));
const [mode, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const mod = await import('hyparquet-writer');
const names = ['few', 'some', 'unique', 'long', 'sparse', 'text'];
const plans = names.map((name) => planColumn({ name, type: 'string' }));
const shared = mode === 'shared' ? plans.map(() => new SharedDictionary()) : undefined;
const opts = { codec: 'SNAPPY', compressors: {}, kvMetadata: [], shared };
const parts = [0, 1, 2, 3].map((p) => new ParquetPart(mod, join(out, `part-${p}.parquet`), plans, opts));
// Half of file 1's rows (i % 8 = 1) repeat the value of its row 101 rows before (i - 404, whose i % 8 is 5).
const again = (i) => (i % 8 === 1 && i >= 404 ? i - 404 : i);
const value = (c, i) => {
  switch (c) {
    case 0:
      return `few-${i % 12}`;
    case 1:
      return `some-${(i * 7919) % 5000}`;
    case 2:
      return `unique-${again(i)}`;
    case 3:
      return i < 4000 ? `${'x'.repeat(3000)}-${again(i)}` : null;
    case 4:
      return i % 5 === 0 ? null : i % 7 === 0 ? '' : `s${i % 300}`;
    default:
      return ['ä', 'é\n"', '\\', '日本', 'plain'][i % 5] + (i % 40);
  }
};
const rows = MAX_SHARED + 30000;
for (let i = 0; i < rows; i++) {
  const p = parts[i % 4];
  for (let c = 0; c < names.length; c++) {
    const v = value(c, i);
    const col = p.column(c);
    if (v === null) col.pushNull();
    else if (i % 3 === 0) col.push(v);
    else {
      const b = Buffer.from(v);
      // Every other byte-path value without its hash (pushBytes computes it).
      col.pushBytes(b, 0, b.length, i % 2 ? fnv1a(b, 0, b.length) : undefined);
    }
  }
  p.added();
  if (p.buffered >= 4000 + 1500 * (i % 4)) p.flushGroup();
}
for (const p of parts) p.finish();
console.log(JSON.stringify({ closed: shared?.map((d) => d.closed) }));
