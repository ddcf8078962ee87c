#!/usr/bin/env bash
# bx-extract NDJSON -> NDJSON rows/s: the byte path (canonical lines pass through as bytes)
# beside the object path it replaced (the commit before it, built once into bench/out/base:
# BASE_REV, default 584f77b), `cat`, and Miller if installed, alternating runs (measure_ab).
# Issue 21's target: >= 800 k rows/s (the batched-passthrough ceiling in STACK.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
echo "bx-extract ndjson -> ndjson ($ROWS-row sales NDJSON, $(( $(stat -L -c %s "$nd") / 1048576 )) MB)"

base="$OUT/base-${BASE_REV:=584f77b}"
if [ ! -x "$base/bin/bx-extract" ]; then
  rm -rf "$base" && mkdir -p "$base"
  git -C "$ROOT" archive "$BASE_REV" src bin tsconfig.json package.json | tar -x -C "$base"
  ln -s "$ROOT/node_modules" "$base/node_modules"
  (cd "$base" && npx tsc -p . >/dev/null)
fi

measure 'cat (the I/O floor)' "$ROWS" "cat '$nd'"
CAT=$RATE
if command -v mlr >/dev/null 2>&1; then
  measure 'mlr --ijsonl --ojsonl cat' "$ROWS" "mlr --ijsonl --ojsonl cat '$nd'"
else
  echo "  mlr: not installed; skipped"
fi
measure_ab "$ROWS" ':' \
  "object path ($BASE_REV)" "'$base/bin/bx-extract' -q '$nd'" \
  'byte path' "bx-extract -q '$nd'"
echo "  byte path / object path: $(ratio "$RATE_B" "$RATE_A")x; cat / byte path: $(ratio "$CAT" "$RATE_B")x"
measure_ab "$ROWS" ':' \
  "object path --lineage ($BASE_REV)" "'$base/bin/bx-extract' -q --lineage '$nd'" \
  'byte path --lineage' "bx-extract -q --lineage '$nd'"
echo "  with --lineage: $(ratio "$RATE_B" "$RATE_A")x"
echo "  output identical to the object path: $(cmp -s <("$base/bin/bx-extract" -q --lineage "$nd") <(bx-extract -q --lineage "$nd") && echo yes || echo NO)"
echo "  peak RSS, byte path: $(peak_rss "bx-extract -q '$nd'") MB"
