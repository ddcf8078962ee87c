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

# measure LABEL ROWS 'shell pipeline': runs it once, prints seconds, rows/s and the peak RSS of
# the largest process (GNU time), and stores rows/s in $RATE for ratios.
measure() {
  local label="$1" rows="$2" cmd="$3" t0 t1 secs
  local tf; tf=$(mktemp)
  t0=$(date +%s.%N)
  if ! /usr/bin/time -f '%M' -o "$tf" bash -o pipefail -c "$cmd" > /dev/null 2> "$tf.err"; then
    echo "  $label: FAILED ($(tail -n 1 "$tf.err"))"; RATE=0; rm -f "$tf" "$tf.err"; return 0
  fi
  t1=$(date +%s.%N)
  secs=$(echo "$t1 - $t0" | bc -l)
  RATE=$(echo "$rows / $secs" | bc)
  printf '  %-44s %8.2f s  %9d rows/s\n' "$label" "$secs" "$RATE"
  rm -f "$tf" "$tf.err"
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
