// Run by snappy.test.ts in a plain node process (hyparquet-writer's subpath imports do not
// resolve under the test runner's TypeScript loader), against the built dist/ module:
//   node snappy.helper.mjs FILE…   one JSON line per file: is bx's snappy of its bytes the same as
//                                  hyparquet-writer's, also from an odd offset into a larger buffer
//                                  (`same`), and does it uncompress to them (`back`)
import { readFileSync } from 'node:fs';
import { snappyUncompress } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
const { snappyCompress } = await import(new URL('../../dist/formats/snappy.js', import.meta.url));
// hyparquet-writer does not export its snappy; a ParquetWriter's default SNAPPY compressor is it.
const reference = new ParquetWriter({ writer: new ByteWriter(), schema: [{ name: 'root', num_children: 0 }] })
  .compressors.SNAPPY;
for (const file of process.argv.slice(2)) {
  const input = readFileSync(file);
  const mine = snappyCompress(input);
  const back = new Uint8Array(input.length);
  snappyUncompress(mine, back);
  // The same bytes at an odd offset into a larger buffer (pages are views into bx's scratch buffers).
  const shifted = new Uint8Array(input.length + 8).subarray(3, 3 + input.length);
  shifted.set(input);
  const theirs = Buffer.from(reference(input));
  const same = Buffer.from(mine).equals(theirs) && Buffer.from(snappyCompress(shifted)).equals(theirs);
  console.log(JSON.stringify({ file, same, back: Buffer.from(back).equals(input) }));
}
