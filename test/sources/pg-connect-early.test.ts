// The PostgreSQL source's connection (src/pg/connect.ts, connect(t, { early: true })): opened
// before pg loads, sslmode=prefer's SSLRequest answered on it. Against the real server (no TLS
// here: the N answer, the startup message on the same socket) and a closed port; the S answer
// (TLS on the same socket) is tested against a server with TLS on in test/e2e/db.test.ts.
import t from 'tap';
import { createServer } from 'node:net';
import { connect, resolveTarget } from '../../src/pg/connect.js';
import { UnavailableError } from '../../src/lib/errors.js';

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

for (const early of [false, true]) {
  const how = early ? 'early' : 'as bx-load';
  t.test(`${how}: a refused port and a bad host are the same errors`, async (t) => {
    const port = await closedPort();
    const refused = await connect(resolveTarget({ db: `postgresql://u@127.0.0.1:${port}/d` }, {}), { early }).catch(
      (e) => e,
    );
    t.type(refused, UnavailableError);
    t.match(refused.message, /127\.0\.0\.1:\d+\/d: connection refused/);
    const unknown = await connect(resolveTarget({ db: 'postgresql://u@nosuchhost.invalid/d' }, {}), { early }).catch(
      (e) => e,
    );
    t.type(unknown, UnavailableError);
    t.match(unknown.message, /no such host/);
  });
}

const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
for (const sslmode of ['prefer', 'disable', 'allow']) {
  t.test(`early, sslmode=${sslmode}: a query on the real server, over the kept connection`, async (t) => {
    const db = `${PG}${PG.includes('?') ? '&' : '?'}sslmode=${sslmode}`;
    let client;
    try {
      client = await connect(resolveTarget({ db }, {}), { early: true });
    } catch (err) {
      t.skip(`no PostgreSQL at ${PG}: ${(err as Error).message}`);
      return;
    }
    const r = await client.query(
      'select 1 + 1 as two, (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl',
    );
    t.equal(r.rows[0].two, 2);
    t.type(r.rows[0].ssl, 'boolean');
    await client.end();
  });
}
