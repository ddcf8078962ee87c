#!/usr/bin/env bash
# bx-load --to csv|tsv|ndjson|xml: rows/s writing the 1 M-row sales NDJSON to files, beside
# baselines measured in the same run on the same rows: `cat` of the NDJSON into a file (the I/O
# ceiling), bx-clean with no rules into a file (every stage's parse + stringify), and, when a
# PostgreSQL is reachable, `psql \copy … to csv` of the same rows (what a database writes CSV at).
# Then, in-process and without I/O, the CSV text of the same records by the hand-written escaper
# in src/formats/csv-write.ts and by csv-stringify (the figures quoted in that file).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
echo "bx-load --to FILE ($ROWS-row sales NDJSON, $(( $(stat -L -c %s "$nd") / 1048576 )) MB)"
w="$OUT/writers"
mkdir -p "$w"

measure 'cat NDJSON > file (the I/O ceiling)' "$ROWS" "cat '$nd' > '$w/cat.ndjson'"
CAT=$RATE
measure 'bx-clean, no rules > file (parse+stringify)' "$ROWS" "bx-clean -q '$nd' > '$w/clean.ndjson'"
PASS=$RATE
measure 'bx-load --to ndjson --path FILE' "$ROWS" "bx-load -q --to ndjson --path '$w/out.ndjson' '$nd'"
NDJ=$RATE
measure 'bx-load --to csv --path FILE' "$ROWS" "bx-load -q --to csv --path '$w/out.csv' '$nd'"
CSV=$RATE
measure 'bx-load --to csv --path FILE.gz' "$ROWS" "bx-load -q --to csv --path '$w/out.csv.gz' '$nd'"
CSVGZ=$RATE
measure 'bx-load --to xml --path FILE' "$ROWS" "bx-load -q --to xml --path '$w/out.xml' '$nd'"
XML=$RATE
cmp -s "$w/out.ndjson" "$nd" && echo "    out.ndjson is byte-identical to the input" || echo "    out.ndjson DIFFERS from the input"
echo "  csv / cat: $(ratio "$CSV" "$CAT")x   csv / bx-clean passthrough: $(ratio "$CSV" "$PASS")x   ndjson / bx-clean passthrough: $(ratio "$NDJ" "$PASS")x   csv.gz / csv: $(ratio "$CSVGZ" "$CSV")x   xml / csv: $(ratio "$XML" "$CSV")x"

# psql \copy of the same rows to CSV, when a server answers (the table is dropped afterwards).
DB="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export PGOPTIONS='-c client_min_messages=warning'
if psql "$DB" -Atqc 'select 1' > /dev/null 2>&1; then
  T=bxfo_bench_sales
  psql "$DB" -qc "drop table if exists $T" > /dev/null
  bx-load -q --db "$DB" --table "$T" --create "$nd"
  measure 'psql \copy TABLE to FILE csv header' "$ROWS" "psql '$DB' -qc \"\\\\copy $T to '$w/psql.csv' csv header\""
  PSQL=$RATE
  psql "$DB" -qc "drop table if exists $T" > /dev/null
  [ "$PSQL" -gt 0 ] && echo "  bx-load --to csv / psql \\copy to csv: $(ratio "$CSV" "$PSQL")x"
else
  echo "  psql \\copy baseline: skipped (no PostgreSQL at $DB)"
fi

# In-process: only the writer's work (records → CSV text), the records parsed once beforehand.
# Alternating, BENCH_RUNS times each; the median.
ROOT="$ROOT" RUNS="$RUNS" node --input-type=module - "$nd" <<'EOF'
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
const ROOT = process.env.ROOT;
const { csvWriter } = await import(`${ROOT}/dist/formats/csv-write.js`);
const { readRecordBatches } = await import(`${ROOT}/dist/lib/records.js`);
const { stringify } = await import(`${ROOT}/node_modules/csv-stringify/lib/sync.js`);
const file = process.argv[2];
const batches = [];
let rows = 0;
for await (const b of readRecordBatches(createReadStream(file, { highWaterMark: 256 * 1024 }), file, { expectSealed: false })) {
  // 1000 records a batch, as a stage hands them on.
  for (let i = 0; i < b.records.length; i += 1000) batches.push({ name: b.name, lines: b.lines.slice(i, i + 1000), records: b.records.slice(i, i + 1000) });
  rows += b.records.length;
}
const devnull = () => new Writable({ write(_c, _e, cb) { cb(); } });
const opts = { header: true, bom: false, csvSafe: false, xmlRoot: 'records', xmlRecord: 'record' };
const cast = { boolean: (v) => (v ? 'true' : 'false'), object: (v) => JSON.stringify(v), number: (v) => String(v) };
const ways = {
  'hand-written escaper (csv-write.ts)': async () => {
    const w = csvWriter(devnull(), opts);
    for (const b of batches) await w.write(b);
  },
  'csv-stringify sync(), arrays, per batch': async () => {
    const out = devnull();
    const cols = Object.keys(batches[0].records[0]);
    out.write(stringify([cols]));
    for (const b of batches) out.write(stringify(b.records.map((r) => cols.map((c) => r[c] ?? null)), { cast }));
  },
};
const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let r = 0; r < Number(process.env.RUNS); r++) {
  for (const [name, run] of Object.entries(ways)) {
    const t0 = performance.now();
    await run();
    times[name].push((performance.now() - t0) / 1000);
  }
}
const rate = {};
for (const [name, ts] of Object.entries(times)) {
  const s = ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)];
  rate[name] = rows / s;
  console.log(`  ${('in-process: ' + name).padEnd(44)} ${s.toFixed(2).padStart(8)} s  ${String(Math.round(rows / s)).padStart(9)} rows/s`);
}
const [a, b] = Object.values(rate);
console.log(`  hand-written / csv-stringify (records → CSV text): ${(a / b).toFixed(2)}x`);
EOF
rm -rf "$w"
