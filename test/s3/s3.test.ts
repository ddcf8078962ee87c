// s3:// paths end to end against a real S3 HTTP server (s3rver, a devDependency, started here as
// its own process on a free loopback port): the lake written to S3 and read back equals the same
// input through a local lake; a re-run replaces exactly its partitions; SIGKILL at every durable
// step leaves each partition wholly old or wholly new; csv/ndjson objects round trip; and every
// failure is one line with its sysexits code. Without s3rver the tests skip, saying why.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { checkKilledLake, ndjson, root, sh, shared } from '../helpers.js';

type Sdk = typeof import('@aws-sdk/client-s3');

/** s3rver in a child process; its port, or why it could not start. */
async function startServer(dir: string): Promise<{ child: ChildProcess; port: number } | string> {
  try {
    await import('s3rver' as string);
  } catch (err) {
    return `s3rver (devDependency) is not installed: ${(err as Error).message.split('\n')[0]}`;
  }
  const child = spawn(
    process.execPath,
    // (test/s3/s3rver.cjs says why the legacy OpenSSL provider.)
    ['--openssl-legacy-provider', join(root, 'test', 's3', 's3rver.cjs'), dir, 'lake', 'other'],
    // tap's NODE_OPTIONS hooks are not for this child.
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill();
      resolve(`s3rver did not start within 20 s: ${err.trim()}`);
    }, 20_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(`s3rver exited (${code}) before listening: ${err.trim()}`);
    });
  });
}

const serverDir = mkdtempSync(join(tmpdir(), 'bx-s3rver-'));
const server = await startServer(serverDir);
t.teardown(() => {
  if (typeof server !== 'string') server.child.kill('SIGTERM');
  rmSync(serverDir, { recursive: true, force: true });
});
if (typeof server === 'string') {
  t.skip(`S3 tests need a real S3 server: ${server}`);
} else {
  await suite(server.port);
}

async function suite(port: number) {
  const endpoint = `http://127.0.0.1:${port}`;
  // Never the instance metadata service (a link-local address): credentials are given here.
  const env: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: undefined,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_SESSION_TOKEN: undefined,
    AWS_REGION: 'us-east-1',
    AWS_PROFILE: undefined,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  Object.assign(process.env, env); // the in-process reader below uses the same server
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'; // as lib/s3.ts does
  const sdk: Sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const run = (cmd: string, extra: Record<string, string | undefined> = {}) => sh(cmd, { env: { ...env, ...extra } });
  const keys = async (bucket: string, prefix: string) => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) out.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  };
  const getText = async (bucket: string, key: string) =>
    (await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  const put = (bucket: string, key: string, body: string | Buffer) =>
    client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const sorted = (text: string) => text.split('\n').filter(Boolean).sort().join('\n');

  const dir = mkdtempSync(join(tmpdir(), 'bx-s3-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sales = join(dir, 'sales.ndjson');
  writeFileSync(sales, (await sh(`node bench/gen-sales.mjs 3000 ndjson`)).stdout);

  await t.test(
    'a lake written to S3 reads back record for record as the same input through a local lake',
    async (t) => {
      const w = await run(`bx-load --to parquet --path s3://lake/sales --partition-by sale_date ${sales}`);
      t.equal(w.code, 0, w.stderr);
      t.match(w.stderr, /3000 out, .*Parquet files in 28 partitions under s3:\/\/lake\/sales/);
      const l = await run(`bx-load -q --to parquet --path ${dir}/local --partition-by sale_date ${sales}`);
      t.equal(l.code, 0, l.stderr);
      const fromS3 = await run(`bx-extract -q s3://lake/sales/`);
      const fromLocal = await run(`bx-extract -q ${dir}/local/`);
      t.equal(fromS3.code, 0, fromS3.stderr);
      t.equal(ndjson(fromS3.stdout).length, 3000);
      t.equal(fromS3.stdout, fromLocal.stdout, 'the same records in the same order, byte for byte');
      // The layout docs/lake.md describes: per partition one manifest and one version; the lock gone.
      const k = await keys('lake', 'sales/');
      const day = k.filter((x) => x.startsWith('sales/sale_date=2026-11-05/'));
      t.equal(day.length, 2);
      t.match(day[0], /^sales\/sale_date=2026-11-05\/_manifest\.json$/);
      t.match(day[1], /^sales\/sale_date=2026-11-05\/_v\/[^/]+\/part-[^/]+-0\.parquet$/);
      t.notOk(
        k.some((x) => x.includes('_bx/')),
        'no lock left',
      );
      const m = JSON.parse(await getText('lake', day[0]));
      t.equal(m.bx, 'lake-manifest');
      t.equal(m.files.length, 1);
      t.equal(`sales/sale_date=2026-11-05/${m.files[0].key}`, day[1]);
      // --columns, a hive field, and a prefix without the trailing slash; one object by its key.
      const c = await run(`bx-extract -q s3://lake/sales --columns sale_id,sale_date | head -n 1`);
      t.match(c.stdout, /^\{"sale_id":\d+,"sale_date":"2026-11-01"\}\n$/);
      const one = await run(`bx-extract -q --lineage s3://lake/${day[1]} | head -n 1`);
      t.match(
        one.stdout,
        /"sale_date":"2026-11-05","_file":"s3:\/\/lake\/sales\/sale_date=2026-11-05\/_v\/.*","_line":1\}/,
      );
    },
  );

  await t.test('DuckDB reads the objects the manifests name and agrees with the input', async (t) => {
    let duck: { rows: (sql: string) => Promise<Record<string, unknown>[]> };
    try {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const c = await (await DuckDBInstance.create(':memory:')).connect();
      duck = { rows: async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[] };
    } catch (err) {
      return t.skip(`@duckdb/node-api (dev-only oracle) cannot load: ${(err as Error).message}`);
    }
    // DuckDB's S3 support is an extension it downloads; the objects are fetched here instead.
    const copy = join(dir, 'fetched');
    for (const key of (await keys('lake', 'sales/')).filter((k) => k.endsWith('.parquet'))) {
      const o = await client.send(new sdk.GetObjectCommand({ Bucket: 'lake', Key: key }));
      const path = join(copy, key.replace(/\/_v\/[^/]+\//, '/'));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, await o.Body!.transformToByteArray());
    }
    const got = await duck.rows(
      `SELECT sale_date::VARCHAR d, count(*)::INTEGER n, sum(quantity)::VARCHAR q, sum(unit_price)::VARCHAR p
       FROM read_parquet('${copy}/sales/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1`,
    );
    const want = new Map<string, { n: number; q: bigint; p: bigint }>();
    for (const r of ndjson(readFileSync(sales, 'utf8'))) {
      const w = want.get(String(r.sale_date)) ?? { n: 0, q: 0n, p: 0n };
      w.n++;
      w.q += BigInt(String(r.quantity));
      w.p += BigInt(String(r.unit_price).replace('.', ''));
      want.set(String(r.sale_date), w);
    }
    t.same(
      got,
      [...want].sort().map(([d, w]) => ({
        d,
        n: w.n,
        q: String(w.q),
        p: `${w.p / 100n}.${String(w.p % 100n).padStart(2, '0')}`,
      })),
      'per day: count, sum of quantity, exact sum of the DECIMAL prices',
    );
  });

  await t.test('a re-run replaces exactly its partition; the other partitions keep their objects', async (t) => {
    const before = await keys('lake', 'sales/');
    const day = join(dir, 'day.ndjson');
    writeFileSync(
      day,
      ndjson(readFileSync(sales, 'utf8'))
        .filter((r) => r.sale_date === '2026-11-05')
        .slice(0, 3)
        .map((r) => JSON.stringify({ ...r, payment: 'rerun' }) + '\n')
        .join(''),
    );
    const w = await run(`bx-load -q --to parquet --path s3://lake/sales --partition-by sale_date ${day}`);
    t.equal(w.code, 0, w.stderr);
    const after = await keys('lake', 'sales/');
    const inDay = (k: string) => k.startsWith('sales/sale_date=2026-11-05/');
    t.same(
      after.filter((k) => !inDay(k)),
      before.filter((k) => !inDay(k)),
      'other partitions untouched',
    );
    const dayKeys = after.filter(inDay);
    t.equal(dayKeys.length, 2, 'one manifest, one new version: the old one deleted');
    t.notSame(dayKeys, before.filter(inDay));
    const r = await run(`bx-extract -q s3://lake/sales/ --columns sale_date,payment`);
    const recs = ndjson(r.stdout);
    t.equal(
      recs.length,
      3000 - (ndjson(readFileSync(sales, 'utf8')).filter((x) => x.sale_date === '2026-11-05').length - 3),
    );
    t.same(
      recs.filter((x) => x.sale_date === '2026-11-05').map((x) => x.payment),
      ['rerun', 'rerun', 'rerun'],
    );
  });

  await t.test(
    'a lake rewrite killed at any durable step leaves each partition wholly old or wholly new',
    async (t) => {
      const old: Record<string, unknown>[] = [];
      const neu: Record<string, unknown>[] = [];
      for (let i = 0; i < 150; i++) old.push({ id: i, sale_date: `2026-11-2${i % 3}`, name: 'old' });
      for (let i = 0; i < 200; i++) neu.push({ id: 1000 + i, sale_date: `2026-11-2${1 + (i % 3)}`, name: 'new' });
      const lines = (recs: unknown[]) => recs.map((r) => JSON.stringify(r) + '\n').join('');
      writeFileSync(join(dir, 'old.ndjson'), lines(old));
      writeFileSync(join(dir, 'new.ndjson'), lines(neu));
      writeFileSync(
        join(dir, 'k.schema.json'),
        JSON.stringify({
          fields: [
            { name: 'id', type: 'integer' },
            { name: 'sale_date', type: 'date' },
            { name: 'name', type: 'string' },
          ],
        }),
      );
      const oldBy = group(old);
      const newBy = group(neu);
      const load = (lake: string, input: string, extra: Record<string, string> = {}) =>
        run(
          `bx-load -q --to parquet --path s3://lake/${lake} --partition-by sale_date --row-group-size 40 --schema ${dir}/k.schema.json ${dir}/${input}`,
          extra,
        );
      const seed = await load('kill/seed', 'old.ndjson');
      t.equal(seed.code, 0, seed.stderr);
      const seedKeys = await keys('lake', 'kill/seed/');
      const { ParquetSource } = await import('../../src/sources/parquet.js');
      const { s3LakeFiles } = await import('../../src/formats/parquet-files.js');
      const read = async (lake: string) => {
        const recs: Record<string, unknown>[] = [];
        const url = `s3://lake/${lake}/`;
        const src = new ParquetSource(url, ['id', 'sale_date'], false, await s3LakeFiles(url, env));
        for await (const b of src.batches({ log: undefined as never, reject: () => {} })) recs.push(...b.records);
        return group(recs);
      };
      let kills = 0;
      for (let k = 1; k <= 60; k++) {
        const lake = `kill/k${k}`;
        for (const key of seedKeys)
          await client.send(
            new sdk.CopyObjectCommand({
              Bucket: 'lake',
              CopySource: `lake/${key}`,
              Key: key.replace('kill/seed/', `${lake}/`),
            }),
          );
        const b = await load(lake, 'new.ndjson', { BX_TEST_KILL_AT: String(k) });
        if (b.code === 0) break;
        t.ok(b.code === 137 || b.code === 128, `killed at step ${k} (exit ${b.code})`);
        kills++;
        const seen = await read(lake);
        checkKilledLake(
          t,
          k,
          ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'],
          '2026-11-20',
          seen,
          oldBy,
          newBy,
        );
        // Every other kill: the next run takes the dead run's lock, removes its uploads, completes.
        if (k % 2 !== 1) continue;
        const c = await load(lake, 'new.ndjson');
        t.equal(c.code, 0, c.stderr);
        t.same(
          await read(lake),
          { ...oldBy, ...newBy, '2026-11-20': oldBy['2026-11-20'] },
          `kill ${k}: the re-run gives the new partitions`,
        );
        const left = await keys('lake', `${lake}/`);
        const versions = new Set(
          left.map((x) => /^(.*)\/_v\/([^/]+)\//.exec(x)?.slice(1, 3).join(' ')).filter(Boolean),
        );
        t.equal(versions.size, 4, `kill ${k}: one version per partition (${[...versions].join(', ')})`);
        t.notOk(
          left.some((x) => x.includes('/_bx/')),
          `kill ${k}: no lock left`,
        );
      }
      t.ok(kills >= 12, `${kills} kill points`);
    },
  );

  await t.test('csv, csv.gz and ndjson objects round trip; a failed run leaves the object as it was', async (t) => {
    const superstore = shared('superstore.csv');
    const want = await sh(`bx-extract -q ${superstore}`);
    const w = await run(
      `bx-extract -q ${superstore} | bx-load --to csv --path s3://other/out/superstore.csv && bx-extract -q ${superstore} | bx-load -q --to csv --path s3://other/out/superstore.csv.gz && bx-extract -q ${superstore} | bx-load -q --to ndjson --path s3://other/out/superstore.ndjson`,
    );
    t.equal(w.code, 0, w.stderr);
    t.match(w.stderr, /10194 out, .*wrote s3:\/\/other\/out\/superstore\.csv/);
    for (const name of ['superstore.csv', 'superstore.csv.gz', 'superstore.ndjson']) {
      const back = await run(`bx-extract -q s3://other/out/${name}`);
      t.equal(back.code, 0, back.stderr);
      t.equal(back.stdout, want.stdout, `${name}: the same records, byte for byte`);
    }
    const gz = await client.send(new sdk.GetObjectCommand({ Bucket: 'other', Key: 'out/superstore.csv.gz' }));
    t.match(gunzipSync(await gz.Body!.transformToByteArray()).toString('utf8'), /^Row ID,Order ID,/);
    // A bad line mid-input: the upload is aborted, the object keeps its old bytes, no new object.
    await put('other', 'out/kept.csv', 'old\n');
    const b = await sh(`printf '{"a":1}\\n{bad\\n' | bx-load --to csv --path s3://other/out/kept.csv`, { env });
    t.equal(b.code, 65);
    t.equal(await getText('other', 'out/kept.csv'), 'old\n');
    const f = await sh(`printf '{"a":1}\\n{bad\\n' | bx-load --to csv --path s3://other/out/fresh.csv`, { env });
    t.equal(f.code, 65);
    t.notOk((await keys('other', 'out/')).includes('out/fresh.csv'), 'no object for a failed run');
  });

  await t.test('an object over 8 MiB goes up in parts; a failure after some parts leaves no object', async (t) => {
    const big = join(dir, 'big.ndjson');
    writeFileSync(big, (await sh(`node bench/gen-sales.mjs 120000 ndjson`)).stdout);
    const w = await run(
      `bx-load -q --to csv --path s3://other/big/sales.csv ${big} && bx-load -q --to csv --path ${dir}/big.csv ${big}`,
    );
    t.equal(w.code, 0, w.stderr);
    const h = await client.send(new sdk.HeadObjectCommand({ Bucket: 'other', Key: 'big/sales.csv' }));
    t.ok(Number(h.ContentLength) > 8 * 1024 * 1024, `${h.ContentLength} bytes: more than one 8 MiB part`);
    // (lib-storage uploads a body over partSize in parts; s3rver's ETag of the result is a plain MD5.)
    const back = await run(`bx-extract -q s3://other/big/sales.csv | md5sum`);
    t.equal(back.stdout, (await sh(`bx-extract -q ${dir}/big.csv | md5sum`)).stdout, 'the same records');
    const f = await run(`(cat ${big}; echo '{bad') | bx-load -q --to csv --path s3://other/big/failed.csv`);
    t.equal(f.code, 65);
    t.same(await keys('other', 'big/'), ['big/sales.csv'], 'no object for the failed upload');
  });

  await t.test('a prefix another tool wrote (plain Parquet, no manifest) is read as listed', async (t) => {
    const l = await run(`bx-load -q --to parquet --path ${dir}/plain --partition-by sale_date ${sales}`);
    t.equal(l.code, 0, l.stderr);
    const files = (
      await sh(`cd ${dir}/plain && find -L . -path './.*' -prune -o -name '*.parquet' -print | sort`)
    ).stdout
      .split('\n')
      .filter(Boolean);
    for (const f of files) {
      const key = `tool/sales/${f.slice(2).replace(/\/part-[^/]+$/, '/data.parquet')}`;
      await put('other', key, readFileSync(join(dir, 'plain', f)));
    }
    await put('other', 'tool/sales/_SUCCESS', '\n');
    const r = await run(`bx-extract -q s3://other/tool/sales/`);
    t.equal(r.code, 0, r.stderr);
    t.equal(sorted(r.stdout), sorted((await run(`bx-extract -q ${dir}/plain/`)).stdout));
    // bx-load may replace those partitions (their plain files go after the swap)…
    const w = await run(`bx-load -q --to parquet --path s3://other/tool/sales --partition-by sale_date ${sales}`);
    t.equal(w.code, 0, w.stderr);
    t.notOk(
      (await keys('other', 'tool/sales/')).some((k) => k.endsWith('/data.parquet')),
      'plain files replaced',
    );
    t.equal(sorted((await run(`bx-extract -q s3://other/tool/sales/`)).stdout), sorted(r.stdout));
    // …but never a prefix holding other things (73), and the run leaves nothing behind.
    await put('other', 'docs/readme.txt', 'keep me');
    const d = await run(`bx-load -q --to parquet --path s3://other/docs ${sales}`);
    t.equal(d.code, 73);
    t.match(d.stderr, /s3:\/\/other\/docs\/readme\.txt is not a Parquet object or partition/);
    t.same(await keys('other', 'docs/'), ['docs/readme.txt']);
  });

  await t.test('lock: a live writer is exit 75; a dead one (pid gone, or not renewed) is taken over', async (t) => {
    const lake = 'locked';
    const w = await run(`bx-load -q --to parquet --path s3://lake/${lake} --partition-by sale_date ${sales}`);
    t.equal(w.code, 0, w.stderr);
    const lock = (pid: number, host: string, renewed: string) =>
      put(
        'lake',
        `${lake}/_bx/lock.json`,
        JSON.stringify({ bx: 'lake-lock', run: 'other-run', pid, host, since: '2026-12-01T00:00:00Z', renewed }),
      );
    await lock(process.pid, hostname(), new Date().toISOString());
    const held = await run(`bx-load --to parquet --path s3://lake/${lake} --partition-by sale_date ${sales}`);
    t.equal(held.code, 75);
    t.match(
      held.stderr,
      new RegExp(
        `^bx-load: s3://lake/${lake}: another bx-load \\(pid ${process.pid} on .*\\) is writing this lake; retry when it ends$`,
        'm',
      ),
    );
    // On another host, renewed a minute ago: live as far as anyone can tell.
    await lock(1, 'elsewhere', new Date(Date.now() - 60_000).toISOString());
    t.equal((await run(`bx-load -q --to parquet --path s3://lake/${lake} --partition-by sale_date ${sales}`)).code, 75);
    // Not renewed for an hour: the run is gone.
    await lock(1, 'elsewhere', new Date(Date.now() - 3_600_000).toISOString());
    const stale = await run(`bx-load --to parquet --path s3://lake/${lake} --partition-by sale_date ${sales}`);
    t.equal(stale.code, 0, stale.stderr);
    t.match(stale.stderr, /warning: s3:\/\/lake\/locked\/_bx\/lock\.json: taking over the lock of run other-run/);
    t.notOk(
      (await keys('lake', `${lake}/`)).some((k) => k.includes('_bx/')),
      'the lock is released',
    );
    // A long run renews its lock (here every 200 ms instead of every minute) and still commits.
    const slow = run(
      `(head -n 100 ${sales}; sleep 2; tail -n +101 ${sales}) | bx-load -q --to parquet --path s3://lake/${lake} --partition-by sale_date`,
      { BX_TEST_LOCK_RENEW_MS: '200' },
    );
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const l = await getText('lake', `${lake}/_bx/lock.json`).catch(() => undefined);
      if (l) seen.add(JSON.parse(l).renewed);
    }
    const done = await slow;
    t.equal(done.code, 0, done.stderr);
    t.ok(seen.size >= 2, `the lock was renewed while the run waited for input (${seen.size} times seen)`);
  });

  await t.test('errors are one line naming the s3:// path, with their sysexits code', async (t) => {
    const cases: [string, string, number, RegExp, Record<string, string>?][] = [
      [
        'missing bucket (read)',
        `bx-extract s3://nobucket/sales/`,
        66,
        /s3:\/\/nobucket\/sales\/: no such bucket s3:\/\/nobucket/,
      ],
      [
        'missing bucket (object)',
        `bx-extract s3://nobucket/x.parquet`,
        66,
        /s3:\/\/nobucket\/x\.parquet: no such bucket/,
      ],
      [
        'missing bucket (write)',
        `bx-load --to parquet --path s3://nobucket/lake ${sales}`,
        66,
        /s3:\/\/nobucket\/.*no such bucket/,
      ],
      ['missing key', `bx-extract s3://lake/nothing.csv`, 66, /s3:\/\/lake\/nothing\.csv: no such object/],
      ['empty prefix', `bx-extract s3://lake/nothing/`, 66, /s3:\/\/lake\/nothing\/: no objects under this prefix/],
      ['bad bucket name', `bx-extract s3://Bad_Bucket/x.csv`, 64, /"Bad_Bucket" is not a valid S3 bucket name/],
      [
        'bad URL (load)',
        `bx-load --to csv --path s3://lake/ ${sales}`,
        64,
        /--path s3:\/\/lake\/: name an object, not a prefix/,
      ],
      ['glob', `bx-extract 's3://lake/sales/*/x.parquet'`, 64, /globs are for local paths/],
      [
        'server down (read)',
        `bx-extract s3://lake/sales/`,
        69,
        /s3:\/\/lake\/sales\/: cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/,
        { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
      ],
      [
        'server down (lake write)',
        `bx-load --to parquet --path s3://lake/x ${sales}`,
        69,
        /cannot reach the S3 endpoint/,
        { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
      ],
      [
        'server down (csv write)',
        `bx-load --to csv --path s3://lake/x.csv ${sales}`,
        69,
        /s3:\/\/lake\/x\.csv: cannot reach the S3 endpoint/,
        { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
      ],
      [
        // (s3rver checks a SigV4 request's key id, not its signature: an unknown key is what it refuses.)
        'unknown access key',
        `bx-extract s3://lake/sales/`,
        77,
        /s3:\/\/lake\/sales\/: access denied by S3 \(InvalidAccessKeyId\)/,
        { AWS_ACCESS_KEY_ID: 'nobody' },
      ],
      [
        // No keys, no profile files, no instance metadata (AWS_EC2_METADATA_DISABLED): the SDK's chain ends at once.
        'no credentials',
        `bx-extract s3://lake/sales/`,
        78,
        /s3:\/\/lake\/sales\/: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/,
        {
          AWS_ACCESS_KEY_ID: '',
          AWS_SECRET_ACCESS_KEY: '',
          HOME: dir,
          AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
          AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
        },
      ],
    ];
    for (const [what, cmd, code, msg, extra] of cases) {
      const r = await run(cmd, { AWS_MAX_ATTEMPTS: '1', ...extra });
      t.equal(r.code, code, `${what}: exit ${code} (${r.stderr.trim()})`);
      t.match(r.stderr, new RegExp(`^bx-(extract|load): (.* )?${msg.source}`, 'm'), `${what}: the message`);
      t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    }
    // A usage error found in the schema takes no lock it would leave behind.
    writeFileSync(join(dir, 'one.schema.json'), JSON.stringify({ fields: [{ name: 'sale_id', type: 'string' }] }));
    const u = await run(
      `bx-load --to parquet --path s3://lake/usage --partition-by nope --schema ${dir}/one.schema.json ${sales}`,
    );
    t.equal(u.code, 64, u.stderr);
    t.match(u.stderr, /--partition-by nope: no such field in the schema/);
    t.same(await keys('lake', 'usage/'), [], 'no lock, no object');
    // A manifest naming an object that is gone (a reader racing a swap): 66, not 65 "corrupt".
    const m = JSON.parse(await getText('lake', 'sales/sale_date=2026-11-06/_manifest.json'));
    await client.send(
      new sdk.DeleteObjectCommand({ Bucket: 'lake', Key: `sales/sale_date=2026-11-06/${m.files[0].key}` }),
    );
    const gone = await run(`bx-extract -q s3://lake/sales/ > /dev/null`);
    t.equal(gone.code, 66, gone.stderr);
    t.match(gone.stderr, /sale_date=2026-11-06\/_v\/.*\.parquet: no such object/);
  });

  await t.test('a failed lake run (a bad record) leaves nothing: no version, no manifest, no lock', async (t) => {
    const before = await keys('lake', 'sales/');
    const bad = join(dir, 'bad.ndjson');
    writeFileSync(bad, readFileSync(sales, 'utf8').split('\n').slice(0, 2000).join('\n') + '\n{"sale_id":"x"\n');
    const r = await run(
      `bx-load -q --to parquet --path s3://lake/sales --partition-by sale_date --row-group-size 10 ${bad}`,
    );
    t.equal(r.code, 65, r.stderr);
    t.same(await keys('lake', 'sales/'), before, 'the lake is as it was');
  });
}

function group(recs: Record<string, unknown>[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const r of recs) (out[String(r.sale_date)] ??= []).push(Number(r.id));
  for (const k of Object.keys(out)) out[k].sort((a, b) => a - b);
  return out;
}
