// The byte path's group index on its own: keys found by their bytes, also when every hash
// collides (so that the byte comparison alone tells keys apart), and cleared for a new run.
import t from 'tap';
import { ByteKeys, MISS } from '../../src/agg/byte-keys.js';
import { LineScan } from '../../src/agg/line-scan.js';
import { Group } from '../../src/agg/slots.js';

class Colliding extends ByteKeys {
  protected override hash(): number {
    return 7;
  }
}

function scanner(line: string): LineScan {
  const sc = new LineScan(['g', 'h'], []);
  const buf = Buffer.from(line + '\n');
  if (!sc.scan(buf, 0, buf.length - 1)) throw new Error(`not scanned: ${line}`);
  return sc;
}

const KEYS = [
  '{"g":"ab","h":"c"}',
  '{"g":"a","h":"bc"}',
  '{"g":"abc"}',
  '{"g":"1","h":"x"}',
  '{"g":1,"h":"x"}',
  '{"g":true}',
  '{"g":false}',
  '{"g":"","h":""}',
  '{"g":"日本","h":"é"}',
  // Compared four bytes at a time: keys that differ only in a word, only in the bytes after the
  // last whole word, or only in length.
  '{"g":"P-01478"}',
  '{"g":"P-01479"}',
  '{"g":"Q-01478"}',
  '{"g":"abcdefgh"}',
  '{"g":"abcdefgi"}',
  '{"g":"abcdefg"}',
  '{"g":"abcdefghi"}',
  '{"g":"abcd","h":"efgh"}',
  '{"g":"abcdefgh","h":""}',
];

for (const [name, make] of [
  ['hashed', () => new ByteKeys([0, 1])],
  ['every hash colliding', () => new Colliding([0, 1])],
] as const) {
  t.test(name, async (t) => {
    const keys = make();
    const made = new Map<string, Group>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3000; i++) {
        const line = i < KEYS.length ? KEYS[i] : `{"g":"k${i}","h":${i % 5}}`;
        const sc = scanner(line);
        const k = keys.find(sc);
        const g = k === MISS ? undefined : keys.group(k);
        if (round === 0 && !made.has(line)) {
          if (g !== undefined) t.fail(`${line}: found ${g.keyText} before it was entered`);
          const fresh = new Group([line], line, []);
          keys.insert(sc, fresh);
          made.set(line, fresh);
        } else if (g !== made.get(line)) t.fail(`${line}: found ${g?.keyText}`);
      }
      if (name !== 'hashed') break; // 3000 colliding keys: quadratic, once is enough
    }
    // {"g":"abc"} and {"g":"abc","h":null}: a missing field is null, as keyTextOf makes it.
    t.equal(made.size, 3000);
    t.equal(keys.group(keys.find(scanner('{"h":null,"g":"abc"}'))), made.get('{"g":"abc"}'));
    keys.clear();
    t.equal(keys.size, 0);
    t.equal(keys.find(scanner(KEYS[0])), MISS, 'cleared');
  });
}
