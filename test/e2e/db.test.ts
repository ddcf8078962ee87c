// bx-db: its own embedded server in a temp directory, a load through it, TLS with a CA file,
// bad credentials, stop.
import { chmodSync, chownSync, copyFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pg from 'pg';
import { sh, tmp } from '../helpers.js';

const dir = tmp(t);
// As root the server runs as "postgres", which must reach the directory (mkdtemp makes it 0700).
chmodSync(dir, 0o755);
const dbDir = join(dir, 'db');
// A configured server must not leak into these commands.
const env = {
  DATABASE_URL: undefined,
  PGHOST: undefined,
  PGPORT: undefined,
  PGUSER: undefined,
  PGDATABASE: undefined,
  PGPASSWORD: undefined,
};
const nd = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';
let url = '';

t.teardown(async () => {
  await sh(`bx-db stop --dir ${dbDir}`);
});

t.test('start prints only the URL, twice the same; status and url', async (t) => {
  const first = await sh(`bx-db start --dir ${dbDir}`, { env });
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres\n$/);
  url = first.stdout.trim();
  const again = await sh(`bx-db start --dir ${dbDir}`, { env });
  t.equal(again.code, 0);
  t.equal(again.stdout.trim(), url, 'a second start finds the running server');
  const status = await sh(`bx-db status --dir ${dbDir}`, { env });
  t.equal(status.code, 0);
  t.match(status.stdout, /^running: pid \d+, postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
  t.notMatch(status.stdout, new URL(url.replace(/^postgres:/, 'http:')).password);
  t.equal((await sh(`bx-db url --dir ${dbDir}`, { env })).stdout.trim(), url);
  t.equal(
    (statSync(join(dbDir, 'bx-db.json')).mode & 0o777).toString(8),
    '600',
    'the state file with the password is private',
  );
  const missing = await sh(`bx-db url --dir ${join(dir, 'none')}`, { env });
  t.equal(missing.code, 69);
  const bad = await sh(`bx-db frobnicate`, { env });
  t.equal(bad.code, 64);
});

t.test('bx-load through the embedded server; bad credentials are exit 78 and never printed', async (t) => {
  const r = await sh(`bx-load --table emb --create`, {
    env: { ...env, DATABASE_URL: url },
    input: nd({ id: 1, v: 'a\tb' }, { id: 2, v: null }),
  });
  t.equal(r.code, 0, r.stderr);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.same((await c.query('SELECT id, v FROM emb ORDER BY id')).rows, [
    { id: 1, v: 'a\tb' },
    { id: 2, v: null },
  ]);
  await c.end();

  const wrong = url.replace(/:[^:@/]+@/, ':Wr0ngPassw0rd@');
  const viaEnv = await sh(`bx-load --table emb`, { env: { ...env, DATABASE_URL: wrong }, input: nd({ id: 3 }) });
  t.equal(viaEnv.code, 78);
  t.match(
    viaEnv.stderr,
    /^bx-load: postgres@127\.0\.0\.1:\d+\/postgres: authentication failed: password authentication failed for user "postgres"/m,
  );
  t.notMatch(viaEnv.stderr, 'Wr0ngPassw0rd');
  const viaArgv = await sh(`bx-load --table emb --db '${wrong}' -v`, { env, input: nd({ id: 3 }) });
  t.equal(viaArgv.code, 78);
  t.match(viaArgv.stderr, /warning: a password on the command line/);
  t.notMatch(viaArgv.stderr, 'Wr0ngPassw0rd');
  const psql = await sh(
    `command -v psql >/dev/null || exit 99; bx-db psql --dir ${dbDir} -- -Atc 'select count(*) from emb'`,
    { env },
  );
  if (psql.code !== 99) t.equal(psql.stdout.trim(), '2', 'bx-db psql runs psql against the server');
});

t.test('sslmode verify-full checks the certificate against the CA file', async (t) => {
  const ssl = join(dir, 'ssl');
  const mk = await sh(
    `set -e; mkdir -p ${ssl}; cd ${ssl}
     for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -subj /CN=bx-test-$ca -days 2 2>/dev/null; done
     openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
     printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext
     openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null`,
  );
  if (mk.code !== 0) {
    t.skip(`openssl could not make certificates: ${mk.stderr}`);
    return;
  }
  const data = join(dbDir, 'data');
  const owner = statSync(data);
  for (const f of ['server.crt', 'server.key']) {
    copyFileSync(join(ssl, f), join(data, f));
    chmodSync(join(data, f), 0o600);
    chownSync(join(data, f), owner.uid, owner.gid);
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`ALTER SYSTEM SET ssl = on`);
  await c.query('SELECT pg_reload_conf()');
  await c.end();
  await new Promise((r) => setTimeout(r, 300));
  const withCa = (ca: string, mode = 'verify-full') => `${url}?sslmode=${mode}&sslrootcert=${join(ssl, ca)}`;
  const ok = await sh(`bx-load --table tls_ok --create`, {
    env: { ...env, DATABASE_URL: withCa('ca.crt') },
    input: nd({ a: 1 }),
  });
  t.equal(ok.code, 0, `verify-full with the right CA: ${ok.stderr}`);
  t.equal(ok.stderr.includes('WARNING'), false, 'no driver warnings on stderr');
  const other = await sh(`bx-load --table tls_ok`, {
    env: { ...env, DATABASE_URL: withCa('other.crt') },
    input: nd({ a: 2 }),
  });
  t.equal(other.code, 78, 'verify-full with another CA fails');
  t.match(other.stderr, /TLS: .*certificate/);
  const req = await sh(`bx-load --table tls_ok`, {
    env: { ...env, DATABASE_URL: withCa('other.crt', 'require') },
    input: nd({ a: 3 }),
  });
  t.equal(req.code, 0, `require encrypts without checking: ${req.stderr}`);
  // The PostgreSQL source opens its own socket before pg loads and answers prefer's SSLRequest
  // itself (openEarly in src/pg/connect.ts): offered TLS, it goes on to TLS over that socket.
  const sslOf = `--query "select ssl from pg_stat_ssl where pid = pg_backend_pid()"`;
  const preferred = await sh(`bx-extract -q ${sslOf}`, { env: { ...env, DATABASE_URL: `${url}?sslmode=prefer` } });
  t.equal(preferred.code, 0, `bx-extract, sslmode=prefer: ${preferred.stderr}`);
  t.equal(preferred.stdout, '{"ssl":true}\n', 'bx-extract: prefer takes TLS when the server offers it');
  const verified = await sh(`bx-extract -q ${sslOf}`, { env: { ...env, DATABASE_URL: withCa('ca.crt') } });
  t.equal(verified.stdout, '{"ssl":true}\n', `bx-extract, verify-full with the right CA: ${verified.stderr}`);
  const refused = await sh(`bx-extract -q ${sslOf}`, { env: { ...env, DATABASE_URL: withCa('other.crt') } });
  t.equal(refused.code, 78, 'bx-extract, verify-full with another CA fails');
  t.match(refused.stderr, /TLS: .*certificate/);
  // sslrootcert=system trusts Node's store plus NODE_EXTRA_CA_CERTS, which the shims move aside
  // at start and src/lib/tls.ts adds back for the connection.
  const system = `${url}?sslmode=verify-full&sslrootcert=system`;
  const extra = await sh(`bx-load --table tls_ok`, {
    env: { ...env, DATABASE_URL: system, NODE_EXTRA_CA_CERTS: join(ssl, 'ca.crt') },
    input: nd({ a: 4 }),
  });
  t.equal(extra.code, 0, `system CAs with the test CA in NODE_EXTRA_CA_CERTS: ${extra.stderr}`);
  const noExtra = await sh(`bx-load --table tls_ok`, {
    env: { ...env, DATABASE_URL: system, NODE_EXTRA_CA_CERTS: join(ssl, 'other.crt') },
    input: nd({ a: 5 }),
  });
  t.equal(noExtra.code, 78, 'system CAs without the test CA fail');
  t.match(noExtra.stderr, /TLS: .*certificate/);
  // A process the command starts (psql here, and its shell) sees NODE_EXTRA_CA_CERTS as it was.
  const child = await sh(
    `command -v psql >/dev/null || exit 99; bx-db psql --dir ${dbDir} -- -Atc '\\! printenv NODE_EXTRA_CA_CERTS BX_DEFERRED_CA_CERTS'`,
    { env: { ...env, NODE_EXTRA_CA_CERTS: join(ssl, 'ca.crt') } },
  );
  if (child.code !== 99)
    t.equal(child.stdout.trim(), `${join(ssl, 'ca.crt')}\n${join(ssl, 'ca.crt')}`, 'children see it');
  writeFileSync(join(ssl, 'empty.crt'), '');
});

t.test('stop stops it; stop again is fine', async (t) => {
  const stop = await sh(`bx-db stop --dir ${dbDir}`, { env });
  t.equal(stop.code, 0, stop.stderr);
  t.equal((await sh(`bx-db status --dir ${dbDir}`, { env })).code, 69);
  t.equal((await sh(`bx-db stop --dir ${dbDir}`, { env })).code, 0);
  const unreachable = await sh(`bx-load --table emb`, { env: { ...env, DATABASE_URL: url }, input: nd({ id: 9 }) });
  t.equal(unreachable.code, 69);
});
