// Issue 22: seeded random byte mutations of valid CSV, NDJSON and XML. A reader may accept a
// mutant or refuse it with a DataError (exit 65); anything else (a TypeError, a RangeError: exit
// 70 with a stack trace) or a hang is a bug. Most mutants are read in-process; a sample goes
// through bx-extract under `timeout` to check the exit code and stderr of the real binary.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { DataError } from '../../src/lib/errors.js';
import { Logger } from '../../src/lib/log.js';
import { sh, tmp } from '../helpers.js';

const SEED = Number(process.env.BX_FUZZ_SEED ?? 22);
const PER_FORMAT = Number(process.env.BX_FUZZ_N ?? 400);
const SPAWNED = 8;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS: Record<string, string> = {
  csv: 'id,name,note,amount\r\n1,"Smith, J","said ""hi""\nthen left",12.50\r\n2,Émile,,-3\n3,"x",plain,1e3\n# not a comment\n4,\t, ,\n',
  ndjson:
    '{"id":1,"name":"Smith","tags":["a","b"],"n":12.5}\n{"id":2,"nested":{"deep":[1,{"x":null}]},"s":"é\\u00e9\\n"}\n\n{"id":3,"big":123456789012345678901234567890,"t":true}\n',
  xml: '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE r [<!ELEMENT r ANY>]>\n<r xmlns:x="urn:x">\n <i id="1" x:a="&amp;"><n>Smith &lt;J&gt;</n><v>12.5</v></i>\n <!-- c -->\n <i id="2"><n><![CDATA[a<b]]></n><x:v>&#233;</x:v></i>\n <i/>\n</r>\n',
};
const INTERESTING = [
  0x22, 0x2c, 0x0a, 0x0d, 0x3c, 0x3e, 0x26, 0x3b, 0x7b, 0x7d, 0x5b, 0x5d, 0x5c, 0x00, 0xff, 0xc3, 0xe2, 0x23, 0x09,
  0x2d, 0x3f, 0x21, 0x27,
];

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (b.length + 1));
    const kind = Math.floor(rnd() * 6);
    if (kind === 0 && b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << Math.floor(rnd() * 8);
    else if (kind === 1)
      b = Buffer.concat([
        b.subarray(0, at),
        Buffer.from([INTERESTING[Math.floor(rnd() * INTERESTING.length)]]),
        b.subarray(at),
      ]);
    else if (kind === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(rnd() * 3))]);
    else if (kind === 3) {
      const len = Math.floor(rnd() * 20);
      b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    } else if (kind === 4) b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rnd() * 256)]), b.subarray(at)]);
  }
  return b;
}

const opts: ReadOptions = {
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 16,
  maxDepth: 64,
};

async function readAll(format: string, bytes: Buffer, piece: number, json: boolean): Promise<unknown> {
  const reader = await readerFor(format);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) chunks.push(bytes.subarray(i, i + piece));
  const ctx: ReadContext = {
    log: new Logger('fuzz', new PassThrough(), { format: 'human', verbosity: 0, tty: false }),
    reject: () => {},
    ...(json ? { json: { lineage: true } } : {}),
  };
  try {
    for await (const b of reader({ name: 'fuzz', stream: Readable.from(chunks) }, opts, ctx)) {
      if (b.ndjson) JSON.parse(`[${b.ndjson.toString('utf8').trimEnd().split('\n').filter(Boolean).join(',')}]`);
      else JSON.stringify(b.records);
    }
  } catch (err) {
    return err;
  }
  return undefined;
}

for (const format of Object.keys(SEEDS)) {
  t.test(
    `${format}: ${PER_FORMAT} seeded mutants read in-process, only DataErrors`,
    { timeout: 120_000 },
    async (t) => {
      const rnd = prng(SEED + format.length);
      const src = Buffer.from(SEEDS[format]);
      t.equal(await readAll(format, src, src.length, format === 'csv'), undefined, 'the seed itself reads');
      let refused = 0;
      const wrong: string[] = [];
      for (let k = 0; k < PER_FORMAT; k++) {
        const m = mutate(src, rnd);
        const piece = 1 + Math.floor(rnd() * 40);
        const json = format === 'csv' && rnd() < 0.5;
        const err = await readAll(format, m, piece, json);
        if (err === undefined) continue;
        if (err instanceof DataError && !/\n/.test(err.message)) refused++;
        else
          wrong.push(
            `mutant ${k} (${piece}-byte pieces, json=${json}): ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}\n  input ${JSON.stringify(m.toString('latin1'))}`,
          );
      }
      t.same(
        wrong,
        [],
        `no other error than a one-line DataError (${refused} refused, ${PER_FORMAT - refused - wrong.length} accepted)`,
      );
    },
  );
}

t.test(
  'a sample of mutants through bx-extract: exit 0 or 65, no stack trace, no hang',
  { timeout: 120_000 },
  async (t) => {
    const dir = tmp(t);
    const rnd = prng(SEED * 7);
    for (const format of Object.keys(SEEDS)) {
      const files: string[] = [];
      for (let k = 0; k < SPAWNED; k++) {
        const f = join(dir, `m${k}.${format}`);
        writeFileSync(f, mutate(Buffer.from(SEEDS[format]), rnd));
        files.push(f);
      }
      // One shell for the sample: each run under a 20 s timeout (124 is a hang).
      const r = await sh(
        files.map((f) => `timeout 20 bx-extract --lineage ${f} >/dev/null 2>${f}.err; echo "$?"`).join('; '),
      );
      const codes = r.stdout.trim().split('\n').map(Number);
      t.equal(codes.length, SPAWNED, `${format}: ${SPAWNED} runs`);
      for (let k = 0; k < codes.length; k++) {
        const err = (await import('node:fs')).readFileSync(`${files[k]}.err`, 'utf8');
        t.ok(codes[k] === 0 || codes[k] === 65, `${format} mutant ${k}: exit ${codes[k]} ${err.trim().slice(0, 200)}`);
        t.notMatch(err, /\n\s+at /, `${format} mutant ${k}: no stack trace`);
      }
    }
  },
);
