#!/usr/bin/env bash
# bx-agg on the generated 1 M-row sales file. Each figure beside its baselines, measured in the
# same run and interleaved run by run (medians of BENCH_RUNS_AB, default 5), because the
# machine is shared and noisy:
# - group-by (by category: count + exact sum) and top-N (top 10 SKUs by revenue) from NDJSON,
#   against the "before" build, the object path of this build (BX_AGG_OBJECT_PATH=1), main's
#   build when given (BX_AGG_MAIN) and DuckDB's read_ndjson. "Before" (the ≥ 3x targets of
#   issue 21) is bx-agg as it was when that issue's work began, commit 59381e3, before any byte
#   path: BX_AGG_BASE names its bin/bx-agg, else this script builds it once from git into
#   bench/out/base-59381e3 (git archive, tsc, bundle). main's tip already holds earlier rounds of
#   this work, so it is a second baseline, not "before";
# - bx-extract CSV | bx-agg against Miller's CSV group-by and DuckDB's read_csv;
# - peak RSS of the ordinary group-by on 1 M and 10 M rows (the file 10 times through a pipe),
#   and of 1 M groups under --memory 256MB;
# - bx-agg across all cores through GNU parallel, and with a spilling memory bound.
# DuckDB is the dev-only @duckdb/node-api of node_modules (else bench/.deps, installed once).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
csv=$(sales_file csv)
echo "bx-agg ($ROWS-row sales file: NDJSON $(( $(stat -L -c %s "$nd") / 1048576 )) MB, CSV $(( $(stat -L -c %s "$csv") / 1048576 )) MB; shared 2-core machine, figures are noisy)"

if ! command -v mlr >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (timeout 180 apt-get install -y -q miller >/dev/null 2>&1 ||
    { timeout 180 apt-get update -q >/dev/null 2>&1 && timeout 180 apt-get install -y -q miller >/dev/null 2>&1; }) || true
fi

# A script beside node_modules (bench/out resolves from the repo's), else in bench/.deps.
DUCK=""
DEPS="$BENCH_DIR/.deps"
DUCK_JS='import { DuckDBInstance } from "@duckdb/node-api";
const db = await DuckDBInstance.create(":memory:");
const con = await db.connect();
const rows = (await con.runAndReadAll(process.argv[2])).getRowObjectsJson();
for (const r of rows) process.stdout.write(JSON.stringify(r) + "\n");'
if [ -d "$ROOT/node_modules/@duckdb/node-api" ]; then
  echo "$DUCK_JS" > "$OUT/duck.mjs"
  DUCK="node $OUT/duck.mjs"
elif [ -d "$DEPS/node_modules/@duckdb/node-api" ] ||
  timeout 300 npm install --prefix "$DEPS" --no-save --no-audit --no-fund --loglevel=error @duckdb/node-api >/dev/null 2>&1; then
  echo "$DUCK_JS" > "$DEPS/duck.mjs"
  DUCK="node $DEPS/duck.mjs"
fi

BASE_COMMIT=59381e3
BASE="${BX_AGG_BASE:-}"
if [ -z "$BASE" ]; then
  dir="$OUT/base-$BASE_COMMIT"
  if [ ! -x "$dir/bin/bx-agg" ] || [ ! -f "$dir/dist/commands/agg.js" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    if git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$dir" && ln -s "$ROOT/node_modules" "$dir/node_modules" &&
      (cd "$dir" && npx tsc -p tsconfig.json && node scripts/bundle.mjs) > /dev/null 2>&1; then :; else
      echo "  (could not build the before build $BASE_COMMIT: its figures are left out)"; rm -rf "$dir"
    fi
  fi
  [ -x "$dir/bin/bx-agg" ] && BASE="$dir/bin/bx-agg"
fi
MAIN="${BX_AGG_MAIN:-}"
[ -n "$MAIN" ] && [ ! -x "$MAIN" ] && MAIN=""

# measure_n ROWS LABEL1 'cmd1' LABEL2 'cmd2' …: every command once per round, RUNS_AB rounds,
# so that a machine that slows down or speeds up moves every median alike. Prints each median
# and keeps its rows/s in RATES[i] (0 when the command failed).
measure_n() {
  local rows="$1" r i t0 t1 n err
  shift
  local labels=() cmds=()
  while [ $# -gt 0 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  n=${#cmds[@]}
  RATES=()
  local -A times=()
  local failed=()
  err=$(mktemp)
  for ((r = 0; r < RUNS_AB; r++)); do
    for ((i = 0; i < n; i++)); do
      [ -n "${failed[$i]:-}" ] && continue
      t0=$(date +%s.%N)
      if ! bash -o pipefail -c "${cmds[$i]}" > /dev/null 2> "$err"; then
        echo "  ${labels[$i]}: FAILED ($(tail -n 1 "$err"))"; failed[$i]=1; continue
      fi
      t1=$(date +%s.%N)
      times[$i]+="$(echo "$t1 - $t0" | bc -l) "
    done
  done
  rm -f "$err"
  local mid=$(( (RUNS_AB + 1) / 2 )) secs
  for ((i = 0; i < n; i++)); do
    if [ -n "${failed[$i]:-}" ]; then RATES[$i]=0; continue; fi
    secs=$(printf '%s\n' ${times[$i]} | sort -n | sed -n "${mid}p")
    RATES[$i]=$(echo "$rows / $secs" | bc)
    printf '  %-52s %8.2f s  %9d rows/s\n' "${labels[$i]}" "$secs" "${RATES[$i]}"
  done
}

# vs LABEL A B TARGET: the ratio A/B and its target, when both ran.
vs() {
  if [ "$2" -gt 0 ] && [ "$3" -gt 0 ]; then
    printf '  %-40s %6sx  (target ≥ %s)\n' "$1" "$(ratio "$2" "$3")" "$4"
  fi
}

run_ndjson() {
  local label="$1" args="$2" sql="$3"
  echo " $label, NDJSON:"
  local cmds=("bx-agg (byte path)" "bx-agg -q $args '$nd'")
  cmds+=("bx-agg, object path (BX_AGG_OBJECT_PATH=1)" "BX_AGG_OBJECT_PATH=1 bx-agg -q $args '$nd'")
  [ -n "$BASE" ] && cmds+=("before: bx-agg at $BASE_COMMIT" "$BASE -q $args '$nd'")
  [ -n "$MAIN" ] && cmds+=("main's bx-agg (BX_AGG_MAIN)" "$MAIN -q $args '$nd'")
  [ -n "$DUCK" ] && cmds+=("duckdb read_ndjson" "$DUCK \"$sql\"")
  measure_n "$ROWS" "${cmds[@]}"
  local k=2 base=0 main=0 duck=0
  [ -n "$BASE" ] && { base=${RATES[$k]}; k=$((k + 1)); }
  [ -n "$MAIN" ] && { main=${RATES[$k]}; k=$((k + 1)); }
  [ -n "$DUCK" ] && duck=${RATES[$k]}
  vs "bx-agg / before ($BASE_COMMIT):" "${RATES[0]}" "$base" 3
  vs "bx-agg / main's bx-agg:" "${RATES[0]}" "$main" "-"
  vs "bx-agg / its object path:" "${RATES[0]}" "${RATES[1]}" "-"
  vs "bx-agg / DuckDB read_ndjson:" "${RATES[0]}" "$duck" 0.5
  return 0
}

cols="columns={category: 'VARCHAR', product_id: 'VARCHAR', unit_price: 'VARCHAR'}"
run_ndjson "group-by category (count, exact sum)" "--by category --agg count,sum:unit_price" \
  "select category, count(*), sum(cast(unit_price as decimal(18,2))) from read_ndjson('$nd', $cols) group by 1"
run_ndjson "top 10 SKUs by revenue" "--by product_id --agg revenue=sum:unit_price --sort revenue:desc --top 10" \
  "select product_id, sum(cast(unit_price as decimal(18,2))) r from read_ndjson('$nd', $cols) group by 1 order by 2 desc limit 10"

echo " group-by category, CSV:"
cmds=("bx-extract csv | bx-agg" "bx-extract -q '$csv' | bx-agg -q --by category --agg count,sum:unit_price")
command -v mlr >/dev/null 2>&1 && cmds+=("mlr --icsv stats1 -a sum,count" "mlr --icsv --ojsonl stats1 -a sum,count -f unit_price -g category '$csv'")
[ -n "$DUCK" ] && cmds+=("duckdb read_csv" "$DUCK \"select category, count(*), sum(cast(unit_price as decimal(18,2))) from read_csv('$csv', all_varchar=true) group by 1\"")
measure_n "$ROWS" "${cmds[@]}"
k=1 mlr=0 duck=0
command -v mlr >/dev/null 2>&1 && { mlr=${RATES[$k]}; k=$((k + 1)); }
[ -n "$DUCK" ] && duck=${RATES[$k]}
vs "bx-extract | bx-agg / Miller:" "${RATES[0]}" "$mlr" 2
vs "bx-extract | bx-agg / DuckDB read_csv:" "${RATES[0]}" "$duck" 0.4

echo " peak RSS (MB):"
echo "  group-by category, $ROWS rows:            $(peak_rss "bx-agg -q --by category --agg count,sum:unit_price '$nd'")  (target < 150)"
ten=$(printf "'%s' " $(for _ in 1 2 3 4 5 6 7 8 9 10; do echo "$nd"; done))
echo "  group-by category, $((10 * ROWS)) rows (cat x10):  $(peak_rss "cat $ten | bx-agg -q --by category --agg count,sum:unit_price")  (target < 150, flat)"
[ -n "$BASE" ] && echo "  before ($BASE_COMMIT), group-by, $ROWS rows:  $(peak_rss "$BASE -q --by category --agg count,sum:unit_price '$nd'")"
# Five runs: the bound must hold on every one, not on a median.
m256=""
for _ in 1 2 3 4 5; do m256+="$(peak_rss "bx-agg -q --memory 256MB --by sale_id --agg sum:unit_price '$nd'") "; done
echo "  1 M groups (by sale_id), --memory 256MB, 5 runs: ${m256% }  (target ≤ 320 each: within 25 %)"
[ -n "$BASE" ] && echo "  before ($BASE_COMMIT), 1 M groups, --memory 256MB:  $(peak_rss "$BASE -q --memory 256MB --by sale_id --agg sum:unit_price '$nd'")"

echo " by product_id (5,000 groups), all cores:"
if command -v parallel >/dev/null 2>&1; then
  A="--by product_id --agg count,sum:unit_price"
  measure_n "$ROWS" "bx-agg, one process" "bx-agg -q $A '$nd'" \
    "parallel --pipepart bx-agg --partial | --merge" \
    "parallel --will-cite --pipepart -a '$nd' --block -1 'bx-agg -q --partial $A' | bx-agg -q --merge $A"
else
  echo "  parallel: not installed; skipped"
fi

echo " by sale_id (1 M groups, exact sums):"
measure_n "$ROWS" "bx-agg, default --memory 512MB" "bx-agg -q --by sale_id --agg sum:unit_price '$nd'" \
  "bx-agg --memory 64MB (spills sorted runs)" "bx-agg -q --memory 64MB --by sale_id --agg sum:unit_price '$nd'"
echo "  peak RSS, --memory 64MB: $(peak_rss "bx-agg -q --memory 64MB --by sale_id --agg sum:unit_price '$nd'") MB"
