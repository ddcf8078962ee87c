#!/usr/bin/env bash
# Peak RSS of every stage of the daily job, each alone on its input file, at BENCH_ROWS (1 M) and
# at BENCH_RSS_BIG rows (default 10 M; 0 skips it): memory must not grow with the input, and each
# stays under 150 MB (issue 21). Also bx-agg with one group per row under --memory 256MB (within
# 25 % of the flag) and bx-clean --dedupe of BENCH_DEDUPE_KEYS distinct keys (default 20 M; 0 skips)
# under --memory 256MB. Figures are printed, never asserted. The big files are made once in
# bench/out (10 M rows: ~1 GB of CSV and ~2.6 GB of NDJSON).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIG="${BENCH_RSS_BIG:-10000000}"
KEYS="${BENCH_DEDUPE_KEYS:-20000000}"
schema="$OUT/sales.schema.json" # written by clean.sh; the same 10 typed fields
[ -s "$schema" ] || BENCH_RUNS=1 bash "$BENCH_DIR/clean.sh" > /dev/null

file() { # file ROWS csv|ndjson
  local f="$OUT/sales-$1.$2"
  [ -s "$f" ] || { node "$BENCH_DIR/gen-sales.mjs" "$1" "$2" > "$f.tmp" && mv "$f.tmp" "$f"; }
  echo "$f"
}
if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}${PGDATABASE:-}${PGSERVICE:-}" ]; then
  DATABASE_URL=$(bx-db start --dir "$OUT/db" -q)
  export DATABASE_URL
fi
T="bx_bench_rss"
drop() { command -v psql > /dev/null && psql ${DATABASE_URL:+"$DATABASE_URL"} -qAtX -c "DROP TABLE IF EXISTS $T" > /dev/null 2>&1 || true; }
drop

stages() { # stages ROWS: one line per stage, its peak RSS in MB
  local csv nd
  csv=$(file "$1" csv)
  nd=$(file "$1" ndjson)
  printf '    %-44s %5s MB\n' 'bx-extract CSV' "$(peak_rss "bx-extract -q '$csv'")"
  printf '    %-44s %5s MB\n' 'bx-extract NDJSON' "$(peak_rss "bx-extract -q '$nd'")"
  printf '    %-44s %5s MB\n' 'bx-clean --schema (10 fields)' "$(peak_rss "bx-clean -q --schema '$schema' '$nd'")"
  printf '    %-44s %5s MB\n' 'bx-agg --by category (sum, count)' \
    "$(peak_rss "bx-agg -q --by category --agg n=count --agg revenue=sum:unit_price '$nd'")"
  printf '    %-44s %5s MB\n' 'bx-agg --top 10 product_id by sum' \
    "$(peak_rss "bx-agg -q --by product_id --agg revenue=sum:unit_price --sort revenue:desc --top 10 '$nd'")"
  printf '    %-44s %5s MB\n' 'bx-load (COPY into PostgreSQL)' "$(peak_rss "bx-load -q --table $T --create --mode replace '$nd'")"
}

echo "peak RSS of each stage (MB; the issue's bound: < 150 MB, flat)"
echo "  $ROWS rows"
stages "$ROWS"
if [ "$BIG" != 0 ]; then
  echo "  $BIG rows"
  stages "$BIG"
fi
nd=$(file "$ROWS" ndjson)
echo "  bx-agg, one group per row ($ROWS groups), --memory 256MB: $(peak_rss "bx-agg -q --memory 256MB --by sale_id --agg revenue=sum:unit_price '$nd'") MB (bound: 320 MB, 25 % over the flag)"
if [ "$KEYS" != 0 ]; then
  keys="$OUT/keys-$KEYS.ndjson"
  [ -s "$keys" ] || node -e '
    const n = +process.argv[1]; let s = "";
    for (let i = 0; i < n; i++) { s += `{"k":"key-${i}"}\n`; if (s.length > 1 << 20) { process.stdout.write(s); s = ""; } }
    process.stdout.write(s);' "$KEYS" > "$keys"
  tf=$(mktemp)
  /usr/bin/time -f '%M %e' -o "$tf" bash -o pipefail -c "bx-clean -q --dedupe k --memory 256MB '$keys' | wc -l" > "$tf.out" 2>&1 || true
  read -r kb secs < <(tail -n 1 "$tf")
  echo "  bx-clean --dedupe k --memory 256MB, $KEYS distinct keys: $(tail -n 1 "$tf.out" | awk '{print $1}') rows out, peak $(( kb / 1024 )) MB, ${secs} s"
  rm -f "$tf" "$tf.out"
fi
drop
