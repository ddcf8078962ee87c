#!/usr/bin/env bash
# make demo: the store's daily sales job on real data (../shared/data/superstore.csv).
# Extract → clean (typed by an inferred schema, rejects kept) → load into PostgreSQL, then
# revenue totals, sales by category and top products, loaded and shown. Sealed streams
# throughout, and run twice to show that a re-run leaves the same tables.
# Uses DATABASE_URL / PG* when set, else starts the embedded PostgreSQL (bx-db, data in .bx/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
DATA="${DEMO_DATA:-../shared/data/superstore.csv}"
OUT=demo-out
mkdir -p "$OUT"

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

if [ -z "${DATABASE_URL:-}${PGHOST:-}${PGDATABASE:-}${PGPORT:-}${PGUSER:-}" ]; then
  say "no PostgreSQL configured: starting the embedded one (bx-db start)"
  DATABASE_URL="$(bx-db start)"
  export DATABASE_URL
  STARTED_DB=1
fi
say "database: $(bx-db url --redacted 2>/dev/null || echo "${DATABASE_URL:-from PG* variables}" | sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#')"

# Every stage ends its output with an end-of-stream mark and requires one on input, so a
# failed stage anywhere fails the whole job and nothing is half-loaded.
export BX_SEAL=1

say "1. infer a schema from the raw file (bx-schema)"
bx-extract "$DATA" | bx-schema > "$OUT/superstore.schema.json"
jq -c '.fields[] | {name, type} + (if .format then {format} else {} end) + (if ."bx:scale" then {scale: ."bx:scale"} else {} end)' "$OUT/superstore.schema.json" 2>/dev/null | head -n 21 >&2 ||
  head -c 600 "$OUT/superstore.schema.json" >&2

run_job() {
  say "2. extract → clean → load the day's sales (bx-extract | bx-clean | bx-load --mode replace)"
  bx-extract "$DATA" --lineage |
    bx-clean --schema "$OUT/superstore.schema.json" --rejects "$OUT/rejects.ndjson" --max-rejects 0.5% |
    tee "$OUT/clean.ndjson" |
    bx-load --table superstore --create --mode replace

  say "3. aggregates (bx-agg), each loaded into its own table"
  bx-agg --by Category --agg orders=count --agg revenue=sum:Sales --agg profit=sum:Profit --sort revenue:desc < "$OUT/clean.ndjson" |
    tee "$OUT/sales_by_category.ndjson" | bx-load --table sales_by_category --create --mode replace
  bx-agg --by "Product Name" --agg revenue=sum:Sales --agg units=sum:Quantity --sort revenue:desc --top 5 < "$OUT/clean.ndjson" |
    tee "$OUT/top_products.ndjson" | bx-load --table top_products --create --mode replace
  bx-agg --agg orders=count --agg revenue=sum:Sales --agg profit=sum:Profit --agg avg_sale=avg:Sales < "$OUT/clean.ndjson" |
    tee "$OUT/totals.ndjson" | bx-load --table sales_totals --create --mode replace
}

run_job
say "4. the same job again: replace mode makes the nightly re-run idempotent"
run_job 2> "$OUT/rerun.log" || { cat "$OUT/rerun.log" >&2; exit 1; }

say "5. the report"
if command -v psql >/dev/null 2>&1; then
  psql "${DATABASE_URL:-}" -X -q -P pager=off -c 'select count(*) as rows_loaded from superstore' \
    -c 'select * from sales_totals' -c 'select * from sales_by_category' -c 'select * from top_products'
else
  for f in totals sales_by_category top_products; do echo "$f:"; grep -v '"@bx"' "$OUT/$f.ndjson"; done
fi
say "rejects: $(wc -l < "$OUT/rejects.ndjson") (in $OUT/rejects.ndjson); outputs in $OUT/"
if [ -n "${STARTED_DB:-}" ]; then
  say "the embedded PostgreSQL keeps running for a look around: bin/bx-db psql; bin/bx-db stop stops it"
fi
