#!/usr/bin/env bash
# bench/demo.sh: the whole daily job (scripts/demo/Makefile) on one day of BENCH_ROWS sales
# (default 1000000), serial and with make -j2, in turn (the input generated once, outside the
# timing). Uses DATABASE_URL, else the embedded PostgreSQL the demo starts itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out="$OUT/demo-$ROWS"
mkdir -p "$out"
echo "demo: the daily job on $ROWS sales rows (serial and make -j2, medians of $RUNS_AB, in turn)"
# The day's exports, made once: GEN=1 generates them into IN; the timed runs read them with GEN=0.
make -s -C "$ROOT/scripts/demo" OUT="$out" ROWS="$ROWS" DEMO_SCHEMA=bench_demo fresh >/dev/null 2>&1
in="$out/in/2026-11-22"
job="make -s -C $ROOT/scripts/demo OUT=$out GEN=0 IN=$in DEMO_SCHEMA=bench_demo fresh"
measure_ab "$ROWS" true "make (serial)" "$job" "make -j2" "${job/make -s/make -s -j2}"
echo "  make -j2 / serial: $(ratio "$RATE_B" "$RATE_A")x"
