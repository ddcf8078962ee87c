#!/usr/bin/env bash
# bx-report: seconds to render a report of the generated 1 M-row sales file aggregated to 10
# sections (bx-agg makes the 10 inputs, once, untimed in the figure), beside bx-agg reading the
# same files in the same run; then 1 M rows straight into one table section (cut at
# --max-rows), beside bx-agg counting them; then the hand-written SVG writer's cost per 30-bar
# chart, against nothing installed (NEXT-STACK.md §5 measured ECharts SSR at 62 ms and
# vega-lite at 70 ms a chart, 67 MB and 25 MB installed; neither is installed here).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=$(sales_file ndjson)
echo "bx-report ($ROWS-row sales file, NDJSON $(( $(stat -L -c %s "$nd") / 1048576 )) MB)"

# The ten aggregates a daily sales report shows; made once per bench run.
aggs=(
  "category|--by category --agg revenue=sum:unit_price"
  "day|--by sale_date --agg revenue=sum:unit_price"
  "store|--by store_id --agg revenue=sum:unit_price --sort revenue:desc"
  "payment|--by payment --agg revenue=sum:unit_price,n=count"
  "register|--by register --agg n=count"
  "top|--by product_name --agg revenue=sum:unit_price --sort revenue:desc --top 20"
  "discount|--by discount --agg n=count,revenue=sum:unit_price"
  "quantity|--by quantity --agg n=count"
  "catpay|--by category,payment --agg revenue=sum:unit_price"
  "products|--by product_id --agg revenue=sum:unit_price,n=count"
)
# Made once and kept beside the sales file (bench/out/report-agg-N): they are deterministic,
# and ten passes over 1 M rows are the bulk of this bench's time on a busy 2-core machine.
A="$OUT/report-agg-$ROWS"
mkdir -p "$A"
if [ ! -s "$A/.done" ]; then
  t0=$(date +%s.%N)
  for a in "${aggs[@]}"; do
    name=${a%%|*}
    # shellcheck disable=SC2086
    bx-agg -q ${a#*|} "$nd" > "$A/$name.ndjson"
  done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l > "$A/.done"
fi
printf '  %-44s %8.2f s  (made once, kept in %s)\n' "bx-agg x10 over $ROWS rows" "$(cat "$A/.done")" "${A#"$ROOT/"}"

report="bx-report -q --title 'Daily sales' \
  --section 'Revenue by category' --chart bar --x category --y revenue $A/category.ndjson \
  --section 'Revenue by day' --chart line --x sale_date --y revenue $A/day.ndjson \
  --section 'Revenue by store' --chart hbar --x store_id --y revenue $A/store.ndjson \
  --section 'Payments' --chart bar --x payment --y revenue $A/payment.ndjson \
  --section 'Sales per register' --chart bar --x register --y n $A/register.ndjson \
  --section 'Top 20 products' --chart hbar --x product_name --y revenue $A/top.ndjson \
  --section 'Discounts' --chart table $A/discount.ndjson \
  --section 'Basket sizes' --chart bar --x quantity --y n $A/quantity.ndjson \
  --section 'Category x payment' --chart table $A/catpay.ndjson \
  --section 'Every product' --chart table $A/products.ndjson \
  -o $OUT/report.html"
groups=$(cat "$A"/*.ndjson | wc -l)
echo " 10 sections from the 10 aggregates ($groups records):"
measure_ab "$groups" "true" "bx-report, 10 sections -> HTML" "$report" "baseline: bx-agg -q --agg count, same files" "bx-agg -q --agg count $A/*.ndjson"
secs_report=$(echo "$groups / $RATE_A" | bc -l)
secs_base=$(echo "$groups / $RATE_B" | bc -l)
printf '  report / baseline: %sx; page %d KB\n' "$(ratio "$secs_report" "$secs_base")" "$(( $(stat -L -c %s "$OUT/report.html") / 1024 ))"

echo " $ROWS rows straight into one table section (--max-rows 1000):"
measure_ab "$ROWS" "true" "bx-report, 1 table section -> HTML" "bx-report -q --section All '$nd' -o $OUT/all.html" "baseline: bx-agg -q --agg count" "bx-agg -q --agg count '$nd'"
printf '  report / baseline rows/s: %sx; page %d KB for %d rows\n' "$(ratio "$RATE_A" "$RATE_B")" "$(( $(stat -L -c %s "$OUT/all.html") / 1024 ))" "$ROWS"
echo "  peak RSS: bx-report $(peak_rss "bx-report -q --section All '$nd' -o $OUT/all.html") MB, bx-agg count $(peak_rss "bx-agg -q --agg count '$nd'") MB"

echo " the SVG writer, one 30-bar chart (median of 9 x 200 renders, in process):"
node --input-type=module -e "
import { chartSvg } from '$ROOT/dist/report/svg.js';
const points = Array.from({ length: 30 }, (_, i) => ({ label: 'Category ' + i, text: String(1000 + i * 137.25), value: 1000 + i * 137.25 }));
const times = [];
let bytes = 0;
for (let k = 0; k < 9; k++) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) bytes = chartSvg({ kind: 'bar', points, xName: 'category', yName: 'revenue', title: 'T' }, 'c' + i).length;
  times.push(Number(process.hrtime.bigint() - t) / 200 / 1e6);
}
times.sort((a, b) => a - b);
const ms = times[4];
console.log('  hand-written SVG: ' + ms.toFixed(3) + ' ms a chart, ' + bytes + ' bytes, 0 bytes installed');
console.log('  NEXT-STACK.md 5 (not installed): ECharts SSR 62 ms (67 MB), vega-lite 70 ms (25 MB): ' + Math.round(62 / ms) + 'x and ' + Math.round(70 / ms) + 'x the time');
"
