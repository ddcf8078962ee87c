#!/usr/bin/env bash
# bx-load throughput: `bx-extract CSV | bx-load` beside `psql \copy` of the same CSV into the same
# table, in the same run (and pgloader when installed). Uses DATABASE_URL / PG* when configured,
# else the embedded server (bx-db) in bench/out/db.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}${PGDATABASE:-}${PGSERVICE:-}" ]; then
  DATABASE_URL=$(bx-db start --dir "$OUT/db" -q)
  export DATABASE_URL
  trap 'bx-db stop --dir "$OUT/db" -q' EXIT
fi
command -v psql >/dev/null || { echo "load: needs psql for the baseline"; exit 69; }
PSQL=(psql "${DATABASE_URL:-}" -qAtX -v ON_ERROR_STOP=1)
[ -n "${DATABASE_URL:-}" ] || PSQL=(psql -qAtX -v ON_ERROR_STOP=1)

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
csv=$(sales_file csv)
ndjson=$(sales_file ndjson)
T=bench_load_sales
# The same column types for every loader: bx-load sends the text, the server types it.
"${PSQL[@]}" -c "DROP TABLE IF EXISTS $T" -c "CREATE TABLE $T (sale_id bigint, sale_date date, sold_at timestamptz,
  store_id text, register int, product_id text, product_name text, category text, quantity int,
  unit_price numeric(10,2), discount numeric(4,2), payment text)"
truncate() { "${PSQL[@]}" -c "TRUNCATE $T"; }
# measure's setup, untimed: each run loads into an empty table, after a checkpoint, so that no run
# pays for the WAL of the one before (a 1 M-row load writes ~200 MB of it; without this, whichever
# run met the checkpoint lost 30 %). CHECKPOINT needs a superuser or pg_checkpoint: else skipped.
TRUNCATE="${PSQL[*]@Q} -c 'TRUNCATE $T'; ${PSQL[*]@Q} -c CHECKPOINT 2>/dev/null || true"
check() { local n; n=$("${PSQL[@]}" -c "SELECT count(*) FROM $T"); [ "$n" = "$ROWS" ] || echo "  (expected $ROWS rows in $T, found $n)"; }

echo "load: $ROWS rows ($(du -h "$csv" | cut -f1) CSV) into PostgreSQL $("${PSQL[@]}" -c 'SHOW server_version')"
truncate
# The target figure and its baseline, run by run in turn.
measure_ab "$ROWS" "$TRUNCATE" \
  'psql \copy CSV (baseline)' "${PSQL[*]@Q} -c \"\\\\copy $T FROM '$csv' CSV HEADER\"" \
  'bx-extract CSV | bx-load' "bx-extract '$csv' | bx-load --table $T -q"
PSQL_RATE=$RATE_A; PIPE_RATE=$RATE_B; check
truncate
# --rejects on a clean input: each batch is a COPY of its own in a savepoint (3 more round trips per
# batch); nothing is refused, so this is the price of being able to refuse rows.
REJ="$OUT/load-rejects.ndjson"
measure_ab "$ROWS" "$TRUNCATE" \
  'bx-extract CSV | bx-load (no --rejects)' "bx-extract '$csv' | bx-load --table $T -q" \
  'bx-extract CSV | bx-load --rejects' "bx-extract '$csv' | bx-load --table $T -q --rejects '$REJ'"
NOREJ_RATE=$RATE_A; REJ_RATE=$RATE_B; check
[ ! -s "$REJ" ] || echo "  (expected no rejects, found $(wc -l < "$REJ"))"
cpu() { bash -c "$TRUNCATE" >/dev/null; /usr/bin/time -f '%U %S' bash -o pipefail -c "$1" 2>&1 >/dev/null | tail -n 1 | awk '{printf "%.2f", $1 + $2}'; }
NOREJ_CPU=$(cpu "bx-load --table $T -q '$ndjson'")
REJ_CPU=$(cpu "bx-load --table $T -q --rejects '$REJ' '$ndjson'")
truncate
measure 'bx-load NDJSON file (bx-load alone)' "$ROWS" "bx-load --table $T -q '$ndjson'" "$TRUNCATE"
LOAD_RATE=$RATE; check
truncate
measure 'bx-extract CSV | bx-load --mode replace' "$ROWS" "bx-extract '$csv' | bx-load --table $T --mode replace -q"
check
if command -v pgloader >/dev/null && [ -n "${DATABASE_URL:-}" ]; then
  truncate
  measure 'pgloader CSV' "$ROWS" "pgloader --type csv --field '$(head -n 1 "$csv")' --with 'skip header = 1' --with truncate '$csv' '$DATABASE_URL?tablename=$T'"
  echo "  pgloader / psql: $(ratio "$RATE" "$PSQL_RATE")x"
else
  echo "  pgloader: not installed"
fi
echo "  bx-extract | bx-load / psql \\copy: $(ratio "$PIPE_RATE" "$PSQL_RATE")x (target 0.8x)"
echo "  bx-load alone / psql \\copy: $(ratio "$LOAD_RATE" "$PSQL_RATE")x"
echo "  bx-load --rejects / without, clean input: $(ratio "$REJ_RATE" "$NOREJ_RATE")x rows/s; bx-load's own CPU (user+sys) on the NDJSON file: $REJ_CPU s with, $NOREJ_CPU s without"
echo "  peak RSS of bx-load on the NDJSON file: $(peak_rss "bx-load --table $T -q '$ndjson'") MB"
echo "  peak RSS of bx-load --rejects on the NDJSON file (a 50,000-row group kept for re-sending): $(peak_rss "bx-load --table $T -q --rejects '$REJ' '$ndjson'") MB"
"${PSQL[@]}" -c "DROP TABLE $T"
