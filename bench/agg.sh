#!/usr/bin/env bash
# bx-agg: group-by rows/s on the generated 1 M-row sales file, beside Miller and DuckDB measured
# in the same run (sum + count of unit_price by category, then by product_id: 6 and 5,000
# groups), plus bx-agg across all cores through GNU parallel and with a spilling memory bound.
# DuckDB comes from npm (@duckdb/node-api), installed here into bench/.deps, never package.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
csv=$(sales_file csv)
echo "bx-agg ($ROWS-row sales file: NDJSON $(( $(stat -c %s "$nd") / 1048576 )) MB, CSV $(( $(stat -c %s "$csv") / 1048576 )) MB)"

if ! command -v mlr >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (timeout 180 apt-get install -y -q miller >/dev/null 2>&1 ||
    { timeout 180 apt-get update -q >/dev/null 2>&1 && timeout 180 apt-get install -y -q miller >/dev/null 2>&1; }) || true
fi

DEPS="$BENCH_DIR/.deps"
DUCK=""
if [ -d "$DEPS/node_modules/@duckdb/node-api" ] ||
   timeout 300 npm install --prefix "$DEPS" --no-save --no-audit --no-fund --loglevel=error @duckdb/node-api >/dev/null 2>&1; then
  # A script inside the prefix, so that its import resolves from bench/.deps/node_modules.
  cat > "$DEPS/duck.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const [sql] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const rows = (await con.runAndReadAll(sql)).getRowObjectsJson();
for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
JS
  DUCK="node $DEPS/duck.mjs"
fi

run_group() {
  local by="$1" label="$2"
  echo " by $by ($label):"
  measure "bx-agg ndjson" "$ROWS" "bx-agg -q --by $by --agg count,sum:unit_price '$nd'"
  local BX=$RATE MLR=0 DK=0 DKC=0
  if command -v mlr >/dev/null 2>&1; then
    measure "mlr --ijsonl stats1 -a sum,count" "$ROWS" "mlr --ijsonl --ojsonl stats1 -a sum,count -f unit_price -g $by '$nd'"
    MLR=$RATE
  else
    echo "  mlr: not installed (and not root to install it); skipped"
  fi
  if [ -n "$DUCK" ]; then
    measure "duckdb read_ndjson group by" "$ROWS" "$DUCK \"select $by, count(*), sum(cast(unit_price as decimal(18,2))) from read_ndjson('$nd', columns={$by: 'VARCHAR', unit_price: 'VARCHAR'}) group by 1\""
    DK=$RATE
    measure "duckdb read_csv group by" "$ROWS" "$DUCK \"select $by, count(*), sum(cast(unit_price as decimal(18,2))) from read_csv('$csv', all_varchar=true) group by 1\""
    DKC=$RATE
  else
    echo "  duckdb: @duckdb/node-api could not be installed; skipped"
  fi
  measure "bx-extract csv | bx-agg" "$ROWS" "bx-extract -q '$csv' | bx-agg -q --by $by --agg count,sum:unit_price"
  if command -v parallel >/dev/null 2>&1; then
    local A="--by $by --agg count,sum:unit_price"
    measure "parallel --pipepart bx-agg --partial | --merge" "$ROWS" \
      "parallel --will-cite --pipepart -a '$nd' --block -1 'bx-agg -q --partial $A' | bx-agg -q --merge $A"
  else
    echo "  parallel: not installed; skipped"
  fi
  [ "$MLR" -gt 0 ] && echo "  bx-agg / Miller:            $(ratio "$BX" "$MLR")x"
  [ "$DK" -gt 0 ] && echo "  bx-agg / DuckDB (ndjson):   $(ratio "$BX" "$DK")x"
  [ "$DKC" -gt 0 ] && echo "  bx-agg / DuckDB (csv):      $(ratio "$BX" "$DKC")x"
  return 0
}

run_group category "6 groups"
run_group product_id "5,000 groups"

echo " by sale_id (1 M groups, exact sums):"
measure "bx-agg, in memory" "$ROWS" "bx-agg -q --by sale_id --agg sum:unit_price '$nd'"
echo "  peak RSS: $(peak_rss "bx-agg -q --by sale_id --agg sum:unit_price '$nd'") MB"
measure "bx-agg --memory 64MB (spills sorted runs)" "$ROWS" "bx-agg -q --memory 64MB --by sale_id --agg sum:unit_price '$nd'"
echo "  peak RSS: $(peak_rss "bx-agg -q --memory 64MB --by sale_id --agg sum:unit_price '$nd'") MB"
