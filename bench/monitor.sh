#!/usr/bin/env bash
# What watching a run costs: the pipe bx-extract | bx-clean with and without a run log
# (BX_RUN_LOG, one record per stage) and a metrics file per stage (--metrics-file), the same
# file, runs interleaved (measure_ab), medians. The cost is per run (a lazy import, one append,
# one small atomic file), not per record, so a smaller BENCH_ROWS shows it larger.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

csv=$(sales_file csv)
log="$OUT/monitor-runs.ndjson"
echo "monitoring overhead ($ROWS-row sales CSV, $(( $(stat -L -c %s "$csv") / 1048576 )) MB): bx-extract | bx-clean"
rm -f "$log"
measure_ab "$ROWS" "true" \
  'plain' "bx-extract -q '$csv' | bx-clean -q --type quantity:integer" \
  'BX_RUN_LOG + --metrics-file' "export BX_RUN_LOG='$log' BX_PIPELINE_ID=bench; bx-extract -q --metrics-file '$OUT/extract.prom' '$csv' | bx-clean -q --type quantity:integer --metrics-file '$OUT/clean.prom'"
[ "$RATE_A" -gt 0 ] && echo "  monitored / plain (rows/s): $(ratio "$RATE_B" "$RATE_A")x   ($(wc -l < "$log") run records written)"

# Start-up: the same cost seen on a tiny input, where it is all there is.
tiny="$OUT/monitor-tiny.csv"
printf 'a,b\n1,2\n' > "$tiny"
measure_ab 1000000 "true" \
  'tiny input, plain' "bx-extract -q '$tiny' | bx-clean -q" \
  'tiny input, BX_RUN_LOG + --metrics-file' "export BX_RUN_LOG='$log'; bx-extract -q --metrics-file '$OUT/e.prom' '$tiny' | bx-clean -q --metrics-file '$OUT/c.prom'"
# measure_ab's rows/s here are 10^6 / seconds, so RATE_A / RATE_B = seconds monitored / plain.
[ "$RATE_B" -gt 0 ] && echo "  tiny: monitored / plain (seconds): $(ratio "$RATE_A" "$RATE_B")x"
