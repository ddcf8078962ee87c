#!/usr/bin/env bash
# Scale-out on one host: the per-file stages (bx-extract | bx-clean | bx-agg --partial) over 8
# part files of the generated sales file, one after another vs GNU parallel -j2, each followed by
# bx-agg --merge; one process over the whole file is printed beside them. The two split runs
# alternate (measure_ab, 3 runs each: ~3 minutes at 1 M rows on 2 busy cores), and the merged
# states are checked against the one-process output.
set -euo pipefail
export BENCH_RUNS_AB="${BENCH_RUNS_AB:-3}"
source "$(dirname "$0")/lib.sh"

if ! command -v parallel >/dev/null 2>&1; then echo "scale-out: GNU parallel is not installed; skipped"; exit 0; fi
csv=$(sales_file csv)
PARTS="${BENCH_PARTS:-8}"
dir="$OUT/scaleout-parts-$ROWS-$PARTS"
if [ ! -s "$dir/part-0.csv" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  # split -n l/N needs a file it can stat, not a pipe
  tail -n +2 "$csv" > "$dir/body" && split -n "l/$PARTS" -a 2 -d "$dir/body" "$dir/body." && rm "$dir/body"
  i=0
  for b in "$dir"/body.*; do { head -n 1 "$csv"; cat "$b"; } > "$dir/part-$i.csv"; rm "$b"; i=$((i + 1)); done
fi
echo "scale-out on one host ($ROWS rows in $PARTS CSV parts of ~$(( $(stat -L -c %s "$csv") / PARTS / 1048576 )) MB, $(nproc) cores)"

CLEAN="--type unit_price:decimal --type quantity:integer --type discount:decimal"
AGG="--by category,payment --agg n=count,qty=sum:quantity,revenue=sum:unit_price,avg:unit_price,min:unit_price,max:unit_price,max:discount"
stage="bx-extract -q {} | bx-clean -q $CLEAN | bx-agg -q --partial $AGG > {.}.state"
serial="for p in '$dir'/part-*.csv; do f=\$p; $(printf '%s' "${stage//\{\}/\$f}" | sed 's/{\.}/${f%.csv}/g') || exit 1; done; bx-agg -q --merge $AGG '$dir'/part-*.state"
par="parallel --will-cite -j2 '$stage' ::: '$dir'/part-*.csv && bx-agg -q --merge $AGG '$dir'/part-*.state"
setup="rm -f '$dir'/part-*.state"

# The one-process baseline runs once (its md5 is the reference); the two split runs alternate.
t0=$(date +%s.%N)
one=$(bx-extract -q "$csv" | bx-clean -q $CLEAN | bx-agg -q $AGG | md5sum)
secs=$(echo "$(date +%s.%N) - $t0" | bc -l)
printf '  %-44s %8.2f s  %9d rows/s\n' "one process over the whole file (1 run)" "$secs" "$(echo "$ROWS / $secs" | bc)"
measure_ab "$ROWS" "$setup" "$PARTS parts one after another (+ merge)" "$serial" "$PARTS parts, parallel -j2 (+ merge)" "$par"
echo "  speed-up, parallel -j2 vs one after another: $(ratio "$RATE_B" "$RATE_A")x"
# The last parallel run's states are still there: their merge must be the one-process output.
got=$(bx-agg -q --merge $AGG "$dir"/part-*.state | md5sum)
if [ "$got" = "$one" ]; then echo "  merged states = one process over the whole file (md5 ${one%% *})"; else echo "  merged states differ from one process: FAILED"; exit 1; fi
bash -c "$setup"
