#!/usr/bin/env node
// The test command behind `make test` and `npm test`: builds nothing itself (pretest/make do),
// finds a PostgreSQL (the configured one, else the embedded one via bx-db), runs node-tap,
// and ends with the plain line `N passed, N failed` that CI reads.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
delete env.BX_SEAL;

const configured = Boolean(
  env.DATABASE_URL || env.PGHOST || env.PGDATABASE || env.PGPORT || env.PGUSER || env.PGSERVICE,
);
let embedded = false;
if (!configured) {
  const dir = join(root, '.bx', 'test-db');
  const r = spawnSync(join(root, 'bin', 'bx-db'), ['start', '--dir', dir], { encoding: 'utf8', env });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    console.error('run-tests: could not start the embedded PostgreSQL');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  env.DATABASE_URL = r.stdout.trim();
  embedded = true;
  console.log(
    `run-tests: using the embedded PostgreSQL at ${env.DATABASE_URL.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@')}`,
  );
} else {
  console.log(`run-tests: using the configured PostgreSQL (${env.DATABASE_URL ? 'DATABASE_URL' : 'PG* variables'})`);
}
env.BX_TEST_EMBEDDED_PRIMARY = embedded ? '1' : '';

const args = process.argv.slice(2);

// npm run lint (tsc --noEmit, prettier --check) first, counted as one test, so that a type or
// format error fails the run with the same closing line. Skipped when tap is given test files.
let lintFailed = 0;
if (args.length === 0) {
  const lint = spawnSync('npm', ['run', '--silent', 'lint'], {
    cwd: root,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (lint.status === 0) console.log('run-tests: lint ok (tsc --noEmit, prettier --check)');
  else {
    lintFailed = 1;
    console.log('run-tests: lint FAILED (see above: npm run lint)');
  }
}
const tap = spawn(join(root, 'node_modules', '.bin', 'tap'), args, {
  cwd: root,
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let tail = '';
tap.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4096);
});
const code = await new Promise((r) => tap.on('close', (c) => r(c ?? 1)));

if (embedded)
  spawnSync(join(root, 'bin', 'bx-db'), ['stop', '--dir', join(root, '.bx', 'test-db')], { env, stdio: 'ignore' });

const m = /# \{([^}]*)\}/.exec(tail.slice(tail.lastIndexOf('# {')));
const counts = Object.fromEntries(
  (m?.[1] ?? '')
    .split(',')
    .map((kv) => kv.split(':').map((s) => s.trim()))
    .filter((kv) => kv.length === 2)
    .map(([k, v]) => [k, Number(v)]),
);
const passed = (counts.pass ?? 0) + (args.length === 0 && !lintFailed ? 1 : 0);
let failed = (counts.fail ?? 0) + lintFailed;
// A crashed runner, or a non-zero exit with no failure counted, is still a failure.
if (code !== 0 && failed === 0) failed = 1;
const skipped = (counts.skip ?? 0) + (counts.todo ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(code === 0 && failed === 0 ? 0 : 1);
