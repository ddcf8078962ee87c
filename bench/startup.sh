#!/usr/bin/env bash
# Start-up, a per-stage cost in every pipe: the wall time of `--version` and of a 10-row run
# for each command, median of N runs (BENCH_STARTUP_RUNS, default 20), beside bare `node -e 0`
# measured in the same run; hyperfine is used when installed. Also: how many modules and how many
# bytes of JavaScript the start path loads (NODE_DEBUG=module would be noisier; a loader hook
# counts exactly what is imported).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${BENCH_STARTUP_RUNS:-20}"
ten="$OUT/ten.csv"
head -n 11 "$(sales_file csv)" > "$ten"
ten_nd="$OUT/ten.ndjson"
head -n 10 "$(sales_file ndjson)" > "$ten_nd"

# median_ms 'cmd': median wall time of N runs, in ms.
median_ms() {
  local t=() i t0 t1
  for ((i = 0; i < N; i++)); do
    t0=$(date +%s%N)
    bash -c "$1" > /dev/null 2>&1 || true
    t1=$(date +%s%N)
    t+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n "$(( (N + 1) / 2 ))p"
}

# cpu_ms 'cmd': mean user+sys CPU of N runs, in ms (steadier than wall time on a busy machine).
cpu_ms() {
  local s=0 i tf; tf=$(mktemp)
  for ((i = 0; i < N; i++)); do
    /usr/bin/time -f '%U %S' -o "$tf" bash -c "$1" > /dev/null 2>&1 || true
    s=$(echo "$s + $(awk '{print $1 + $2}' "$tf")" | bc)
  done
  rm -f "$tf"
  echo "$s * 1000 / $N" | bc
}

echo "start-up, median of $N runs (ms; the issue's target: < 100 ms)"
if command -v hyperfine > /dev/null 2>&1; then echo "  (hyperfine installed: see hyperfine -N for a second opinion)"; else echo "  hyperfine: not installed; a loop of $N runs"; fi
printf '  %-44s %5s ms\n' 'node -e 0 (the floor)' "$(median_ms 'node -e 0')"
# Node 20 parses NODE_EXTRA_CA_CERTS before any JavaScript runs (~45 ms for a system bundle);
# the bx shims move it aside until a TLS connection needs it (src/lib/tls.ts).
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  printf '  %-44s %5s ms\n' "node -e 0 without NODE_EXTRA_CA_CERTS" "$(median_ms 'env -u NODE_EXTRA_CA_CERTS node -e 0')"
  echo "  (NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS: $(grep -c 'BEGIN CERTIFICATE' "$NODE_EXTRA_CA_CERTS" 2>/dev/null || echo '?') certificates)"
fi
for c in bx-extract bx-clean bx-agg bx-load bx-schema bx-db bx-runs bx-report bx; do
  printf '  %-44s %5s ms\n' "$c --version" "$(median_ms "$c --version")"
done
printf '  %-44s %5s ms\n' 'bx-extract ten.csv (10 rows)' "$(median_ms "bx-extract -q '$ten'")"
printf '  %-44s %5s ms\n' 'bx-extract ten.ndjson (10 rows)' "$(median_ms "bx-extract -q '$ten_nd'")"
printf '  %-44s %5s ms\n' 'bx-clean --trim < ten.ndjson' "$(median_ms "bx-clean -q --accept-unsealed --trim < '$ten_nd'")"
printf '  %-44s %5s ms\n' 'bx-agg --by category < ten.ndjson' "$(median_ms "bx-agg -q --accept-unsealed --by category --agg n=count < '$ten_nd'")"

echo "CPU (user+sys, mean of $N runs, ms)"
printf '  %-44s %5s ms\n' 'node -e 0 (the floor)' "$(cpu_ms 'node -e 0')"
printf '  %-44s %5s ms\n' 'bx-extract --version' "$(cpu_ms 'bx-extract --version')"
printf '  %-44s %5s ms\n' 'bx-extract ten.csv (10 rows)' "$(cpu_ms "bx-extract -q '$ten'")"

# Modules on the start path: a loader hook lists each file:// module imported.
hook="$OUT/count-modules.mjs"
cat > "$hook" <<'JS'
// Counts the modules a run loads and their bytes (printed to stderr at exit).
import { register } from 'node:module';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const seen = new Set();
register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(s, c, next) { const r = await next(s, c); globalThis.port?.postMessage(r.url); return r; }
export function initialize(d) { globalThis.port = d.port; }
`), { data: { port: (globalThis.__ch = new MessageChannel()).port2 }, transferList: [globalThis.__ch.port2] });
globalThis.__ch.port1.on('message', (u) => seen.add(u));
globalThis.__ch.port1.unref();
process.on('exit', () => {
  let bytes = 0, files = 0, deps = 0;
  for (const u of seen) if (u.startsWith('file:')) { files++; try { bytes += statSync(fileURLToPath(u)).size; } catch {} if (u.includes('/node_modules/')) deps++; }
  process.stderr.write(`modules: ${files} files (${deps} from node_modules), ${Math.round(bytes / 1024)} KiB\n`);
});
JS
for c in "bx-extract --version" "bx-extract -q $ten" "bx-clean --version" "bx-load --version"; do
  set -- $c
  printf '  %-44s %s\n' "$c" "$(node --import "$hook" "$ROOT/bin/$1" "${@:2}" 2>&1 >/dev/null | grep '^modules:' || echo '?')"
done
