#!/usr/bin/env bash
# bx-clean: rows/s typing and checking a 10-field schema, beside two baselines measured in the
# same run on the same file: `cat` (the I/O floor) and `bx-clean` with no rules (the NDJSON
# passthrough: parse + stringify, what every stage pays). Then expressions, dedupe with its
# peak RSS, and the memory of the dedupe digest table for 10 million keys.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
echo "bx-clean ($ROWS-row sales NDJSON, $(( $(stat -c %s "$nd") / 1048576 )) MB)"

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
    { "name": "category", "type": "string", "constraints": { "enum": ["Furniture", "Office Supplies", "Technology", "Toys", "Grocery", "Garden"] } },
    { "name": "quantity", "type": "integer", "constraints": { "minimum": 1, "maximum": 1000 } },
    { "name": "unit_price", "type": "number", "bx:scale": 2, "constraints": { "minimum": 0 } },
    { "name": "discount", "type": "number", "bx:scale": 2, "constraints": { "minimum": 0, "maximum": 1 } }
  ]
}
EOF
rej="$OUT/clean-rejects.ndjson"

measure 'cat (the I/O floor)' "$ROWS" "cat '$nd'"
measure 'bx-clean, no rules (NDJSON passthrough)' "$ROWS" "bx-clean -q '$nd'"
PASS=$RATE
measure 'bx-clean --schema (10 fields typed+checked)' "$ROWS" "bx-clean -q --schema '$schema' --rejects '$rej' '$nd'"
TYPED=$RATE
echo "    rejected: $(wc -l < "$rej") (expected 0)"
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
