#!/usr/bin/env node
// The start-up build, run after tsc: each command's own modules (dist/commands/<name>.js and
// everything of ours it imports, eagerly or lazily) into one CommonJS file, dist/bundle/<name>.cjs,
// with every npm package but yargs-parser and pg left outside (each is still loaded only where it is
// used). bin/launch.cjs compiles that one file with V8's code cache; then one warm run per command
// writes the cache. Measured by bench/startup.sh: 32 ES modules resolved and compiled one by one cost
// more than the whole 10-row run; one file from the code cache costs a few milliseconds.
//
// Why CommonJS: Node 20 has no code cache for ES modules (module.enableCompileCache is Node 22),
// while vm.Script takes cachedData. The packages that are ES modules only (yargs, hyparquet,
// @nats-io) load through require(), which Node 20.19+ does for modules without top-level await.
// Without esbuild (a production install without dev dependencies) nothing is bundled and the
// launcher imports dist/commands/<name>.js as before.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

// Node's built-in modules that a bare `node` has not loaded by the time our code runs: each costs
// 1-8 ms to compile on first require (zlib and crypto most), and most runs need none of them (a
// CSV file needs no zlib unless it ends in .gz). esbuild turns `import { x } from 'node:zlib'`
// into `import_node_zlib = require("node:zlib")` run when the importing module initialises, and
// every use into `import_node_zlib.x`; so each such require becomes a stand-in that requires the
// module at its first property read. The ones Node has loaded at start (fs, path, events, buffer,
// util, url, timers) stay plain requires.
const eager = new Set(['fs', 'path', 'events', 'buffer', 'util', 'url', 'timers', 'querystring', 'async_hooks']);
const lazyBuiltin = `function __bx_lazy(load) {
  let m;
  const real = () => (m ??= load());
  return new Proxy({}, {
    get: (_, k) => real()[k],
    has: (_, k) => k in real(),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, k) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), k);
      return d && { ...d, configurable: true };
    },
  });
}`;
function lazyBuiltins(file) {
  const src = readFileSync(file, 'utf8');
  const out = src.replace(/(\bimport_[\w$]+ = )require\("(node:)?([a-z_/]+)"\)/g, (all, lhs, node, name) =>
    eager.has(name) || !builtinModules.includes(name) ? all : `${lhs}__bx_lazy(() => require("${node ?? ''}${name}"))`,
  );
  writeFileSync(file, out);
}

// yargs-parser makes a require() at load (`createRequire(import.meta.url)`, for configuration files
// we never ask it to read), which loads node:module (~7 ms). In the bundle the CommonJS require
// of the file does the same job.
const yargsParserRequire = {
  name: 'yargs-parser-require',
  setup(build) {
    build.onLoad({ filter: /yargs-parser[\\/]build[\\/]lib[\\/]index\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const out = src
        .replace("import { createRequire } from 'node:module';", '')
        .replace('const require = createRequire ? createRequire(import.meta.url) : undefined;', '');
      if (out.length === src.length) throw new Error(`bundle: ${args.path} no longer has the createRequire lines`);
      return { contents: out, loader: 'js' };
    });
  },
};

// The packages bundled with our code. yargs-parser: every run loads it, and it is an ES module
// only (require() of it starts Node's ES module loader, ~20 ms). pg (with pg-protocol, pg-types,
// pgpass…): every run that connects to PostgreSQL loads it, and its ~40 files resolved, read and
// compiled one by one cost 19-20 ms CPU against 8-9 ms as one file (its share of the code cache
// comes from the warm run below).
const inside = new Set(['yargs-parser', 'pg']);

rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: names.map((n) => join(root, 'dist', 'commands', `${n}.js`)),
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Every package stays outside but those in `inside` (each is still loaded only where it is used).
  external: [
    ...Object.keys(pkg.dependencies)
      .filter((d) => !inside.has(d))
      .flatMap((d) => [d, `${d}/*`]),
    // pg's optional bindings: pg-native only with `pg.native`, pg-cloudflare only on Workers.
    'pg-native',
    'pg-cloudflare',
  ],
  // import() of a package becomes require(): a vm.Script can only import() with an experimental
  // flag in Node 20, and require() of an ES module works there.
  supported: { 'dynamic-import': false },
  // The one import.meta.url use (run/cli.ts: ../../package.json) resolves the same from
  // dist/bundle/ as from dist/run/.
  define: { 'import.meta.url': '__bx_url' },
  banner: { js: `const __bx_url = require("node:url").pathToFileURL(__filename).href;\n${lazyBuiltin}` },
  plugins: [yargsParserRequire],
  logLevel: 'warning',
});
for (const n of names) lazyBuiltins(join(outdir, `${n}.cjs`));

// One warm run per command writes its code cache (bin/launch.cjs does it when none is there):
// the cache holds the functions that run compiled. `--help`, but bx-extract runs a query against a
// socket that is not there, so pg's modules, its Client and the connect path are in the cache too
// (with pg bundled, a `select 1` extract took 62-71 ms CPU against 90-91 ms before: perf stat, 10 runs); it ends with 69 (no server), which is expected.
const warm = {
  extract: { argv: ['-q', '--db', 'host=/nonexistent/bx-warm-run dbname=x user=x', '--query', 'select 1'], status: 69 },
};
for (const n of names) {
  const bin = join(root, 'bin', n === 'bx' ? 'bx' : `bx-${n}`);
  const { argv, status } = warm[n] ?? { argv: ['--help'], status: 0 };
  // Only the variables a run needs: no run log, metrics or PostgreSQL settings of the caller's.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BX_SEAL: '' };
  const r = spawnSync(bin, argv, { stdio: 'ignore', env });
  if (r.status !== status) console.error(`bundle: ${bin} ${argv.join(' ')} exited ${r.status ?? r.signal}`);
}
