// stdout on a shell pipe is written from the thread pool (src/lib/pipe-out.ts): every byte in
// order, a slow or vanishing reader, the trailer last, and the hand-over to process.stdout when
// the pipe turns out to be non-blocking.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { PipeOut, pipeStdout } from '../../src/lib/pipe-out.js';
import { sh, tmp } from '../helpers.js';

// ~23 MB of NDJSON: more than PipeOut's queue, so the producer is held back and released.
function bigCsv(dir: string): string {
  const path = join(dir, 'big.csv');
  const rows = ['id,name,amount,note'];
  for (let i = 0; i < 150_000; i++)
    rows.push(`${i},"name ${i}, with comma",${(i * 7) % 100000}.${i % 100},ünïcödé ${i}`);
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

t.test('a shell pipe gets every byte in order, with a fast, a slow and a stalled reader', async (t) => {
  const dir = tmp(t);
  const csv = bigCsv(dir);
  const ref = await sh(`BX_PIPE_OUT=0 bx-extract -q ${csv} | md5sum`);
  t.equal(ref.code, 0, ref.stderr);
  const direct = await sh(`bx-extract -q ${csv} > ${dir}/file.ndjson && md5sum < ${dir}/file.ndjson`);
  t.equal(direct.stdout, ref.stdout, 'the pipe path writes what the file path writes');
  for (const reader of ['md5sum', '(sleep 1; md5sum)', 'dd bs=4096 status=none | md5sum']) {
    const r = await sh(`bx-extract -q ${csv} | ${reader}`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, ref.stdout, `reader: ${reader}`);
  }
  const lines = await sh(`bx-extract -q ${csv} | wc -l`);
  t.equal(lines.stdout.trim(), '150000');
});

t.test('through a middle stage and sealed: the trailer arrives last and is checked', async (t) => {
  const dir = tmp(t);
  const csv = bigCsv(dir);
  const r = await sh(`bx-extract -q ${csv} | bx-clean -q --trim | bx-agg -q --agg count,sum:amount`, {
    env: { BX_SEAL: '1' },
  });
  t.equal(r.code, 0, r.stderr);
  const sum = await sh(`BX_PIPE_OUT=0 bx-extract -q ${csv} | BX_PIPE_OUT=0 bx-agg -q --agg count,sum:amount`, {
    env: { BX_SEAL: '1' },
  });
  t.equal(r.stdout, sum.stdout);
  t.match(r.stdout, /"count":150000/);
});

t.test('a reader that leaves early (| head) ends the writer with 0, at once', async (t) => {
  const dir = tmp(t);
  const csv = bigCsv(dir);
  const r = await sh(`bx-extract ${csv} | head -n 2; echo "codes \${PIPESTATUS[*]}"`);
  t.equal(r.stdout.split('\n').length, 4, r.stdout);
  t.match(r.stdout, /codes 0 0\n$/);
  t.notMatch(r.stderr, /Error|at .*\.js/, 'no stack trace');
});

t.test('pipeStdout: only for a blocking FIFO, and BX_PIPE_OUT=0 turns it off', async (t) => {
  // This test's own stdout is whatever tap gave it; the decision is checked in a child whose
  // fd 1 is a shell pipe, then a non-blocking one (python sets O_NONBLOCK before exec).
  const probe = `node -e "import('./dist/lib/pipe-out.js').then(m => process.stderr.write(String(Boolean(m.pipeStdout(process.env)))))"`;
  const blocking = await sh(`${probe} | cat`);
  t.equal(blocking.stderr, 'true', 'a shell pipe');
  const off = await sh(`BX_PIPE_OUT=0 ${probe} | cat`);
  t.equal(off.stderr, 'false', 'BX_PIPE_OUT=0');
  const file = await sh(`${probe} > /dev/null`);
  t.equal(file.stderr, 'false', 'not a FIFO');
  let python = true;
  try {
    execFileSync('python3', ['-c', 'import fcntl']);
  } catch {
    python = false;
  }
  if (!python) t.skip('python3 not found: the non-blocking case is not checked');
  else {
    const nonblock = await sh(
      `python3 -c 'import fcntl, os, sys; fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execvp("bash", ["bash", "-c", sys.argv[1]])' '${probe.replace(/'/g, `'\\''`)}' | cat`,
    );
    t.equal(nonblock.stderr, 'false', 'a non-blocking pipe keeps process.stdout');
  }
  t.equal(pipeStdout({ BX_PIPE_OUT: '0' }), undefined);
});

t.test('a pipe that turns non-blocking: the rest goes through the fallback, in order', async (t) => {
  const dir = tmp(t);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wr = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const fallback = new PassThrough();
  const late: Buffer[] = [];
  fallback.on('data', (d: Buffer) => late.push(d));
  const out = new PipeOut(wr, 256 * 1024, () => fallback);
  const input = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < input.length; i++) input[i] = (i * 31 + (i >> 12)) & 0xff;
  // Written in 100 KiB pieces, as a stage writes blocks; the pipe takes 64 KiB and then says EAGAIN.
  for (let at = 0; at < input.length; at += 100 * 1024) {
    if (!out.write(input.subarray(at, at + 100 * 1024))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const early: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n = 0;
    try {
      n = readSync(rd, buf, 0, buf.length, null);
    } catch {
      break;
    }
    if (n <= 0) break;
    early.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(rd);
  closeSync(wr);
  const pipeBytes = Buffer.concat(early);
  t.ok(pipeBytes.length > 0, 'some went through the pipe');
  t.ok(late.length > 0, 'the rest went through the fallback');
  t.equal(out.bytesWritten, input.length, 'bytesWritten counts what was written, either way');
  t.ok(Buffer.concat([pipeBytes, ...late]).equals(input), 'pipe bytes then fallback bytes are the input, in order');
});
