#!/usr/bin/env bash
# Parquet lake: bx-load --to parquet and bx-extract of a lake, beside DuckDB (@duckdb/node-api,
# dev-only) doing the same work in the same run, and bx-extract's CSV read as the read baseline.
# Each figure and its baseline run interleaved (measure_ab: A, B, A, B …; BENCH_RUNS_AB, default
# 3 here) and are quoted as the ratio of the medians. Then peak RSS of bx-load and bx-extract at
# the base size and at BENCH_BIG rows (default 10 x; 0 skips it), one run each, to show memory
# stays flat: the big file is generated once into BENCH_BIG_DIR (default /tmp/bx-bench) and kept.
#   bash bench/parquet.sh                 # 1 M rows, then the 10 M-row memory check
#   BENCH_ROWS=200000 BENCH_BIG=0 bash bench/parquet.sh
# With s3rver installed (a devDependency), the same write and read through s3:// beside the local lake.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUNS_AB="${BENCH_RUNS_AB:-3}"

duck() { # duck 'SQL': runs one statement in an in-memory DuckDB (default threads: both cores)
  node --input-type=module -e "
    import { DuckDBInstance } from '@duckdb/node-api';
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(process.argv[1]);" "$1"
}
export -f duck
cd "$ROOT"

rows="$ROWS"
nd=$(sales_file ndjson)
csv=$(sales_file csv)
lake="$OUT/lake-bx-$rows"
dlake="$OUT/lake-duck-$rows"
echo "== $rows rows (sales: 12 fields, partitioned by sale_date into 28 partitions); a loaded 2-core machine: ratios, not absolutes"

# write: bx-load vs DuckDB COPY … TO (both leave a hive-partitioned snappy lake)
measure_ab "$rows" "rm -rf $lake $dlake $OUT/.lake-bx-$rows.bx" \
  "bx-load --to parquet (snappy)" "bx-load -q --to parquet --path $lake --partition-by sale_date $nd" \
  "DuckDB COPY … TO (PARTITION_BY, snappy)" \
  "duck \"COPY (SELECT * FROM read_ndjson('$nd')) TO '$dlake' (FORMAT parquet, PARTITION_BY (sale_date), OVERWRITE)\""
bxw=$RATE_A dw=$RATE_B
rm -rf "$lake" "$dlake"
bx-load -q --to parquet --path "$lake" --partition-by sale_date "$nd"

# read: bx-extract of the lake vs bx-extract of the same data as CSV (the baseline), then DuckDB,
# then bx's previous (string) decoder
measure_ab "$rows" "true" \
  "bx-extract lake/ (Parquet → NDJSON)" "bx-extract -q $lake/" \
  "bx-extract sales.csv (CSV → NDJSON)" "bx-extract -q $csv"
bxr=$RATE_A cr=$RATE_B
measure_ab "$rows" "true" \
  "bx-extract lake/ (again)" "bx-extract -q $lake/" \
  "DuckDB read_parquet → NDJSON" \
  "duck \"COPY (SELECT * FROM read_parquet('$lake/*/*.parquet', hive_partitioning=true)) TO '/dev/stdout' (FORMAT json)\""
bxr2=$RATE_A dr=$RATE_B
# the byte transcoder (the default) against the string-per-value decoder it replaced (its reference)
measure_ab "$rows" "true" \
  "bx-extract lake/ (again)" "bx-extract -q $lake/" \
  "bx-extract lake/ (BX_PARQUET_DECODER=text)" "BX_PARQUET_DECODER=text bx-extract -q $lake/"
bxr3=$RATE_A tr=$RATE_B
echo "  write: bx/DuckDB = $(ratio "$bxw" "$dw") (target ≥ 0.5)"
echo "  read:  bx Parquet/bx CSV = $(ratio "$bxr" "$cr") (target ≥ 1); bx/DuckDB = $(ratio "$bxr2" "$dr")"
echo "  read:  byte transcoder/string decoder = $(ratio "$bxr3" "$tr")"

# S3: the lake written and read through s3://, against s3rver (a devDependency, a local toy
# server whose own CPU is most of the difference), beside the same work on the local lake in the
# same run. Both writes replace a whole existing lake (every partition), as a re-run does.
# Skipped, with a line saying so, when s3rver is not installed.
if [ -f node_modules/s3rver/package.json ]; then
  s3dir=$(mktemp -d) s3log=$(mktemp)
  # s3rver.cjs ends when its stdin does: this loop's, which ends with the bench.
  node --openssl-legacy-provider test/s3/s3rver.cjs "$s3dir" benchlake > "$s3log" 2>&1 \
    < <(while kill -0 $$ 2> /dev/null; do sleep 1; done) &
  s3pid=$!
  for _ in $(seq 100); do grep -q '^port ' "$s3log" && break; sleep 0.1; done
  s3env="AWS_ENDPOINT_URL=http://127.0.0.1:$(awk '/^port /{print $2}' "$s3log") AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true"
  s3lake="s3://benchlake/sales"
  env $s3env bx-load -q --to parquet --path "$s3lake" --partition-by sale_date "$nd"
  measure_ab "$rows" "true" \
    "bx-load --to parquet, s3:// (s3rver)" "env $s3env bx-load -q --to parquet --path $s3lake --partition-by sale_date $nd" \
    "bx-load --to parquet, local (baseline)" "bx-load -q --to parquet --path $lake --partition-by sale_date $nd"
  s3w=$RATE_A lw=$RATE_B
  measure_ab "$rows" "true" \
    "bx-extract s3:// lake (s3rver)" "env $s3env bx-extract -q $s3lake/" \
    "bx-extract local lake (baseline)" "bx-extract -q $lake/"
  s3r=$RATE_A lr=$RATE_B
  echo "  S3 (s3rver) / local: write $(ratio "$s3w" "$lw"), read $(ratio "$s3r" "$lr")"
  kill "$s3pid" 2> /dev/null || true
  wait "$s3pid" 2> /dev/null || true
  rm -rf "$s3dir" "$s3log"
else
  echo "  S3: skipped (s3rver is not installed: npm ci installs the devDependencies)"
fi

rss_at() { # rss_at ROWS NDJSON: peak RSS (MB) of bx-load and of bx-extract of what it wrote
  local n="$1" f="$2" l="$3"
  rm -rf "$l" "$(dirname "$l")/.$(basename "$l").bx"
  local t0 t1 w r
  t0=$(date +%s.%N); w=$(peak_rss "bx-load -q --to parquet --path $l --partition-by sale_date $f"); t1=$(date +%s.%N)
  local ws; ws=$(echo "$n / ($t1 - $t0)" | bc)
  t0=$(date +%s.%N); r=$(peak_rss "bx-extract -q $l/"); t1=$(date +%s.%N)
  local rs; rs=$(echo "$n / ($t1 - $t0)" | bc)
  printf '  %-10s peak RSS: bx-load %4d MB (%d rows/s), bx-extract %4d MB (%d rows/s) (target < 200)\n' "$n rows" "$w" "$ws" "$r" "$rs"
}
rss_at "$rows" "$nd" "$lake"
du -sh "$lake/.bx" 2>/dev/null | sed 's/^/  size of the bx lake: /'
rm -rf "$lake" "$dlake" "$OUT/.lake-bx-$rows.bx"

BIG="${BENCH_BIG:-$((rows * 10))}"
if [ "$BIG" != 0 ]; then
  dir="${BENCH_BIG_DIR:-/tmp/bx-bench}"
  mkdir -p "$dir"
  big="$dir/sales-$BIG.ndjson"
  [ -s "$big" ] || node "$BENCH_DIR/gen-sales.mjs" "$BIG" ndjson > "$big"
  rss_at "$BIG" "$big" "$dir/lake-$BIG"
  rm -rf "$dir/lake-$BIG"
fi
