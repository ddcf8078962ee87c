// The store's daily sales job (scripts/demo/, issue 20) run for real, twice, against $DATABASE_URL
// in a schema of its own: every table and the lake come out identical, and the day's revenue
// agrees in four places — the report, PostgreSQL, the lake read by DuckDB, and the POS files
// themselves (summed here in BigInt cents, minus the rows the job must reject).
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import t from 'tap';
import { databaseUrl, sh, tmp } from '../helpers.js';

const url = databaseUrl();
let why = url ? '' : 'DATABASE_URL is not set';
if (url) {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
  } catch (err) {
    why = `PostgreSQL at DATABASE_URL cannot be reached: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
}

/** "339035.9" / "339035.90" / 339035.9 → 33903590n: exact, no floats. */
function cents(v: unknown): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(v).trim());
  if (!m) throw new Error(`not a money amount: ${String(v)}`);
  const c = BigInt(m[2]) * 100n + BigInt((m[3] ?? '').padEnd(2, '0') || '0');
  return m[1] ? -c : c;
}

/** What the POS files add up to once the job's rules are applied: the oracle, from the raw files. */
function posRevenue(dir: string): { cents: bigint; kept: number; rejected: number } {
  const seen = new Set<string>();
  let total = 0n;
  let kept = 0;
  let rejected = 0;
  const names = readdirSync(dir).sort();
  // The job reads the plain files first, then the gzipped ones (pos/*.csv pos/*.csv.gz).
  for (const name of [...names.filter((n) => n.endsWith('.csv')), ...names.filter((n) => n.endsWith('.csv.gz'))]) {
    const raw = readFileSync(join(dir, name));
    const text = (name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
    const head = lines[0].split(',');
    const col = (n: string) => head.indexOf(n);
    const [id, sku, qty, price] = [col('sale_id'), col('sku'), col('quantity'), col('unit_price')];
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      if (!/^[1-9]\d*$/.test(f[qty]) || f[sku] === '' || seen.has(f[id])) {
        rejected++;
        continue;
      }
      seen.add(f[id]);
      kept++;
      total += BigInt(f[qty]) * cents(f[price]);
    }
  }
  return { cents: total, kept, rejected };
}

/** The revenue cell of the report's Totals table (its data-value holds the exact figure). */
function reportRevenue(html: string): bigint {
  const i = html.indexOf('<h2>Totals</h2>');
  if (i < 0) throw new Error('the report has no Totals section');
  const section = html.slice(i, html.indexOf('</section>', i));
  const heads = [...section.matchAll(/<th[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]);
  const cells = [...section.matchAll(/<td[^>]*data-value="([^"]*)"/g)].map((m) => m[1]);
  const at = heads.indexOf('revenue');
  if (at < 0 || cells[at] === undefined) throw new Error(`no revenue cell in the Totals table (${heads.join(', ')})`);
  return cents(cells[at]);
}

t.test('the daily sales job: idempotent, and the revenue agrees in four places', { skip: why || false }, async (t) => {
  const out = tmp(t);
  const schema = `bxjob_demo_${process.pid}`;
  const DAY = '2026-11-22';
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.teardown(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.end();
  });
  // A make started by `make test` passes its jobserver on: this one runs on its own.
  const env = {
    OUT: out,
    DEMO_SCHEMA: schema,
    DAY,
    ROWS: '4000',
    DATABASE_URL: url,
    MAKEFLAGS: undefined,
    MAKELEVEL: undefined,
    MFLAGS: undefined,
  };
  const job = (e: Record<string, string | undefined> = env) =>
    sh('make --no-print-directory -j2 -C scripts/demo fresh', { env: e });

  const sums = async () => {
    const r: Record<string, string> = {};
    for (const table of ['fact_sales', 'dim_product', 'dim_store', 'dim_date']) {
      const q = await db.query(
        `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS sum FROM ${schema}.${table} t`,
      );
      r[table] = `${q.rows[0].n} ${q.rows[0].sum}`;
    }
    const lake = await sh(`bx-extract -q ${join(out, 'lake', 'sales')}/ | md5sum`);
    t.equal(lake.code, 0, lake.stderr);
    r.lake = lake.stdout.trim();
    return r;
  };

  const first = await job();
  t.equal(first.code, 0, first.stderr.slice(-3000));
  if (first.code !== 0) return;
  t.match(first.stderr, /The day is done\.\n\s+report\s+\S+report-2026-11-22\.html/, 'it says where the report is');
  t.match(first.stderr, new RegExp(`tables\\s+${schema}\\.fact_sales`), 'and the tables');
  t.match(first.stdout + first.stderr, /sales-2026-11-22 .* ok /, 'bx-runs --summary closes the night');
  const once = await sums();
  t.equal(
    once.fact_sales.split(' ')[0],
    String(posRevenue(join(out, 'in', DAY, 'pos')).kept),
    'every good sale is a fact',
  );

  const second = await job();
  t.equal(second.code, 0, second.stderr.slice(-3000));
  const twice = await sums();
  t.same(twice, once, 'a re-run leaves every table and the lake as they were');

  // The revenue in four places.
  const pos = posRevenue(join(out, 'in', DAY, 'pos'));
  t.equal(pos.rejected, 5, 'two bad quantities, a missing sku and two repeated sales ids');
  const rejects = readFileSync(join(out, 'work', DAY, 'rejects.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('{"@bx"'));
  t.equal(rejects.length, pos.rejected, 'the job set the same rows aside');
  const html = readFileSync(join(out, `report-${DAY}.html`), 'utf8');
  t.equal(reportRevenue(html), pos.cents, 'the report');
  const q = await db.query(`SELECT sum(revenue)::text AS s FROM ${schema}.fact_sales WHERE sale_date = $1`, [DAY]);
  t.equal(cents(q.rows[0].s), pos.cents, 'PostgreSQL');
  let duckWhy = '';
  try {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    const glob = join(out, 'lake', 'sales', '**', '*.parquet').replaceAll("'", "''");
    const rows = (
      await duck.runAndReadAll(
        `SELECT CAST(sum(revenue) AS VARCHAR) AS s, count(*)::INTEGER AS n FROM read_parquet('${glob}', hive_partitioning=true) WHERE sale_date = DATE '${DAY}'`,
      )
    ).getRowObjectsJson() as { s: string; n: number }[];
    t.equal(cents(rows[0].s), pos.cents, 'the lake, read by DuckDB');
    t.equal(Number(rows[0].n), pos.kept);
  } catch (err) {
    duckWhy = `@duckdb/node-api (dev-only oracle) cannot load: ${(err as Error).message}`;
  }
  if (duckWhy) t.skip(duckWhy);
  t.match(html, /<h2>Revenue by category<\/h2>[\s\S]*?<svg class="chart chart-bar"/, 'a bar of revenue by category');
  t.match(html, /<h2>Top 10 products<\/h2>[\s\S]*?<svg class="chart chart-hbar"/, 'an hbar of the top 10');
  t.match(html, /<h2>Revenue by hour<\/h2>[\s\S]*?<svg class="chart chart-line"/, 'a line by hour');
  t.match(html, /<h2>Below reorder level<\/h2>[\s\S]*?<table>/, 'the below-reorder table');
  t.match(html, /<footer>[\s\S]*<h2>Runs<\/h2>[\s\S]*bx-load/, 'the run summary footer');

  // Another night: its own partition and facts, the first day's left alone.
  const dayOne = await db.query(
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS s FROM ${schema}.fact_sales t WHERE sale_date = $1`,
    [DAY],
  );
  const next = await job({ ...env, DAY: '2026-11-23' });
  t.equal(next.code, 0, next.stderr.slice(-3000));
  t.same(
    readdirSync(join(out, 'lake', 'sales'))
      .filter((n) => n.startsWith('sale_date='))
      .sort(),
    ['sale_date=2026-11-22', 'sale_date=2026-11-23'],
  );
  const after = await db.query(
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS s FROM ${schema}.fact_sales t WHERE sale_date = $1`,
    [DAY],
  );
  t.equal(after.rows[0].s, dayOne.rows[0].s, 'the first day is untouched');
  const days = await db.query(
    `SELECT sale_date::text AS d, count(*)::int AS n FROM ${schema}.fact_sales GROUP BY 1 ORDER BY 1`,
  );
  t.same(
    days.rows.map((r) => r.d),
    [DAY, '2026-11-23'],
  );
  t.equal(
    reportRevenue(readFileSync(join(out, 'report-2026-11-23.html'), 'utf8')),
    posRevenue(join(out, 'in', '2026-11-23', 'pos')).cents,
    'the second report agrees with its POS files',
  );
  // A bad night: a till sends garbage (far past --max-rejects 0.5 %). The job fails, naming the
  // stage, and the day already loaded stays as it was in the tables and in the lake.
  const lakeBefore = (await sh(`bx-extract -q ${join(out, 'lake', 'sales')}/ | md5sum`)).stdout;
  const bad = join(out, 'drop', DAY);
  mkdirSync(bad, { recursive: true });
  cpSync(join(out, 'in', DAY), bad, { recursive: true });
  const till = join(bad, 'pos', 'pos-S01-T1.csv');
  writeFileSync(
    till,
    readFileSync(till, 'utf8').replace(/,(\d+),(\d+\.\d\d)\r\n/g, (m, q, p, at) =>
      at % 3 === 0 ? `,x${q},${p}\r\n` : m,
    ),
  );
  const failed = await job({ ...env, GEN: '0', IN: bad });
  t.not(failed.code, 0, 'the job fails');
  t.match(failed.stderr, /bx-clean: .*too many rejects/, 'bx-clean says why');
  t.match(failed.stderr, /sales\.ndjson\] Error 65/, 'make names the stage and its exit code');
  const kept = await db.query(
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS s FROM ${schema}.fact_sales t WHERE sale_date = $1`,
    [DAY],
  );
  t.equal(kept.rows[0].s, dayOne.rows[0].s, 'the facts of the day are untouched');
  t.equal((await sh(`bx-extract -q ${join(out, 'lake', 'sales')}/ | md5sum`)).stdout, lakeBefore, 'and so is the lake');
  const missing = await job({ ...env, GEN: '0', IN: join(out, 'nowhere') });
  t.not(missing.code, 0);
  t.match(missing.stderr, /nowhere\/catalogue\.xml: the day's export is missing/, 'a missing export is named');
});
