#!/usr/bin/env bash
# bx-extract: CSV -> NDJSON rows/s beside `cat` and Miller on the same file in the same run,
# then peak RSS on a ~1 GB CSV and a ~1 GB XML file (memory must stay flat: < 150 MB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

csv=$(sales_file csv)
echo "bx-extract ($ROWS-row sales CSV, $(( $(stat -L -c %s "$csv") / 1048576 )) MB)"

if ! command -v mlr >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (timeout 180 apt-get install -y -q miller >/dev/null 2>&1 ||
    { timeout 180 apt-get update -q >/dev/null 2>&1 && timeout 180 apt-get install -y -q miller >/dev/null 2>&1; }) || true
fi

measure 'cat (the I/O floor)' "$ROWS" "cat '$csv'"
CAT=$RATE
MLR=0
if command -v mlr >/dev/null 2>&1; then
  measure 'mlr --icsv --ojsonl cat' "$ROWS" "mlr --icsv --ojsonl cat '$csv'"
  MLR=$RATE
else
  echo "  mlr: not installed (and not root to install it); skipped"
fi
measure 'bx-extract csv -> ndjson' "$ROWS" "bx-extract -q '$csv'"
BX=$RATE
gz="$OUT/sales-$ROWS.csv.gz"
[ -s "$gz" ] || gzip -c "$csv" > "$gz"
measure 'bx-extract csv.gz -> ndjson' "$ROWS" "bx-extract -q '$gz'"
if [ "$MLR" -gt 0 ]; then echo "  bx-extract / Miller: $(ratio "$BX" "$MLR")x"; fi
if [ "$BX" -gt 0 ]; then echo "  cat / bx-extract:    $(ratio "$CAT" "$BX")x (reading bytes against parsing them)"; fi

# ~1 GB inputs for the memory check, made once from the sales rows.
big_csv="$OUT/sales-1g.csv"
if [ ! -s "$big_csv" ]; then
  copies=$(( 1000000000 / $(stat -L -c %s "$csv") + 1 ))
  { cat "$csv"; for _ in $(seq 2 "$copies"); do tail -n +2 "$csv"; done; } > "$big_csv.tmp"
  mv "$big_csv.tmp" "$big_csv"
fi
big_xml="$OUT/sales-1g.xml"
if [ ! -s "$big_xml" ]; then
  # One <sale id="…"> element per CSV row, a child element per column, until ~1 GB.
  node -e '
    const rl = require("readline").createInterface({ input: require("fs").createReadStream(process.argv[1]) });
    const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    let head, out = ["<?xml version=\"1.0\"?>\n<sales>"], bytes = 0, done = false;
    const flush = () => { const s = out.join("\n") + "\n"; bytes += s.length; process.stdout.write(s); out = []; };
    rl.on("line", (l) => {
      if (done) return;
      if (!head) { head = l.split(","); return; }
      const f = l.match(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g).map((x) => x.replace(/,$/, "").replace(/^"|"$/g, "").replace(/""/g, "\""));
      out.push(`<sale id="${f[0]}">` + head.slice(1).map((h, i) => `<${h}>${esc(f[i + 1] ?? "")}</${h}>`).join("") + "</sale>");
      if (out.length >= 5000) { flush(); if (bytes > 1e9) { done = true; rl.close(); } }
    });
    rl.on("close", () => { out.push("</sales>"); flush(); process.exit(0); });
  ' "$big_csv" > "$big_xml.tmp"
  mv "$big_xml.tmp" "$big_xml"
fi
echo "  peak RSS, $(( $(stat -L -c %s "$big_csv") / 1048576 )) MB CSV: $(peak_rss "bx-extract -q '$big_csv'") MB (limit 150)"
echo "  peak RSS, $(( $(stat -L -c %s "$big_xml") / 1048576 )) MB XML: $(peak_rss "bx-extract -q --record-path sales.sale '$big_xml'") MB (limit 150)"
# A reader leaving early is normal: exit 0, nothing on stderr (quiet hides only the summary).
early=$(bash -o pipefail -c "bx-extract -q '$big_csv' | head -n 3 > /dev/null; echo \"exit \$?\"" 2>&1)
echo "  bx-extract 1 GB CSV | head -n 3: $(echo "$early" | tr '\n' ' ')"
