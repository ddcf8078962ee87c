// The PostgreSQL source's connection (src/pg/connect.ts, connect(t, { early: true })): opened
// before pg loads, sslmode=prefer's SSLRequest answered on it. Against a stand-in server that
// answers N, S or refuses: one connection whatever the answer, the same bytes a connection of
// node-postgres's own sends after it, and the same errors; then against the real server.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { connect, resolveTarget } from '../../src/pg/connect.js';
import { TempFailError, UnavailableError } from '../../src/lib/errors.js';

const SSL_REQUEST = '0000000804d2162f';

/** A server that answers the SSLRequest with `answer`, keeps what each connection sent after it, then closes. */
async function standIn(answer: string): Promise<{ server: Server; port: number; conns: string[] }> {
  const conns: string[] = [];
  const server = createServer((s: Socket) => {
    const i = conns.push('') - 1;
    let answered = false;
    s.on('data', (b) => {
      conns[i] += b.toString('hex');
      if (!answered && conns[i].length >= 16) {
        answered = true;
        s.write(answer);
      }
      // The SSLRequest and a few bytes after it are enough to tell what came next.
      if (conns[i].length >= 16 + 8) s.destroy();
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, conns };
}

const target = (port: number, sslmode: string) =>
  resolveTarget({ db: `postgresql://u@127.0.0.1:${port}/d?sslmode=${sslmode}` }, {});

for (const early of [false, true]) {
  const how = early ? 'early' : 'as bx-load';
  t.test(`${how}: N goes on plain (startup message), S goes on to TLS, each on one connection`, async (t) => {
    const n = await standIn('N');
    await t.rejects(connect(target(n.port, 'prefer'), { early }));
    const plain = n.conns.filter((c) => !c.startsWith(SSL_REQUEST));
    // After N: a startup message (protocol 3.0) on the same connection; node-postgres alone
    // opens a second connection for it.
    t.equal(n.conns[0].slice(0, 16), SSL_REQUEST);
    if (early) {
      t.equal(n.conns.length, 1, 'one connection');
      t.equal(n.conns[0].slice(16 + 8, 16 + 16), '00030000', 'startup after the SSLRequest');
    } else {
      t.equal(n.conns.length, 2, 'two connections');
      t.equal(plain[0].slice(8, 16), '00030000', 'startup on the second');
    }
    n.server.close();

    const s = await standIn('S');
    const err = await connect(target(s.port, 'prefer'), { early }).catch((e) => e);
    t.type(err, TempFailError, 'a TLS handshake cut short: temporary failure');
    t.equal(s.conns.length, 1, 'one connection');
    t.equal(s.conns[0].slice(0, 16), SSL_REQUEST);
    t.equal(s.conns[0].slice(16, 20), '1603', 'a TLS handshake record after S');
    s.server.close();

    // disable: no SSLRequest at all.
    const d = await standIn('N');
    await t.rejects(connect(target(d.port, 'disable'), { early }));
    t.equal(d.conns.length, 1);
    t.equal(d.conns[0].slice(8, 16), '00030000', 'startup first');
    d.server.close();
  });

  t.test(`${how}: a refused port and a bad host are the same errors`, async (t) => {
    const gone = await standIn('N');
    const port = gone.port;
    await new Promise((r) => gone.server.close(r));
    const refused = await connect(target(port, 'prefer'), { early }).catch((e) => e);
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
t.test('early: a query on the real server, over the kept connection', async (t) => {
  let client;
  try {
    client = await connect(resolveTarget({ db: PG }, {}), { early: true });
  } catch (err) {
    t.skip(`no PostgreSQL at ${PG}: ${(err as Error).message}`);
    return;
  }
  const r = await client.query('select 1 + 1 as two');
  t.same(r.rows, [{ two: 2 }]);
  await client.end();
});
