#!/usr/bin/env bash
# Parquet lake: bx-load --to parquet and bx-extract of a lake, beside DuckDB (@duckdb/node-api,
# dev-only) doing the same work in the same run, and bx-extract's CSV read as the read baseline.
# Prints rows/s (median of BENCH_RUNS, default 1 here: one write of 1 M rows is the long part)
# and peak RSS; then the same at 3 x the rows, to show memory stays flat (BENCH_FLAT=0 skips it).
#   bash bench/parquet.sh                 # 1 M rows (and 3 M for the flat check)
#   BENCH_ROWS=200000 bash bench/parquet.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUNS="${BENCH_RUNS:-1}"

duck() { # duck 'SQL': runs one statement in an in-memory DuckDB (default threads: both cores)
  node --input-type=module -e "
    import { DuckDBInstance } from '@duckdb/node-api';
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(process.argv[1]);" "$1"
}
export -f duck
cd "$ROOT"

rss() { # rss 'pipeline': peak RSS in MB of the pipeline's largest process
  local f; f=$(mktemp)
  bash -o pipefail -c "/usr/bin/time -f %M -o $f bash -c '$1' > /dev/null 2>&1" || true
  echo "$(( $(tail -n 1 "$f") / 1024 ))"; rm -f "$f"
}

one_size() {
  local rows="$1"
  ROWS="$rows"
  local nd csv; nd=$(sales_file ndjson); csv=$(sales_file csv)
  local lake="$OUT/lake-bx-$rows" dlake="$OUT/lake-duck-$rows"
  echo "== $rows rows (sales: 12 fields, partitioned by sale_date into 28 partitions)"
  measure "bx-load --to parquet (snappy)" "$rows" "bx-load -q --to parquet --path $lake --partition-by sale_date $nd" "rm -rf $lake"
  local bxw=$RATE
  measure "DuckDB COPY … TO (PARTITION_BY, snappy)" "$rows" "duck \"COPY (SELECT * FROM read_ndjson('$nd')) TO '$dlake' (FORMAT parquet, PARTITION_BY (sale_date), OVERWRITE)\"" "rm -rf $dlake"
  local dw=$RATE
  measure "bx-extract lake/ (Parquet → NDJSON)" "$rows" "bx-extract -q $lake/"
  local bxr=$RATE
  measure "DuckDB read_parquet → NDJSON" "$rows" "duck \"COPY (SELECT * FROM read_parquet('$lake/*/*.parquet', hive_partitioning=true)) TO '/dev/stdout' (FORMAT json)\""
  local dr=$RATE
  measure "bx-extract sales.csv (CSV → NDJSON, baseline)" "$rows" "bx-extract -q $csv"
  local cr=$RATE
  echo "  write: bx/DuckDB = $(echo "scale=2; $bxw / $dw" | bc) (target ≥ 0.5)"
  echo "  read:  bx Parquet/bx CSV = $(echo "scale=2; $bxr / $cr" | bc) (target ≥ 1); bx/DuckDB = $(echo "scale=2; $bxr / $dr" | bc)"
  rm -rf "$lake"
  echo "  peak RSS: bx-load $(rss "bx-load -q --to parquet --path $lake --partition-by sale_date $nd") MB, bx-extract $(rss "bx-extract -q $lake/") MB (target < 200)"
  du -sh "$lake/.bx" "$dlake" 2>/dev/null | sed 's/^/  size: /'
  rm -rf "$lake" "$dlake" "$OUT/.lake-bx-$rows.bx"
}

BASE="$ROWS"
one_size "$BASE"
if [ "${BENCH_FLAT:-1}" = 1 ]; then one_size $((BASE * 3)); fi
