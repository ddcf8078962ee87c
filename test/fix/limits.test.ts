// Issue 22: the --max-record-size limit must stop an unclosed quote early, in memory as well as
// in time. Peak RSS is a bound, not a timer: the process must stay under it, whatever the machine.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sh, tmp } from '../helpers.js';

const TIME = '/usr/bin/time';

/** A CSV of about `mib` MiB whose third line opens a quote that never closes. */
function unclosedQuoteCsv(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  writeSync(fd, 'a,b,c\n1,2,3\n4,"open quote,6\n');
  const rows = Buffer.from('7,8,9 and some filler text to make the line longer\n'.repeat(20000));
  for (let n = 0; n < mib * 1024 * 1024; n += rows.length) writeSync(fd, rows);
  closeSync(fd);
}

const peakKb = (stderr: string) => Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);

t.test(
  'an unclosed quote near the start of a 160 MiB CSV stops at the 64 MiB limit under 256 MB RSS',
  { skip: existsSync(TIME) ? false : `${TIME} is not installed (apt-get install time)` },
  async (t) => {
    const dir = tmp(t);
    const file = join(dir, 'big.csv');
    unclosedQuoteCsv(file, 160);
    const r = await sh(`${TIME} -v bx-extract ${file} > /dev/null`);
    t.equal(r.code, 65, 'exit 65');
    t.match(r.stderr, /^bx-extract: .*big\.csv:3: record longer than 67108864 characters .*quote opened at line 3/m);
    const kb = peakKb(r.stderr);
    t.ok(kb > 0, `peak RSS read (${kb} kB)`);
    t.ok(kb < 256 * 1024, `peak RSS ${Math.round(kb / 1024)} MB < 256 MB`);
  },
);

t.test(
  'a smaller --max-record-size stops sooner, and through the decoding path too',
  { skip: existsSync(TIME) ? false : `${TIME} is not installed` },
  async (t) => {
    const dir = tmp(t);
    const file = join(dir, 'big.csv');
    unclosedQuoteCsv(file, 40);
    for (const enc of ['utf8', 'latin1']) {
      const r = await sh(`${TIME} -v bx-extract --encoding ${enc} --max-record-size 8M ${file} > /dev/null`);
      t.equal(r.code, 65, `${enc}: exit 65`);
      t.match(r.stderr, /big\.csv:3: record longer than 8388608 characters/, `${enc}: the limit and the line`);
      const kb = peakKb(r.stderr);
      t.ok(kb < 160 * 1024, `${enc}: peak RSS ${Math.round(kb / 1024)} MB < 160 MB`);
    }
  },
);
