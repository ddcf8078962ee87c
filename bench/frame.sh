#!/usr/bin/env bash
# bench/frame.sh OLD_CHECKOUT: this checkout's stages against another build of bx (e.g. the
# commit before a refactor, built: `git worktree add /tmp/old REV && (cd /tmp/old && npm ci && npx tsc)`),
# run by run in turn on the same files, so that a change of frame shows as a ratio from one run.
# Not part of `make bench` (it needs the other checkout); the frame issue quotes its figures.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OLD="${1:?usage: bench/frame.sh OLD_CHECKOUT}"
csv=$(sales_file csv)
nd=$(sales_file ndjson)
echo "frame: $ROWS rows; new = $ROOT, old = $OLD (medians of $RUNS_AB, interleaved)"
ab() {
  local what="$1" cmd="$2" setup="${3:-true}"
  measure_ab "$ROWS" "$setup" "new: $what" "PATH=$ROOT/bin:\$PATH; $cmd" "old: $what" "PATH=$OLD/bin:\$PATH; $cmd"
  echo "  $what: new/old = $(ratio "$RATE_A" "$RATE_B")x"
}
ab 'bx-extract CSV' "bx-extract -q $csv"
ab 'bx-clean --type (2 fields)' "bx-clean -q --type quantity:integer --type unit_price:decimal:2 $nd"
ab 'bx-agg by store' "bx-agg -q --by category --agg revenue=sum:unit_price,count $nd"
if [ -n "${DATABASE_URL:-}" ]; then
  ab 'bx-load COPY' "bx-load -q --table bench_frame $nd" "psql -q \"\$DATABASE_URL\" -c 'DROP TABLE IF EXISTS bench_frame; CREATE UNLOGGED TABLE bench_frame (sale_id bigint, sale_date date, sold_at timestamptz, store_id text, register int, product_id text, product_name text, category text, quantity int, unit_price numeric(12,2), discount numeric(4,2), payment text)' >/dev/null"
fi
