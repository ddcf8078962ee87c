#!/usr/bin/env bash
# bx-extract --query: rows/s out of PostgreSQL beside psql's own \copy (COPY … TO STDOUT), and
# out of MariaDB beside `mysql --batch`, on the same rows in the same run (medians, runs
# interleaved); then peak RSS at 1 M and at BENCH_DB_BIG rows (default 3 M): memory must not grow.
# Tables bxdb_big (id int8, amount numeric(18,2), name text, ts timestamp) are made once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
MY="${BX_BENCH_MYSQL:-mysql://root@127.0.0.1:3306/test}"
BIG="${BENCH_DB_BIG:-3000000}"
RUNS_AB="${BENCH_RUNS_AB:-3}"
PSQL=(psql "$DATABASE_URL" -X -q -At)
MYSQL=(mysql -uroot -h127.0.0.1 -P3306 test)

pg_ok=1; my_ok=1
"${PSQL[@]}" -c 'select 1' >/dev/null 2>&1 || { pg_ok=0; echo "  PostgreSQL at $DATABASE_URL: not reachable; skipped"; }
"${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1 || { my_ok=0; echo "  MariaDB at 127.0.0.1:3306: not reachable; skipped"; }

if [ $pg_ok = 1 ] && [ "$("${PSQL[@]}" -c "select coalesce((select max(id) from bxdb_big), 0)" 2>/dev/null || echo 0)" != "$BIG" ]; then
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS bxdb_big" -c "CREATE TABLE bxdb_big AS SELECT g::int8 AS id, ((g % 100000) / 7.0)::numeric(18,2) AS amount, 'item ' || g AS name, timestamp '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, $BIG) g" -c "ALTER TABLE bxdb_big ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE bxdb_big"
fi
if [ $my_ok = 1 ] && [ "$("${MYSQL[@]}" -N -e "select coalesce(max(id), 0) from bxdb_big" 2>/dev/null || echo 0)" != "$BIG" ]; then
  "${MYSQL[@]}" -e "DROP TABLE IF EXISTS bxdb_big; CREATE TABLE bxdb_big (id bigint primary key, amount decimal(18,2), name varchar(40), ts datetime(6)); INSERT INTO bxdb_big SELECT seq, ROUND((seq % 100000) / 7.0, 2), CONCAT('item ', seq), TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_$BIG"
fi

q() { echo "SELECT * FROM bxdb_big WHERE id <= $1"; }
echo "bx-extract database sources ($ROWS rows: int8, numeric(18,2), text, timestamp; medians of $RUNS_AB, interleaved)"
if [ $pg_ok = 1 ]; then
  measure_ab "$ROWS" true \
    'psql \copy (query) to stdout (text)' "${PSQL[*]} -c '\\copy ($(q "$ROWS")) to stdout'" \
    'bx-extract --query (PostgreSQL) -> NDJSON' "bx-extract -q --query '$(q "$ROWS")'"
  PG_BASE=$RATE_A; PG_BX=$RATE_B
  [ "$PG_BASE" -gt 0 ] && echo "  bx-extract / psql COPY:   $(ratio "$PG_BX" "$PG_BASE")x"
fi
if [ $my_ok = 1 ]; then
  measure_ab "$ROWS" true \
    'mysql --batch -e (query) (TSV)' "${MYSQL[*]} --batch -e '$(q "$ROWS")'" \
    'bx-extract --db mysql:// --query -> NDJSON' "bx-extract -q --db $MY --query '$(q "$ROWS")'"
  MY_BASE=$RATE_A; MY_BX=$RATE_B
  [ "$MY_BASE" -gt 0 ] && echo "  bx-extract / mysql --batch: $(ratio "$MY_BX" "$MY_BASE")x"
fi

echo "peak RSS (MB), $ROWS rows and $BIG rows"
if [ $pg_ok = 1 ]; then
  echo "  bx-extract (PostgreSQL):   $(peak_rss "bx-extract -q --query '$(q "$ROWS")' > /dev/null") MB, $(peak_rss "bx-extract -q --query '$(q "$BIG")' > /dev/null") MB"
fi
if [ $my_ok = 1 ]; then
  echo "  bx-extract (MariaDB):      $(peak_rss "bx-extract -q --db $MY --query '$(q "$ROWS")' > /dev/null") MB, $(peak_rss "bx-extract -q --db $MY --query '$(q "$BIG")' > /dev/null") MB"
fi
