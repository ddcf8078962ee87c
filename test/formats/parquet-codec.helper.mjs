// Run by parquet-codec.test.ts in a plain node process (hyparquet-writer's subpath imports do not
// resolve under the test runner's TypeScript loader), against the built dist/ modules:
//   node parquet-codec.helper.mjs write bx|hy OUT IN.ndjson GROUP_ROWS FIELDS.json
//   node parquet-codec.helper.mjs records FILE   one JSON line per record, by hyparquet's parquetRead
//   node parquet-codec.helper.mjs text FILE [bytes|text|hyparquet] [lineage]
//                                                the NDJSON of bx's direct decoder (the byte transcoder
//                                                unless told), and on stderr, as JSON, which decoder
//                                                read each row group (ParquetSource.decoded)
import { readFileSync } from 'node:fs';
const dist = new URL('../../dist/', import.meta.url);
const { ParquetPart, HyparquetPart } = await import(new URL('formats/parquet-writer.js', dist));
const { planColumn } = await import(new URL('formats/parquet-types.js', dist));
const { ParquetSource } = await import(new URL('sources/parquet.js', dist));
const [cmd, ...args] = process.argv.slice(2);
const ctx = (json, lineage = false) => ({
  log: { debug: () => undefined },
  reject: () => undefined,
  ...(json ? { json: { lineage } } : {}),
});
if (cmd === 'write') {
  const [which, out, input, groupRows, fieldsFile] = args;
  const mod = await import('hyparquet-writer');
  const plans = JSON.parse(readFileSync(fieldsFile, 'utf8')).map(planColumn);
  const Part = which === 'bx' ? ParquetPart : HyparquetPart;
  const p = new Part(mod, out, plans, { codec: 'SNAPPY', compressors: {}, kvMetadata: [] });
  const text = readFileSync(input, 'utf8');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    p.push(plans.map((pl) => pl.encode(r[pl.name], { file: input, line: 1 })));
    if (p.buffered >= Number(groupRows)) p.flushGroup();
  }
  p.finish();
} else {
  const [file, decoder = 'bytes', lineage] = args;
  const src = new ParquetSource(file, undefined, lineage === 'lineage', [file], decoder);
  let out = '';
  for await (const b of src.batches(ctx(cmd === 'text', lineage === 'lineage'))) {
    if (cmd === 'text') {
      if (!b.ndjson) throw new Error('the direct path gave records, not bytes');
      out += b.ndjson.toString('utf8');
    } else for (const r of b.records) out += JSON.stringify(r) + '\n';
  }
  process.stdout.write(out);
  process.stderr.write(JSON.stringify(src.decoded));
}
