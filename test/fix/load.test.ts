// Issue 22, bx-load and bx-clean edges whose fixes go into files other branches are changing
// (src/pg/copy-text.ts, src/pg/load.ts, src/commands/{load,clean}.ts). Each test states the
// behaviour the issue asks for; they fail until the wiring described in the wt-fix report lands.
import t from 'tap';
import { databaseUrl, ndjson, sh, tmp } from '../helpers.js';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';

const url = databaseUrl();

async function psql(sql: string): Promise<string> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(sql);
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    return (last.rows ?? []).map((row: Record<string, unknown>) => Object.values(row).join('|')).join('\n');
  } finally {
    await c.end();
  }
}

async function reachable(): Promise<string | false> {
  if (!url) return 'no DATABASE_URL';
  try {
    await psql('SELECT 1');
    return false;
  } catch (err) {
    return `PostgreSQL not reachable: ${(err as Error).message}`;
  }
}

const TABLES = ['bxfix_nul', 'bxfix_key', 'bxfix_long', 'bxfix_wide', 'bxfix_rep', 'bxfix_rej'];
const load = (args: string, input: string) => sh(`bx-load ${args}`, { input, env: { DATABASE_URL: url } });

t.test('bx-load edges', async (t) => {
  const skip = await reachable();
  if (skip) {
    t.skip(skip);
    return;
  }
  const drop = () => psql(`DROP TABLE IF EXISTS ${TABLES.join(', ')}; DROP SCHEMA IF EXISTS bxfix_noschema CASCADE`);
  await drop();
  t.teardown(drop);

  t.test("a NUL or a lone surrogate names the record's _file:_line, not stdin:N", async (t) => {
    await psql('CREATE TABLE bxfix_nul (a text)');
    for (const [what, value] of [
      ['NUL', '\\u0000'],
      ['lone surrogate', '\\ud800'],
    ]) {
      const r = await load(
        '--table bxfix_nul',
        `{"a":"ok","_file":"src.csv","_line":7}\n{"a":"x${value}y","_file":"src.csv","_line":9}\n`,
      );
      t.equal(r.code, 65, `${what}: 65`);
      t.match(r.stderr, /^bx-load: src\.csv:9: field "a": /m, `${what}: ${r.stderr.trim()}`);
    }
    t.equal(await psql('SELECT count(*) FROM bxfix_nul'), '0', 'nothing loaded');
  });

  t.test('an empty key "" is bad data at its line (65), not a usage error', async (t) => {
    const r = await load('--create --table bxfix_key', '{"a":1}\n{"a":2,"":3}\n');
    t.equal(r.code, 65, r.stderr.trim());
    t.match(r.stderr, /^bx-load: stdin:2: field "": /m);
    t.equal(await psql("SELECT to_regclass('bxfix_key') IS NULL"), 'true', 'no table left behind');
  });

  t.test('several over-long column names are all named, with the 63-byte limit', async (t) => {
    const a = 'x'.repeat(70);
    const b = 'y'.repeat(64);
    const r = await load('--create --table bxfix_long', `{"${a}":1,"${b}":2,"ok":3}\n`);
    t.equal(r.code, 65);
    t.match(r.stderr, new RegExp(`"${a}"`), 'the first name');
    t.match(r.stderr, new RegExp(`"${b}"`), 'the second name');
    t.match(r.stderr, /63/, 'the limit');
    t.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/ done: /.test(l)).length,
      1,
      'one line',
    );
  });

  t.test('10,000 fields with --create: a clear 65 before any SQL, nothing left behind', async (t) => {
    const rec: Record<string, number> = {};
    for (let i = 0; i < 10000; i++) rec[`c${i}`] = i;
    const r = await load('--create --table bxfix_wide', JSON.stringify(rec) + '\n');
    t.equal(r.code, 65, r.stderr.trim().slice(0, 200));
    t.match(r.stderr, /stdin:1: .*10000 fields.*1600/);
    t.equal(await psql("SELECT to_regclass('bxfix_wide') IS NULL"), 'true', 'no table left behind');
  });

  t.test('--create into a schema that does not exist: 78 naming it, nothing left behind', async (t) => {
    const r = await load('--create --table bxfix_noschema.t', '{"a":1}\n');
    t.equal(r.code, 78, r.stderr.trim());
    t.match(r.stderr, /schema "bxfix_noschema" does not exist/);
    t.equal(await psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'bxfix_noschema'"), '0');
  });

  t.test('--mode replace with no input refuses (65) unless --allow-empty', async (t) => {
    await psql('CREATE TABLE bxfix_rep (a int); INSERT INTO bxfix_rep VALUES (1), (2)');
    const r = await load('--mode replace --table bxfix_rep', '');
    t.equal(r.code, 65, r.stderr.trim());
    t.match(r.stderr, /no records.*--allow-empty/);
    t.equal(await psql('SELECT count(*) FROM bxfix_rep'), '2', 'the table keeps its rows');
    const ok = await load('--mode replace --allow-empty --table bxfix_rep', '');
    t.equal(ok.code, 0, ok.stderr.trim());
    t.equal(await psql('SELECT count(*) FROM bxfix_rep'), '0', '--allow-empty empties it');
  });

  t.test('--rejects FILE --max-rejects N: rows the server refuses go to the file', async (t) => {
    const dir = tmp(t);
    const rej = join(dir, 'rej.ndjson');
    await psql('CREATE TABLE bxfix_rej (a int)');
    const r = await load(`--table bxfix_rej --rejects ${rej} --max-rejects 5`, '{"a":1}\n{"a":"x"}\n{"a":3}\n');
    t.equal(r.code, 0, r.stderr.trim());
    t.equal(await psql("SELECT string_agg(a::text, ',' ORDER BY a) FROM bxfix_rej"), '1,3', 'the good rows loaded');
    t.ok(existsSync(rej), 'a rejects file');
    const rows = existsSync(rej) ? ndjson(readFileSync(rej, 'utf8')) : [];
    t.equal(rows.length, 1, 'one reject');
    t.match(JSON.stringify(rows[0] ?? {}), /stdin.*2|"line":2/, 'the reject names its line');
    const over = await load(`--table bxfix_rej --rejects ${rej} --max-rejects 0`, '{"a":"y"}\n');
    t.equal(over.code, 65, 'past --max-rejects: 65');
    t.equal(await psql('SELECT count(*) FROM bxfix_rej'), '2', 'nothing of the failed load');
  });
});

t.test('bx-clean --timezone ZONE: datetimes without an offset are local times there, written in UTC', async (t) => {
  const r = await sh('bx-clean --type ts:datetime --timezone Europe/Paris', {
    input: '{"ts":"2026-01-15 12:00:00"}\n{"ts":"2026-07-15 12:00:00"}\n{"ts":"2026-07-15T12:00:00Z"}\n',
  });
  t.equal(r.code, 0, r.stderr.trim());
  t.same(ndjson(r.stdout), [
    { ts: '2026-01-15T11:00:00Z' },
    { ts: '2026-07-15T10:00:00Z' },
    { ts: '2026-07-15T12:00:00Z' },
  ]);
  const bad = await sh('bx-clean --type ts:datetime --timezone Mars/Olympus', {
    input: '{"ts":"2026-01-15 12:00:00"}\n',
  });
  t.equal(bad.code, 64, 'an unknown zone is a usage error');
});
