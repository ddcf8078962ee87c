# Sourced by bench/*.sh. Figures are printed, never asserted; quote them as ratios against a
# baseline measured in the same run.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
OUT="$BENCH_DIR/out"
ROWS="${BENCH_ROWS:-1000000}"
export PATH="$ROOT/bin:$PATH"
mkdir -p "$OUT"

# sales_file csv|ndjson: the generated 1 M-row point-of-sale file (made once, reused).
sales_file() {
  local f="$OUT/sales-$ROWS.$1"
  [ -s "$f" ] || node "$BENCH_DIR/gen-sales.mjs" "$ROWS" "$1" > "$f"
  echo "$f"
}

# measure LABEL ROWS 'shell pipeline' ['setup']: runs the pipeline RUNS times (BENCH_RUNS,
# default 3; `setup`, untimed, before each run) and prints the median seconds and rows/s, which
# it also keeps in $RATE for ratios. One run alone swings by 10 % on a busy 2-core machine.
RUNS="${BENCH_RUNS:-3}"
measure() {
  local label="$1" rows="$2" cmd="$3" setup="${4:-}" t0 t1 secs r
  local times=() err; err=$(mktemp)
  for ((r = 0; r < RUNS; r++)); do
    [ -z "$setup" ] || bash -c "$setup" > /dev/null
    t0=$(date +%s.%N)
    if ! bash -o pipefail -c "$cmd" > /dev/null 2> "$err"; then
      echo "  $label: FAILED ($(tail -n 1 "$err"))"; RATE=0; rm -f "$err"; return 0
    fi
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  rm -f "$err"
  secs=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  RATE=$(echo "$rows / $secs" | bc)
  printf '  %-44s %8.2f s  %9d rows/s\n' "$label" "$secs" "$RATE"
}

# measure_ab ROWS SETUP LABEL_A 'pipeline A' LABEL_B 'pipeline B': like measure, for a figure and
# its baseline, but alternating A and B run by run (RUNS_AB times each, BENCH_RUNS_AB, default 5),
# so that a machine that slows down or speeds up during the bench moves both medians alike.
# Keeps the medians' rows/s in $RATE_A and $RATE_B.
RUNS_AB="${BENCH_RUNS_AB:-5}"
measure_ab() {
  local rows="$1" setup="$2" r which label cmd t0 t1
  local a=() b=() err; err=$(mktemp)
  for ((r = 0; r < RUNS_AB; r++)); do
    for which in A B; do
      if [ "$which" = A ]; then label="$3" cmd="$4"; else label="$5" cmd="$6"; fi
      bash -c "$setup" > /dev/null
      t0=$(date +%s.%N)
      if ! bash -o pipefail -c "$cmd" > /dev/null 2> "$err"; then
        echo "  $label: FAILED ($(tail -n 1 "$err"))"; RATE_A=0; RATE_B=0; rm -f "$err"; return 0
      fi
      t1=$(date +%s.%N)
      if [ "$which" = A ]; then a+=("$(echo "$t1 - $t0" | bc -l)"); else b+=("$(echo "$t1 - $t0" | bc -l)"); fi
    done
  done
  rm -f "$err"
  local mid=$(( (RUNS_AB + 1) / 2 )) sa sb
  sa=$(printf '%s\n' "${a[@]}" | sort -n | sed -n "${mid}p")
  sb=$(printf '%s\n' "${b[@]}" | sort -n | sed -n "${mid}p")
  RATE_A=$(echo "$rows / $sa" | bc)
  RATE_B=$(echo "$rows / $sb" | bc)
  printf '  %-44s %8.2f s  %9d rows/s\n' "$3" "$sa" "$RATE_A"
  printf '  %-44s %8.2f s  %9d rows/s\n' "$5" "$sb" "$RATE_B"
}

# ratio A B: A/B with two decimals.
ratio() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }

# peak_rss 'cmd': peak resident set size (MB) of the command, via GNU time.
peak_rss() {
  local tf; tf=$(mktemp)
  /usr/bin/time -f '%M' -o "$tf" bash -o pipefail -c "$1" > /dev/null 2>&1 || true
  echo $(( $(tail -n 1 "$tf") / 1024 ))
  rm -f "$tf"
}
