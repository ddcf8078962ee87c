#!/usr/bin/env node
// The start-up build, run after tsc: each command's own modules (dist/commands/<name>.js and
// everything of ours it imports, eagerly or lazily) into one CommonJS file, dist/bundle/<name>.cjs,
// with every npm package but yargs-parser left outside (each is still loaded only where it is used). bin/launch.cjs
// compiles that one file with V8's code cache; then one warm run per command (`--help`) writes
// the cache. Measured by bench/startup.sh: 32 ES modules resolved and compiled one by one cost
// more than the whole 10-row run; one file from the code cache costs a few milliseconds.
//
// Why CommonJS: Node 20 has no code cache for ES modules (module.enableCompileCache is Node 22),
// while vm.Script takes cachedData. The packages that are ES modules only (yargs, hyparquet,
// @nats-io) load through require(), which Node 20.19+ does for modules without top-level await.
// Without esbuild (a production install without dev dependencies) nothing is bundled and the
// launcher imports dist/commands/<name>.js as before.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('bundle: esbuild is not installed; the commands start from dist/commands (slower start-up)');
  rmSync(outdir, { recursive: true, force: true });
  process.exit(0);
}

const names = readdirSync(join(root, 'dist', 'commands'))
  .filter((f) => f.endsWith('.js') && f !== 'index.js')
  .map((f) => f.slice(0, -3));

rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: names.map((n) => join(root, 'dist', 'commands', `${n}.js`)),
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Every package stays outside but yargs-parser, which every run loads: it is an ES module only,
  // and require() of it starts Node's ES module loader (~20 ms); bundled it is plain code.
  external: Object.keys(pkg.dependencies)
    .filter((d) => d !== 'yargs-parser')
    .flatMap((d) => [d, `${d}/*`]),
  // import() of a package becomes require(): a vm.Script can only import() with an experimental
  // flag in Node 20, and require() of an ES module works there.
  supported: { 'dynamic-import': false },
  // The one import.meta.url use (run/cli.ts: ../../package.json) resolves the same from
  // dist/bundle/ as from dist/run/.
  define: { 'import.meta.url': '__bx_url' },
  banner: { js: 'const __bx_url = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
});

// One warm run per command writes its code cache (bin/launch.cjs does it when none is there).
for (const n of names) {
  const bin = join(root, 'bin', n === 'bx' ? 'bx' : `bx-${n}`);
  const r = spawnSync(bin, ['--help'], { stdio: 'ignore', env: { ...process.env, BX_SEAL: '' } });
  if (r.status !== 0) console.error(`bundle: ${bin} --help exited ${r.status ?? r.signal}`);
}
