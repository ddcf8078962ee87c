'use strict';
// The start of every bx command (bin/bx-<name> calls run(name)). Start-up is paid by every stage
// of every pipe, every cron night and every test, so this file loads only what it must:
// - `--version` is answered from package.json, before any of the command's code;
// - otherwise dist/bundle/<name>.cjs (scripts/bundle.mjs: the command's modules in one file) is
//   compiled with V8's code cache, dist/bundle/<name>.cjs.<node version>-<flags>.cache, written
//   by the first run that finds none (or finds one V8 refuses) and by the build's warm run;
// - with no bundle, or one older than tsc's output (a build that ran tsc alone), the ES modules
//   in dist/commands/ are imported as they are: slower to start, never stale.
// - NODE_EXTRA_CA_CERTS is read when a TLS connection needs it, not at start (below).
// Measured by bench/startup.sh against bare `node -e 0`.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

exports.run = function run(name) {
  // The shims start node with NODE_EXTRA_CA_CERTS unset (Node 20 parses that file before any
  // JavaScript runs, ~45 ms with a system bundle) and its value in BX_DEFERRED_CA_CERTS: the TLS
  // connections that verify a server add those certificates (src/lib/tls.ts); the environment
  // is put back for child processes.
  const deferred = process.env.BX_DEFERRED_CA_CERTS;
  if (deferred) process.env.NODE_EXTRA_CA_CERTS = deferred;
  else delete process.env.BX_DEFERRED_CA_CERTS;
  const argv = process.argv.slice(2);
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version + '\n');
    return;
  }
  const modular = path.join(root, 'dist', 'commands', `${name}.js`);
  const bundle = path.join(root, 'dist', 'bundle', `${name}.cjs`);
  const main = fresh(bundle, modular) ? fromBundle(bundle) : undefined;
  const started = main ? Promise.resolve(main(argv)) : import(modular).then((m) => m.main(argv));
  started.then((code) => {
    process.exitCode = code;
  });
};

function fresh(bundle, modular) {
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(modular).mtimeMs;
  } catch {
    return false;
  }
}

function fromBundle(bundle) {
  const vm = require('node:vm');
  const flags = process.execArgv.join(' ').replace(/[^A-Za-z0-9=.-]+/g, '_');
  const cacheFile = `${bundle}.${process.version}${flags ? `-${flags}` : ''}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // Module.wrap's wrapper, written out: require('node:module') itself costs ~7 ms to load. The
  // bundle's requires are packages and Node's modules, which resolve the same from bin/ as from
  // dist/bundle/ (one node_modules above both), so this file's own require serves.
  const source = `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(bundle, 'utf8')}\n});`;
  const script = new vm.Script(source, { filename: bundle, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, bundle, path.dirname(bundle));
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the run, so the cache holds the functions the run compiled; a directory the user
    // cannot write (a system-wide install) just means no cache.
    process.once('beforeExit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        // no cache this time
      }
    });
  }
  return mod.exports.main;
}
