#!/usr/bin/env bash
# make bench: every bench/<stage>.sh in pipeline order, each printing its figures beside a
# baseline measured in the same run. BENCH_ROWS (default 1000000) sizes the generated input.
set -euo pipefail
cd "$(dirname "$0")"
command -v bc >/dev/null && [ -x /usr/bin/time ] || {
  echo "bench: needs bc and GNU time (apt-get install bc time)"; exit 69; }
for stage in extract ndjson load clean agg writers parquet dbsource streams report monitor startup rss scaleout demo; do
  [ -f "$stage.sh" ] && bash "$stage.sh"
done
