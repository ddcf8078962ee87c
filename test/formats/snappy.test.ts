// bx's snappy (formats/snappy.ts) against the encoder it replaced, hyparquet-writer's
// snappyCompress (a ParquetWriter's default SNAPPY compressor): the same bytes for every input,
// and hyparquet's snappyUncompress gives the input back. The inputs reach each branch of the
// encoder: below the 15-byte margin, literals of 1..60 bytes and of 1-, 2- and 3-byte lengths,
// copies near and far (the 2-byte and 3-byte tags), runs longer than 64 and 68 bytes, matches
// more than 64 KB back (refused), the skipping over incompressible bytes, and Parquet-like pages.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { root, sh, tmp } from '../helpers.js';

const helper = join(root, 'test', 'formats', 'snappy.helper.mjs');

// A fixed-seed PRNG: the same inputs every run.
let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const random = (n: number, alphabet = 256) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * alphabet));

/** Each case's bytes compressed by both encoders (snappy.helper.mjs): the same bytes, and uncompressed back. */
async function check(t: Test, cases: [string, Uint8Array][]) {
  const dir = tmp(t);
  const files = cases.map(([, bytes], i) => {
    const f = join(dir, `case-${i}`);
    writeFileSync(f, bytes);
    return f;
  });
  const r = await sh(`node ${helper} ${files.join(' ')}`);
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { same: boolean; back: boolean });
  t.equal(out.length, cases.length, 'every case ran');
  cases.forEach(([name, bytes], i) => {
    t.ok(out[i]?.same, `${name} (${bytes.length} bytes): hyparquet-writer's bytes`);
    t.ok(out[i]?.back, `${name} (${bytes.length} bytes): uncompresses to the input`);
  });
}

t.test('short inputs, every length up to 100, of few and of many byte values', async (t) => {
  const cases: [string, Uint8Array][] = [];
  for (let n = 0; n <= 100; n++) {
    cases.push(['zeros', new Uint8Array(n)]);
    cases.push(['two values', random(n, 2)]);
    cases.push(['random', random(n)]);
  }
  await check(t, cases);
});

t.test('literals of every length class, copies near and far, long runs', async (t) => {
  const cases: [string, Uint8Array][] = [];
  for (const n of [61, 255, 256, 257, 65535, 65536, 65537, 70000, 300000]) cases.push(['incompressible', random(n)]);
  const phrase = Buffer.from('{"sale_id":"1","store_id":"S39","payment":"mobile"}');
  for (const gap of [0, 5, 60, 61, 2000, 2047, 2048, 2100, 65000, 65535, 65536, 70000]) {
    // the phrase, random bytes, the phrase again: one copy `gap + phrase` bytes back
    const input = Buffer.concat([phrase, random(gap), phrase, random(20)]);
    cases.push([`a repeat ${gap} bytes on`, input]);
  }
  for (const run of [4, 11, 12, 63, 64, 65, 67, 68, 69, 127, 128, 132, 1000, 100000])
    cases.push([`a run of ${run}`, Buffer.concat([random(30), new Uint8Array(run).fill(7), random(30)])]);
  await check(t, cases);
});

t.test('page-like inputs: little-endian integers, dictionary indexes, text', async (t) => {
  const cases: [string, Uint8Array][] = [];
  const ints = new Uint8Array(8 * 40000);
  const view = new DataView(ints.buffer);
  for (let i = 0; i < 40000; i++)
    view.setBigInt64(i * 8, BigInt(1700000000000000 + i * 1000 + Math.floor(rnd() * 999)), true);
  cases.push(['timestamps', ints]);
  cases.push(['small indexes', random(200000, 16)]);
  const words = ['Furniture', 'Toys', 'Deluxe Desk, oak ', 'Mini Phone ', 'card', 'voucher'];
  const text = Array.from({ length: 20000 }, (_, i) => words[Math.floor(rnd() * words.length)] + (i % 5000)).join('');
  cases.push(['text', Buffer.from(text)]);
  // Half the bytes a repeat, half random: the skip heuristic starts and stops again and again.
  const mixed = Buffer.concat(
    Array.from({ length: 200 }, (_, i) => (i % 2 ? random(700) : text.slice(0, 700))).map(Buffer.from),
  );
  cases.push(['mixed', mixed]);
  await check(t, cases);
});
