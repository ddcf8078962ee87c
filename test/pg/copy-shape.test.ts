// The shape path (CopyEncoder.shaped): a line laid out as the plain line before it has its keys
// compared as bytes and only its values read. It must give what the record path (parseRecord +
// encode) gives for every line, the same COPY text or the same error, whatever differs from the
// learned line: a value of another kind, an escape, a key one byte off, a cut, a stray byte.
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { CopyEncoder } from '../../src/pg/copy-text.js';
import { lineBatch, parseRecord } from '../../src/lib/records.js';

const COLS = ['sale_id', 'sale_date', 'product_name', 'qty', 'unit_price', 'ok', 'note'];
const BASE =
  '{"sale_id":1,"sale_date":"2026-11-02","product_name":"Deluxe Desk, oak 1478","qty":4,"unit_price":387.61,"ok":true,"note":null}';

const VALUES = [
  '""',
  '"x"',
  '"abc"',
  '"abcd"',
  '"abcdefghi"',
  '"q\\"uote"',
  '"\\\\"',
  '"back\\\\slash\\\\."',
  '"\\\\N"',
  '"tab\\there"',
  '"nl\\nand\\rcr"',
  '"\\/ \\b \\f"',
  '"\\u00e9\\u6771"',
  '"\\ud83d\\ude80"',
  '"\\u0000"',
  '"\\ud800"',
  '"\\x"',
  '"東京 🚀 é"',
  '"raw\ttab"',
  '"unterminated',
  '0',
  '-0',
  '7',
  '-12',
  '123456789012345',
  '1234567890123456',
  '9007199254740993',
  '01',
  '0.1',
  '-0.5',
  '387.61',
  '1.50',
  '0.0',
  '-0.0',
  '0.000001',
  '0.0000001',
  '0.123456789012345',
  '0.1234567890123456',
  '12345678901234.5',
  '1.',
  '.5',
  '1e2',
  '1E+2',
  '1e400',
  '1.5e-3',
  '--1',
  '-',
  '1.2.3',
  'true',
  'false',
  'null',
  'tru',
  'nul',
  'fals',
  '{"x":1}',
  '[1,"\\t"]',
];

function outcome(f: () => { text: string | Buffer; count: number; needs?: string[] }) {
  try {
    const r = f();
    return { ...r, text: r.text.toString() };
  } catch (err) {
    return (err as Error).message;
  }
}

/** Each line after the base line, on an encoder that has just learned the base line's shape. */
function check(t: Test, lines: string[], label: string, opts: { rowNumber?: boolean } = {}) {
  const table = new Set([...COLS, 'extra']);
  let bad = 0;
  let shaped = 0;
  lines.forEach((line, n) => {
    const fast = new CopyEncoder(COLS, table, false, opts.rowNumber);
    const slow = new CopyEncoder(COLS, table, false, opts.rowNumber);
    fast.encodeLines(lineBatch('in', [1], [BASE]));
    slow.encode({ name: 'in', lines: [1], records: [parseRecord(BASE, { file: 'in', line: 1 })] });
    const before = fast.shapeRows;
    const got = outcome(() => fast.encodeLines(lineBatch('in', [n + 2], [line])));
    const want = outcome(() =>
      slow.encode({ name: 'in', lines: [n + 2], records: [parseRecord(line, { file: 'in', line: n + 2 })] }),
    );
    shaped += fast.shapeRows - before;
    if (JSON.stringify(got) !== JSON.stringify(want) && bad++ < 5)
      t.fail(`${label}: ${JSON.stringify(line)}: ${JSON.stringify(got)} / ${JSON.stringify(want)}`);
  });
  t.equal(bad, 0, `${label}: ${lines.length} lines, the same COPY text or error`);
  return shaped;
}

const withValue = (col: number, v: string) => {
  const rec = Object.keys(JSON.parse(BASE));
  const parts = BASE.slice(1, -1).split(/,(?="[a-z_]+":)/);
  parts[col] = `"${rec[col]}":${v}`;
  return `{${parts.join(',')}}`;
};

t.test('every tricky value in every column, the keys as learned', async (t) => {
  const lines: string[] = [];
  for (let c = 0; c < COLS.length; c++) for (const v of VALUES) lines.push(withValue(c, v));
  for (const rowNumber of [false, true]) {
    const shaped = check(t, lines, `rowNumber ${rowNumber}`, { rowNumber });
    t.ok(shaped > lines.length / 2, `most took the shape path (${shaped} of ${lines.length})`);
  }
});

t.test('the learned line cut at every byte, and every byte changed', async (t) => {
  const lines: string[] = [];
  for (let i = 0; i < BASE.length; i++) lines.push(BASE.slice(0, i));
  for (let i = 0; i < BASE.length; i++)
    for (const c of ['"', '\\', ',', ':', '}', '{', ' ', 'x', '0', '.', '\t'])
      if (BASE[i] !== c) lines.push(BASE.slice(0, i) + c + BASE.slice(i + 1));
  for (let i = 0; i <= BASE.length; i++) lines.push(BASE.slice(0, i) + ' ' + BASE.slice(i));
  lines.push(BASE + 'x', BASE + '}', BASE.replace('"qty":4', '"qty":4,"extra":1'));
  lines.push(BASE.replace('"qty":4,', ''), BASE.replace('"sale_id":1', '"sale_id":1,"sale_id":2'));
  check(t, lines, 'mutated');
});

t.test('keys out of order, then back: relearned, and the same rows', async (t) => {
  const table = new Set(COLS);
  const swapped =
    '{"sale_date":"2026-11-02","sale_id":2,"product_name":"p","qty":1,"unit_price":1.5,"ok":false,"note":"n"}';
  const spaced = BASE.replace(/,"/g, ', "').replace(/":/g, '": ');
  const short = '{"a":"x"}';
  const lines = [BASE, BASE, swapped, swapped, BASE, spaced, spaced, withValue(2, '"\\u00e9"'), BASE, short, BASE];
  const fast = new CopyEncoder(COLS, new Set([...table, 'a']), true);
  const slow = new CopyEncoder(COLS, new Set([...table, 'a']), true);
  const nums = lines.map((_, i) => i + 1);
  const got = outcome(() => fast.encodeLines(lineBatch('in', nums, lines)));
  const want = outcome(() =>
    slow.encode({ name: 'in', lines: nums, records: lines.map((l, i) => parseRecord(l, { file: 'in', line: i + 1 })) }),
  );
  t.same(got, want);
  // BASE met twice after it was learned, spaced once and BASE once more after they were; swapped
  // (out of column order) is never a shape.
  t.equal(fast.shapeRows, 4);
  // Short keys (runs under 8 bytes) are compared byte by byte.
  const two = new CopyEncoder(['a', 'b'], new Set(['a', 'b']), false);
  const ab = ['{"a":"x","b":1}', '{"a":"y","b":22}', '{"a":"z","c":3}', '{"b":1,"a":"x"}'];
  const abWant = outcome(() =>
    new CopyEncoder(['a', 'b'], new Set(['a', 'b']), false).encode({
      name: 'in',
      lines: [1, 2, 3, 4],
      records: ab.map((l, i) => parseRecord(l, { file: 'in', line: i + 1 })),
    }),
  );
  t.same(
    outcome(() => two.encodeLines(lineBatch('in', [1, 2, 3, 4], ab))),
    abWant,
  );
  t.equal(two.shapeRows, 1);
});

t.test('an input cut at every offset: the shape carries from batch to batch, same COPY text', async (t) => {
  const { readLineBatches } = await import('../../src/lib/records.js');
  const lines = [
    BASE,
    withValue(0, '2'),
    withValue(2, '"tab\\there, \\"quoted\\""'),
    withValue(4, '1.50'),
    withValue(1, '"\\u00e9"'),
    withValue(6, '"x"'),
    BASE,
  ];
  const text = lines.join('\n') + '\n';
  const want = new CopyEncoder(COLS, new Set(COLS), false).encode({
    name: 'in',
    lines: lines.map((_, i) => i + 1),
    records: lines.map((l, i) => parseRecord(l, { file: 'in', line: i + 1 })),
  }).text;
  const bytes = Buffer.from(text);
  let bad = 0;
  let shaped = 0;
  for (let cut = 1; cut < bytes.length; cut++) {
    const enc = new CopyEncoder(COLS, new Set(COLS), false);
    let got = '';
    const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
    for await (const b of readLineBatches(Readable.from(chunks), 'in', { expectSealed: false })) {
      const r = enc.encodeLines(b);
      got += r.text.toString();
    }
    shaped += enc.shapeRows;
    if (got !== want && bad++ < 3) t.fail(`cut at ${cut}: ${JSON.stringify(got)}`);
  }
  t.equal(bad, 0, `${bytes.length - 1} cuts, the same COPY text`);
  t.ok(shaped > 3 * (bytes.length - 1), `the shape path read most lines (${shaped})`);
});
