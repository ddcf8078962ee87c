// The frame every record stage runs in (src/run/stage.ts), in process: the same rejects
// lifecycle in every command, checkpoints carried through the sealed trailer, and the fixes
// that came with the one loop.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { spec as agg } from '../../src/commands/agg.js';
import { spec as clean } from '../../src/commands/clean.js';
import { runIn, sh, tmp } from '../helpers.js';

const recs = (n: number, bad: number[] = []) =>
  Array.from(
    { length: n },
    (_, i) => JSON.stringify({ id: i + 1, qty: bad.includes(i + 1) ? 'x' : String(i) }) + '\n',
  ).join('');

t.test('a corrupt .gz keeps the rejects written so far, in bx-extract, bx-clean and bx-agg alike', async (t) => {
  const d = tmp(t);
  // A valid start (rejects happen in the first batches), then the file ends mid-stream: zlib's
  // error, which classify() makes a data error (65), after the rejects were written.
  const good = gzipSync(Buffer.from(recs(200000, [3, 7])));
  const corrupt = good.subarray(0, Math.floor(good.length * 0.8));
  const gz = join(d, 'in.ndjson.gz');
  writeFileSync(gz, corrupt);
  const cases: [string, string][] = [
    ['clean', `bx-clean --type qty:integer --rejects ${d}/clean.rej ${gz}`],
    ['agg', `bx-agg --agg sum:qty --rejects ${d}/agg.rej ${gz}`],
  ];
  for (const [name, cmd] of cases) {
    const r = await sh(cmd);
    t.equal(r.code, 65, `${name}: exit 65 (${r.stderr.trim()})`);
    t.match(r.stderr, /corrupt gzip data|unexpected end of file|incorrect header check|invalid/i, `${name}: says why`);
    t.ok(existsSync(`${d}/${name}.rej`), `${name}: the rejects file is kept`);
    const lines = readFileSync(`${d}/${name}.rej`, 'utf8').trim().split('\n');
    t.equal(lines.length, 2, `${name}: both rejects are in it`);
  }
  // And any other failure (here a usage-level one inside the run: a directory as input) leaves no rejects file.
  const r = await sh(`bx-clean --type qty:integer --rejects ${d}/none.rej ${d}`);
  t.not(r.code, 0);
  t.notOk(existsSync(`${d}/none.rej`), 'no rejects file after a non-data failure');
});

t.test('bx-clean: every --pattern is checked, and two for one field must both match', async (t) => {
  const input = '{"a":"x1","b":"zz"}\n{"a":"11","b":"9"}\n{"a":"123","b":"1"}\n';
  const bad = await runIn('bx-clean', clean, ['--pattern', 'a=\\d+', '--pattern', 'b=('], input);
  t.equal(bad.code, 64, 'an invalid second pattern is a usage error');
  t.match(bad.stderr, /--pattern b=\(: not a valid regular expression/);
  const badSame = await runIn('bx-clean', clean, ['--pattern', 'a=\\d+', '--pattern', 'a=('], input);
  t.equal(badSame.code, 64, 'also for the same field twice');
  const both = await runIn(
    'bx-clean',
    clean,
    ['-q', '--pattern', 'a=\\d+', '--pattern', 'a=\\d{2}'],
    '{"a":"11"}\n{"a":"123"}\n',
  );
  t.equal(both.code, 65, 'the second pattern of a field is enforced too');
  t.match(both.stderr, /stdin:2: field "a": "123" does not match/);
});

t.test('checkpoints in the trailer pass through the middle stages', async (t) => {
  const cp = [{ key: 'nats://127.0.0.1:4222/POS', position: 42, from: 1, records: 3 }];
  const sealed = recs(3) + JSON.stringify({ '@bx': 'end', records: 3, checkpoint: cp }) + '\n';
  const env = { BX_SEAL: '1' };
  const c = await runIn('bx-clean', clean, ['-q', '--type', 'qty:integer'], sealed, env);
  t.equal(c.code, 0, c.stderr);
  const last = JSON.parse(c.stdout.trim().split('\n').pop()!);
  t.same(last, { '@bx': 'end', records: 3, checkpoint: cp }, 'bx-clean passes the checkpoint on');
  const a = await runIn('bx-agg', agg, ['-q', '--agg', 'sum:qty'], sealed, env);
  t.equal(a.code, 0, a.stderr);
  t.same(JSON.parse(a.stdout.trim().split('\n').pop()!), { '@bx': 'end', records: 1, checkpoint: cp }, 'bx-agg too');
  const broken = await runIn('bx-clean', clean, ['-q'], recs(3) + '{"@bx":"end","records":3,"checkpoint":7}\n', env);
  t.equal(broken.code, 65, 'a checkpoint that is not a list is a malformed mark');
});

t.test('bx-clean --timezone: local datetimes to UTC, DST gaps and repeats by rule', async (t) => {
  const input = ['2026-07-15T12:00:00', '2026-03-29T02:30:00', '2026-10-25T02:30:00', '2026-07-15T12:00:00+02:00']
    .map((v) => JSON.stringify({ t: v }) + '\n')
    .join('');
  const r = await runIn('bx-clean', clean, ['-q', '--type', 't:datetime', '--timezone', 'Europe/Paris'], input);
  t.equal(r.code, 0, r.stderr);
  t.same(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).t),
    ['2026-07-15T10:00:00Z', '2026-03-29T01:30:00Z', '2026-10-25T00:30:00Z', '2026-07-15T12:00:00+02:00'],
    'summer time, a skipped hour moved forward, a repeated hour the earlier instant, an offset kept',
  );
  const bad = await runIn('bx-clean', clean, ['--timezone', 'Mars/Base'], input);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /--timezone: unknown time zone "Mars\/Base"/);
});
