// Issue 22: every connection string form libpq accepts, parsed as libpq parses it, and the
// socket forms connected for real (the local server's socket is in /var/run/postgresql).
import { existsSync } from 'node:fs';
import t from 'tap';
import { ExitCode } from '../../src/lib/errors.js';
import { connect, parseConninfo, resolveTarget } from '../../src/pg/connect.js';

const SOCKET_DIR = '/var/run/postgresql';

t.test('URIs: schemes, percent-encoded hosts, host lists, parameters', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['postgresql://', {}],
    ['postgres://', {}],
    ['postgresql://localhost', { host: 'localhost' }],
    ['postgresql://localhost:5433', { host: 'localhost', port: '5433' }],
    ['postgresql://localhost/mydb', { host: 'localhost', dbname: 'mydb' }],
    ['postgresql://user@localhost', { user: 'user', host: 'localhost' }],
    ['postgresql://user:secret@localhost', { user: 'user', password: 'secret', host: 'localhost' }],
    [
      'postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp',
      { user: 'other', host: 'localhost', dbname: 'otherdb', connect_timeout: '10', application_name: 'myapp' },
    ],
    [
      'postgresql://host1:123,host2:456/somedb?target_session_attrs=any',
      { host: 'host1,host2', port: '123,456', dbname: 'somedb', target_session_attrs: 'any' },
    ],
    ['postgresql:///mydb?host=localhost&port=5433', { dbname: 'mydb', host: 'localhost', port: '5433' }],
    ['postgresql://[2001:db8::1234]/database', { host: '2001:db8::1234', dbname: 'database' }],
    ['postgresql://[::1]:5/db', { host: '::1', port: '5', dbname: 'db' }],
    ['postgresql://%2Fvar%2Frun%2Fpostgresql/test', { host: '/var/run/postgresql', dbname: 'test' }],
    ['postgresql://%2fvar%2frun%2fpostgresql:5432/test', { host: '/var/run/postgresql', port: '5432', dbname: 'test' }],
    ['postgresql:///test?host=/var/run/postgresql', { dbname: 'test', host: '/var/run/postgresql' }],
    [
      'postgresql:///test?host=%2Fvar%2Frun%2Fpostgresql&user=postgres',
      { dbname: 'test', host: '/var/run/postgresql', user: 'postgres' },
    ],
    ['postgresql://u:p%40ss@h/d%20b', { user: 'u', password: 'p@ss', host: 'h', dbname: 'd b' }],
    ['postgresql://u:a@b@h/d', { user: 'u', password: 'a@b', host: 'h', dbname: 'd' }],
    ['postgresql://h/d?application_name=a+b', { host: 'h', dbname: 'd', application_name: 'a+b' }],
    ['postgresql://h/d?database=x', { host: 'h', dbname: 'x' }],
    ['postgresql://h/d?ssl=true', { host: 'h', dbname: 'd', sslmode: 'require' }],
    ['POSTGRESQL://h', { host: 'h' }],
  ];
  for (const [uri, want] of cases) t.same(parseConninfo(uri, 'x'), want, uri);
  for (const bad of ['postgresql://h/%zz', 'postgresql://h/a%00b', 'postgresql://[::1/d', 'postgresql://h/d?novalue']) {
    t.throws(() => parseConninfo(bad, '--db'), { exitCode: ExitCode.Config, message: /^--db: / }, bad);
  }
});

t.test('key=value strings: spacing, quotes, backslashes, empty values', async (t) => {
  const cases: [string, Record<string, string>][] = [
    [
      'host=localhost port=5432 dbname=mydb connect_timeout=10',
      { host: 'localhost', port: '5432', dbname: 'mydb', connect_timeout: '10' },
    ],
    ['host = /var/run/postgresql   dbname = test', { host: '/var/run/postgresql', dbname: 'test' }],
    ["dbname='my db' user=k", { dbname: 'my db', user: 'k' }],
    ["password='it\\'s' user=k", { password: "it's", user: 'k' }],
    ["password='a\\\\b'", { password: 'a\\b' }],
    ["options=''", { options: '' }],
    ['password=x\\ y', { password: 'x y' }],
    ["password=o'neil", { password: "o'neil" }],
    ['  host=h\n\tport=1  ', { host: 'h', port: '1' }],
    ['host=a,b port=1,2', { host: 'a,b', port: '1,2' }],
  ];
  for (const [text, want] of cases) t.same(parseConninfo(text, 'x'), want, JSON.stringify(text));
  for (const bad of ["dbname='open", 'host', 'host=a port', 'mysql://a']) {
    t.throws(() => parseConninfo(bad, '--db'), { exitCode: ExitCode.Config }, JSON.stringify(bad));
  }
});

t.test('host lists resolve to the first host with the rest as alternates', async (t) => {
  t.match(resolveTarget({ db: 'postgresql://a:1,b:2/d' }, {}), {
    host: 'a',
    port: 1,
    alternates: [{ host: 'b', port: 2 }],
  });
  t.match(resolveTarget({ db: 'host=a,b port=7' }, {}), { host: 'a', port: 7, alternates: [{ host: 'b', port: 7 }] });
  t.throws(() => resolveTarget({ db: 'host=a,b,c port=1,2' }, {}), {
    exitCode: ExitCode.Config,
    message: /could not match 2 port numbers to 3 hosts/,
  });
  t.throws(() => resolveTarget({ db: 'host=a port=12x' }, {}), { exitCode: ExitCode.Config });
});

t.test(
  'the socket forms connect to the real server',
  { skip: existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`) ? false : `no PostgreSQL socket in ${SOCKET_DIR}` },
  async (t) => {
    const forms = [
      'postgresql://%2Fvar%2Frun%2Fpostgresql/test',
      'postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/test',
      'postgresql:///test?host=/var/run/postgresql&user=postgres',
      "host=/var/run/postgresql port=5432 dbname='test' user=postgres",
      // An unreachable first host (nothing listens on port 1), then the socket.
      'postgresql://127.0.0.1:1,%2Fvar%2Frun%2Fpostgresql:5432/test?user=postgres',
    ];
    for (const db of forms) {
      const target = resolveTarget({ db }, { PGUSER: 'postgres' });
      let client;
      try {
        client = await connect(target);
      } catch (err) {
        t.fail(`${db}: ${(err as Error).message}`);
        continue;
      }
      const r = await client.query('SELECT current_database() AS db, inet_server_addr() AS addr');
      t.same(r.rows[0], { db: 'test', addr: null }, `${db}: connected over the socket`);
      await client.end();
    }
  },
);
