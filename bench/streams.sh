#!/usr/bin/env bash
# Stream sources: messages/s drained from NATS JetStream and Redis Streams to NDJSON and into
# PostgreSQL, beside `redis-cli --raw XRANGE` reading the same stream (and the `nats` CLI when
# installed) and beside bx-load of the same records from a file, in the same run; peak RSS.
# BENCH_STREAM_ROWS messages (default 300000: publishing 1 M takes minutes on 2 busy cores).
# Skips a broker that does not answer. Uses DATABASE_URL / PG* when configured, else bx-db.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N="${BENCH_STREAM_ROWS:-300000}"
# One run per figure by default: at 300 k, three runs of each pair take ~12 minutes here.
RUNS="${BENCH_RUNS:-1}"
RUNS_AB="${BENCH_RUNS_AB:-1}"
NAME="bxst_bench_$$"
T="bxst_bench_sales_$$"
if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}${PGDATABASE:-}${PGSERVICE:-}" ]; then
  DATABASE_URL=$(bx-db start --dir "$OUT/db" -q)
  export DATABASE_URL
  STOP_DB=1
fi
PSQL=(psql "${DATABASE_URL:-}" -qAtX -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cleanup() {
  redis-cli -p 6379 DEL "$NAME" > /dev/null 2>&1 || true
  node -e "
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: '127.0.0.1:4222' });
    await (await jetstreamManager(nc)).streams.delete('$NAME').catch(() => {});
    await nc.close();" --input-type=module > /dev/null 2>&1 || true
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS $T" > /dev/null 2>&1 || true
  # The sealed runs stored their checkpoints: leave no key behind.
  "${PSQL[@]}" -c "DELETE FROM public.bx_state WHERE key LIKE '%/$NAME'" > /dev/null 2>&1 || true
  rm -f "$OUT/$NAME.ndjson"
  [ -z "${STOP_DB:-}" ] || bx-db stop --dir "$OUT/db" -q
}
trap cleanup EXIT
cd "$ROOT"
TRUNCATE="${PSQL[*]@Q} -c 'TRUNCATE $T'"

echo "streams: runs per figure: $RUNS_AB (BENCH_RUNS_AB); $N messages of ~60 bytes ({\"id\":…,\"store\":…,\"qty\":…,\"amount\":…}) per broker"

if up 6379; then
  t0=$(date +%s.%N)
  node bench/stream-pub.mjs redis "$NAME" "$N" > /dev/null
  echo "  (published $N to Redis in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc -l)") s)"
  R="redis://127.0.0.1:6379/$NAME"
  bx-extract "$R" 2> /dev/null > "$OUT/$NAME.ndjson"
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS $T"
  bx-load --table "$T" --create -q "$OUT/$NAME.ndjson"
  measure_ab "$N" true \
    'redis-cli --raw XRANGE - + (baseline)' "redis-cli -p 6379 --raw XRANGE '$NAME' - +" \
    'bx-extract redis:// > /dev/null' "bx-extract '$R' -q"
  echo "  bx-extract redis:// / redis-cli XRANGE: $(ratio "$RATE_B" "$RATE_A")x"
  measure_ab "$N" "$TRUNCATE" \
    'bx-load of the same NDJSON file (baseline)' "bx-load --table $T -q '$OUT/$NAME.ndjson'" \
    'BX_SEAL=1 bx-extract redis:// | bx-load' "export BX_SEAL=1; bx-extract '$R' -q | bx-load --table $T -q"
  echo "  redis:// → PostgreSQL / bx-load of a file: $(ratio "$RATE_B" "$RATE_A")x"
  echo "  peak RSS of bx-extract redis:// > /dev/null: $(peak_rss "bx-extract '$R' -q") MB"
  redis-cli -p 6379 DEL "$NAME" > /dev/null
else
  echo "  Redis: not reachable on 127.0.0.1:6379, skipped"
fi

if up 4222; then
  t0=$(date +%s.%N)
  node bench/stream-pub.mjs nats "$NAME" "$N" --fast > /dev/null
  echo "  (published $N to NATS JetStream in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc -l)") s)"
  S="nats://127.0.0.1:4222/$NAME"
  if [ ! -s "$OUT/$NAME.ndjson" ]; then
    bx-extract "$S" 2> /dev/null > "$OUT/$NAME.ndjson"
    "${PSQL[@]}" -c "DROP TABLE IF EXISTS $T"
    bx-load --table "$T" --create -q "$OUT/$NAME.ndjson"
  fi
  if command -v nats > /dev/null; then
    measure_ab "$N" true \
      'nats stream view (baseline)' "nats --server 127.0.0.1:4222 stream view '$NAME' --raw" \
      'bx-extract nats:// > /dev/null' "bx-extract '$S' -q"
  else
    echo "  nats CLI: not installed (no baseline beside bx-extract nats://)"
    measure 'bx-extract nats:// > /dev/null' "$N" "bx-extract '$S' -q"
  fi
  NATS_RATE=$RATE
  [ -z "${RATE_B:-}" ] || [ "$(command -v nats)" = "" ] || NATS_RATE=$RATE_B
  measure_ab "$N" "$TRUNCATE" \
    'bx-load of the same NDJSON file (baseline)' "bx-load --table $T -q '$OUT/$NAME.ndjson'" \
    'BX_SEAL=1 bx-extract nats:// | bx-load' "export BX_SEAL=1; bx-extract '$S' -q | bx-load --table $T -q"
  echo "  nats:// → PostgreSQL / bx-load of a file: $(ratio "$RATE_B" "$RATE_A")x"
  echo "  peak RSS of bx-extract nats:// > /dev/null: $(peak_rss "bx-extract '$S' -q") MB"
else
  echo "  NATS: not reachable on 127.0.0.1:4222, skipped"
fi
