#!/usr/bin/env bash
# bx-extract --query: rows/s, CPU seconds and peak RSS out of PostgreSQL beside psql's own
# \copy (COPY … TO STDOUT), and out of MariaDB beside `mysql --batch`, on the same rows in the
# same run (medians of BENCH_RUNS_AB, runs interleaved); then bx-extract's peak RSS at 1 M and
# at BENCH_DB_BIG rows (default 5 M): memory must not grow with the row count.
#   BENCH_DB_ROWS   rows per timed extract (default 1000000)
#   BENCH_DB_BIG    rows of the flatness run (default 5000000)
#   DATABASE_URL    the PostgreSQL (default postgres://postgres@127.0.0.1:5432/test)
#   BX_BENCH_MYSQL  the MariaDB (default mysql://root@127.0.0.1:3306/test)
# Tables bxdb_big (id int8, amount numeric(18,2), name text, ts timestamp) are made once, with
# max(BENCH_DB_ROWS, BENCH_DB_BIG) rows.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
MY="${BX_BENCH_MYSQL:-mysql://root@127.0.0.1:3306/test}"
N="${BENCH_DB_ROWS:-1000000}"
BIG="${BENCH_DB_BIG:-5000000}"
RUNS_AB="${BENCH_RUNS_AB:-3}"
TABLE_ROWS=$((N > BIG ? N : BIG))
PSQL=(psql "$DATABASE_URL" -X -q -At)
# The mysql client's arguments from the URL: user, password, host, port, database.
my_re='^(mysql|mariadb)://([^:@/]*)(:([^@/]*))?@?([^:/]*)(:([0-9]+))?/?([^?]*)'
[[ "$MY" =~ $my_re ]] || { echo "  BX_BENCH_MYSQL: not a mysql:// URL"; exit 64; }
MYSQL=(mysql "-u${BASH_REMATCH[2]:-root}" "-h${BASH_REMATCH[5]:-127.0.0.1}" "-P${BASH_REMATCH[7]:-3306}")
[ -z "${BASH_REMATCH[4]}" ] || MYSQL+=("-p${BASH_REMATCH[4]}")
MYSQL+=("${BASH_REMATCH[8]:-test}")

pg_ok=1; my_ok=1
"${PSQL[@]}" -c 'select 1' >/dev/null 2>&1 || { pg_ok=0; echo "  PostgreSQL at $DATABASE_URL: not reachable; skipped"; }
"${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1 || { my_ok=0; echo "  MariaDB at $MY: not reachable; skipped"; }

if [ $pg_ok = 1 ] && [ "$("${PSQL[@]}" -c "select coalesce((select max(id) from bxdb_big), 0)" 2>/dev/null || echo 0)" -lt "$TABLE_ROWS" ]; then
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS bxdb_big" -c "CREATE TABLE bxdb_big AS SELECT g::int8 AS id, ((g % 100000) / 7.0)::numeric(18,2) AS amount, 'item ' || g AS name, timestamp '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, $TABLE_ROWS) g" -c "ALTER TABLE bxdb_big ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE bxdb_big"
fi
if [ $my_ok = 1 ] && [ "$("${MYSQL[@]}" -N -e "select coalesce(max(id), 0) from bxdb_big" 2>/dev/null || echo 0)" -lt "$TABLE_ROWS" ]; then
  "${MYSQL[@]}" -e "DROP TABLE IF EXISTS bxdb_big; CREATE TABLE bxdb_big (id bigint primary key, amount decimal(18,2), name varchar(40), ts datetime(6)); INSERT INTO bxdb_big SELECT seq, ROUND((seq % 100000) / 7.0, 2), CONCAT('item ', seq), TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_$TABLE_ROWS"
fi

# run1 'cmd': one run; sets WALL (s), CPU (user + system s, the command and its children) and RSS (MB).
run1() {
  local tf t0 t1; tf=$(mktemp)
  t0=$(date +%s.%N)
  if ! /usr/bin/time -f '%U %S %M' -o "$tf" bash -o pipefail -c "$1" > /dev/null 2> "$tf.err"; then
    echo "FAILED ($(tail -n 1 "$tf.err"))" > "$tf.err"; WALL=0; rm -f "$tf"; return 1
  fi
  t1=$(date +%s.%N)
  rm -f "$tf.err"
  read -r u s m < <(tail -n 1 "$tf")
  rm -f "$tf"
  WALL=$(echo "$t1 - $t0" | bc -l); CPU=$(echo "$u + $s" | bc -l); RSS=$((m / 1024))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

# ab LABEL_A 'cmd A' LABEL_B 'cmd B': RUNS_AB runs of each, interleaved; prints median wall,
# rows/s, CPU s and peak RSS of each, and B's rows/s and CPU as ratios of A's.
ab() {
  local r aw=() ac=() am=() bw=() bc_=() bm=() w c m rate_a rate_b
  for ((r = 0; r < RUNS_AB; r++)); do
    run1 "$2" || { echo "  $1: FAILED"; return 0; }
    aw+=("$WALL") ac+=("$CPU") am+=("$RSS")
    run1 "$4" || { echo "  $3: FAILED"; return 0; }
    bw+=("$WALL") bc_+=("$CPU") bm+=("$RSS")
  done
  w=$(median "${aw[@]}") c=$(median "${ac[@]}") m=$(median "${am[@]}")
  rate_a=$(echo "$N / $w" | bc)
  printf '  %-44s %6.2f s %9d rows/s  CPU %6.2f s  %4d MB\n' "$1" "$w" "$rate_a" "$c" "$m"
  local ca=$c
  w=$(median "${bw[@]}") c=$(median "${bc_[@]}") m=$(median "${bm[@]}")
  rate_b=$(echo "$N / $w" | bc)
  printf '  %-44s %6.2f s %9d rows/s  CPU %6.2f s  %4d MB\n' "$3" "$w" "$rate_b" "$c" "$m"
  echo "  => rows/s $(ratio "$rate_b" "$rate_a")x the baseline, CPU $(ratio "$c" "$ca")x"
}

q() { echo "SELECT * FROM bxdb_big WHERE id <= $1"; }
echo "bx-extract database sources ($N rows: int8, numeric(18,2), text, timestamp; medians of $RUNS_AB, interleaved; a busy machine moves both alike, not exactly)"
if [ $pg_ok = 1 ]; then
  ab 'psql \copy (query) to stdout (text)' "${PSQL[*]} -c '\\copy ($(q "$N")) to stdout'" \
    'bx-extract --query (PostgreSQL) -> NDJSON' "bx-extract -q --query '$(q "$N")'"
fi
if [ $my_ok = 1 ]; then
  ab 'mysql --batch -e (query) (TSV)' "${MYSQL[*]} --batch -e '$(q "$N")'" \
    'bx-extract --db mysql:// --query -> NDJSON' "bx-extract -q --db $MY --query '$(q "$N")'"
fi

echo "peak RSS of bx-extract (MB) at 1000000 and $BIG rows: flat if alike"
if [ $pg_ok = 1 ]; then
  run1 "bx-extract -q --query '$(q 1000000)'" && a=$RSS || a=0
  run1 "bx-extract -q --query '$(q "$BIG")'" && b=$RSS || b=0
  echo "  PostgreSQL:  $a MB, $b MB"
fi
if [ $my_ok = 1 ]; then
  run1 "bx-extract -q --db $MY --query '$(q 1000000)'" && a=$RSS || a=0
  run1 "bx-extract -q --db $MY --query '$(q "$BIG")'" && b=$RSS || b=0
  echo "  MariaDB:     $a MB, $b MB"
fi
