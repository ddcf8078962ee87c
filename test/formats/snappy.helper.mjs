// Run by snappy.test.ts in a plain node process (hyparquet-writer's subpath imports do not
// resolve under the test runner's TypeScript loader), against the built dist/ module:
//   node snappy.helper.mjs FILE…   one JSON line per file: is bx's snappy of its bytes the same
//                                  as hyparquet-writer's (`same`), and does it uncompress to them (`back`)
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
  const same = Buffer.from(mine).equals(Buffer.from(reference(input)));
  console.log(JSON.stringify({ file, same, back: Buffer.from(back).equals(input) }));
}
