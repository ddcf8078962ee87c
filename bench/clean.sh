#!/usr/bin/env bash
# bx-clean: rows/s typing and checking every field of the sales file (a 12-field schema), beside
# baselines measured in the same run on the same file: `cat` (the I/O floor), `bx-clean` with no
# rules, the object path of the same build (BX_CLEAN_OBJECTS=1: parse + type + stringify, what
# bx-clean did before its byte path), Miller's `mlr --ijsonl --ojsonl cat` when installed, and,
# with BX_CLEAN_BEFORE=DIR (a checkout's bin/, e.g. /work/main/bin), that build's bx-clean run by
# run in turn with this one. Then the nightly job `bx-extract CSV | bx-clean --schema | bx-load`
# beside `psql \copy` of the same CSV into the same table (with DATABASE_URL or PG* set), then
# expressions, dedupe with its peak RSS, and the memory of the dedupe digest table for 10 M keys.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
echo "bx-clean ($ROWS-row sales NDJSON, $(( $(stat -L -c %s "$nd") / 1048576 )) MB)"

schema="$OUT/sales.schema.json"
cat > "$schema" <<'EOF'
{
  "fields": [
    { "name": "sale_id", "type": "integer", "constraints": { "required": true } },
    { "name": "sale_date", "type": "date", "constraints": { "required": true } },
    { "name": "sold_at", "type": "datetime" },
    { "name": "store_id", "type": "string", "constraints": { "pattern": "S[0-9]+" } },
    { "name": "register", "type": "integer", "constraints": { "minimum": 1 } },
    { "name": "product_id", "type": "string" },
    { "name": "product_name", "type": "string" },
    { "name": "category", "type": "string", "constraints": { "enum": ["Furniture", "Office Supplies", "Technology", "Toys", "Grocery", "Garden"] } },
    { "name": "quantity", "type": "integer", "constraints": { "minimum": 1, "maximum": 1000 } },
    { "name": "unit_price", "type": "number", "bx:scale": 2, "constraints": { "minimum": 0 } },
    { "name": "discount", "type": "number", "bx:scale": 2, "constraints": { "minimum": 0, "maximum": 1 } },
    { "name": "payment", "type": "string", "constraints": { "enum": ["card", "cash", "voucher", "mobile"] } }
  ]
}
EOF
rej="$OUT/clean-rejects.ndjson"

# measure_abc ROWS SETUP LABEL_A 'A' LABEL_B 'B' LABEL_C 'C': measure_ab for three, in turn run
# by run (RUNS_AB times each); the medians' rows/s in $RATE_A, $RATE_B, $RATE_C.
measure_abc() {
  local rows="$1" setup="$2" r k t0 t1 err; err=$(mktemp)
  local -a labels=("$3" "$5" "$7") cmds=("$4" "$6" "$8") ta=() tb=() tc=()
  for ((r = 0; r < RUNS_AB; r++)); do
    for k in 0 1 2; do
      bash -c "$setup" > /dev/null
      t0=$(date +%s.%N)
      if ! bash -o pipefail -c "${cmds[$k]}" > /dev/null 2> "$err"; then
        echo "  ${labels[$k]}: FAILED ($(tail -n 1 "$err"))"; RATE_A=0; RATE_B=0; RATE_C=0; rm -f "$err"; return 0
      fi
      t1=$(date +%s.%N)
      case $k in 0) ta+=("$(echo "$t1 - $t0" | bc -l)") ;; 1) tb+=("$(echo "$t1 - $t0" | bc -l)") ;; *) tc+=("$(echo "$t1 - $t0" | bc -l)") ;; esac
    done
  done
  rm -f "$err"
  local mid=$(( (RUNS_AB + 1) / 2 )) s
  s=$(printf '%s\n' "${ta[@]}" | sort -n | sed -n "${mid}p"); RATE_A=$(echo "$rows / $s" | bc); printf '  %-52s %8.2f s  %9d rows/s\n' "$3" "$s" "$RATE_A"
  s=$(printf '%s\n' "${tb[@]}" | sort -n | sed -n "${mid}p"); RATE_B=$(echo "$rows / $s" | bc); printf '  %-52s %8.2f s  %9d rows/s\n' "$5" "$s" "$RATE_B"
  s=$(printf '%s\n' "${tc[@]}" | sort -n | sed -n "${mid}p"); RATE_C=$(echo "$rows / $s" | bc); printf '  %-52s %8.2f s  %9d rows/s\n' "$7" "$s" "$RATE_C"
}

measure 'cat (the I/O floor)' "$ROWS" "cat '$nd'"
measure 'bx-clean, no rules (NDJSON passthrough)' "$ROWS" "bx-clean -q '$nd'"
PASS=$RATE
TYPED_CMD="bx-clean -q --schema '$schema' --rejects '$rej' '$nd'"
if command -v mlr > /dev/null; then
  MLR_LABEL='mlr --ijsonl --ojsonl cat (Miller)' MLR_CMD="mlr --ijsonl --ojsonl cat '$nd'"
else
  MLR_LABEL='cat (Miller not installed)' MLR_CMD="cat '$nd'"
fi
# The figure, its object-path baseline, and Miller, run by run in turn.
measure_abc "$ROWS" ':' \
  'bx-clean --schema, object path (BX_CLEAN_OBJECTS=1)' "BX_CLEAN_OBJECTS=1 $TYPED_CMD" \
  "$MLR_LABEL" "$MLR_CMD" \
  'bx-clean --schema (12 fields typed+checked)' "$TYPED_CMD"
OBJ=$RATE_A; MLR=$RATE_B; TYPED=$RATE_C
echo "    rejected: $(wc -l < "$rej") (expected 0)"
command -v mlr > /dev/null || echo "  Miller: not installed"
echo "  --schema byte path / object path: $(ratio "$TYPED" "$OBJ")x (target 3x)   / Miller: $(ratio "$TYPED" "$MLR")x (target 1x)"
if [ -n "${BX_CLEAN_BEFORE:-}" ]; then
  cmp -s <(bash -c "$TYPED_CMD") <(bash -c "${TYPED_CMD/bx-clean/$BX_CLEAN_BEFORE/bx-clean}") \
    && echo "    output: byte-identical to $BX_CLEAN_BEFORE/bx-clean" || echo "    output: DIFFERS from $BX_CLEAN_BEFORE/bx-clean"
  measure_ab "$ROWS" ':' \
    "bx-clean --schema, before ($BX_CLEAN_BEFORE)" "${TYPED_CMD/bx-clean/$BX_CLEAN_BEFORE/bx-clean}" \
    'bx-clean --schema, this build' "$TYPED_CMD"
  echo "  --schema this build / before: $(ratio "$RATE_B" "$RATE_A")x"
fi

# The nightly job on the CSV, sealed, into a table, beside psql \copy of the same CSV.
if command -v psql > /dev/null && [ -n "${DATABASE_URL:-}${PGHOST:-}${PGDATABASE:-}${PGSERVICE:-}" ]; then
  csv=$(sales_file csv)
  PSQL=(psql "${DATABASE_URL:-}" -qAtX -v ON_ERROR_STOP=1)
  [ -n "${DATABASE_URL:-}" ] || PSQL=(psql -qAtX -v ON_ERROR_STOP=1)
  export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
  T=bench_clean_sales
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS $T" -c "CREATE TABLE $T (sale_id bigint, sale_date date, sold_at timestamptz,
    store_id text, register int, product_id text, product_name text, category text, quantity int,
    unit_price numeric(10,2), discount numeric(4,2), payment text)"
  TRUNCATE="${PSQL[*]@Q} -c 'TRUNCATE $T'; ${PSQL[*]@Q} -c CHECKPOINT 2>/dev/null || true"
  JOB="BX_SEAL=1 bx-extract -q '$csv' | BX_SEAL=1 bx-clean -q --schema '$schema' | BX_SEAL=1 bx-load -q --table $T"
  echo "  the nightly job: $JOB"
  if [ -n "${BX_CLEAN_BEFORE:-}" ]; then
    measure_abc "$ROWS" "$TRUNCATE" \
      'psql \copy CSV (baseline)' "${PSQL[*]@Q} -c \"\\\\copy $T FROM '$csv' CSV HEADER\"" \
      'job with bx-clean before' "${JOB/bx-clean/$BX_CLEAN_BEFORE/bx-clean}" \
      'job with this bx-clean' "$JOB"
    echo "  job / psql \\copy: before $(ratio "$RATE_B" "$RATE_A")x, now $(ratio "$RATE_C" "$RATE_A")x (target 0.7x)"
  else
    measure_ab "$ROWS" "$TRUNCATE" \
      'psql \copy CSV (baseline)' "${PSQL[*]@Q} -c \"\\\\copy $T FROM '$csv' CSV HEADER\"" \
      'job with this bx-clean' "$JOB"
    echo "  job / psql \\copy: $(ratio "$RATE_B" "$RATE_A")x (target 0.7x)"
  fi
  n=$("${PSQL[@]}" -c "SELECT count(*) FROM $T"); [ "$n" = "$ROWS" ] || echo "  (expected $ROWS rows in $T, found $n)"
  "${PSQL[@]}" -c "DROP TABLE $T"
else
  echo "  the nightly job vs psql \\copy: skipped (no psql, or no DATABASE_URL / PG* set)"
fi
measure 'bx-clean --schema --set revenue --where' "$ROWS" \
  "bx-clean -q --schema '$schema' --rejects '$rej' --set 'revenue = quantity * unit_price * (1 - discount)' --where 'quantity > 1 and category != \"Toys\"' '$nd'"
EXPR=$RATE
measure 'bx-clean --dedupe sale_id' "$ROWS" "bx-clean -q --dedupe sale_id '$nd'"
DEDUPE=$RATE
echo "    peak RSS: no rules $(peak_rss "bx-clean -q '$nd'") MB, --dedupe sale_id $(peak_rss "bx-clean -q --dedupe sale_id '$nd'") MB"
[ "$PASS" -gt 0 ] && echo "  typed / passthrough: $(ratio "$TYPED" "$PASS")x   expressions / passthrough: $(ratio "$EXPR" "$PASS")x   dedupe / passthrough: $(ratio "$DEDUPE" "$PASS")x"

# The dedupe table alone: 10 million distinct composite keys, memory and time per key.
KEYS="${BENCH_DEDUPE_KEYS:-10000000}"
node --input-type=module -e "
import { DigestSet, keyText } from '$ROOT/dist/lib/dedupe.js';
const n = $KEYS;
const rss0 = process.memoryUsage().rss;
const s = new DigestSet();
const t0 = performance.now();
const key = [0, 'S1', '2026-11-23'];
for (let i = 0; i < n; i++) { key[0] = i; key[1] = 'S' + (i % 500); s.add(keyText(key)); }
const ms = performance.now() - t0;
const mb = (b) => (b / 1048576).toFixed(0);
console.log('  dedupe table, ' + n + ' keys: ' + mb(s.bytes) + ' MiB of slots (' + (s.bytes / n).toFixed(1) + ' B/key), RSS +' + mb(process.memoryUsage().rss - rss0) + ' MiB, ' + (ms * 1000 / n).toFixed(2) + ' us/key');
console.log('  collision probability (n^2 / 2^129): ' + (n * n / 2 ** 129).toExponential(1));
"
