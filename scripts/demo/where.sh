#!/usr/bin/env bash
# The last words of `make demo`: where the report, the tables and the lake are, and how to look.
set -eu
report=$1 schema=$2 lake=$3 work=$4
# The embedded database is not in the user's environment: bx-db psql finds it.
if [ -n "${BX_DEMO_EMBEDDED:-}" ]; then q='bin/bx-db psql --'; else q='psql "$DATABASE_URL"'; fi
url=$(printf '%s' "${DATABASE_URL:-}" | sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#')
cat >&2 <<TXT

The day is done.
  report    $report
  tables    $schema.fact_sales, $schema.dim_product, $schema.dim_store, $schema.dim_date  in ${url:-the PG* database}
  lake      $lake/sale_date=*/*.parquet
  rejects   $work/rejects.ndjson ($(grep -vc '"@bx"' "$work/rejects.ndjson" 2>/dev/null || echo 0) records)
  run log   ${BX_RUN_LOG:-}
Look around:
  $q -c 'SELECT p.category, sum(f.revenue) FROM $schema.fact_sales f JOIN $schema.dim_product p USING (sku) GROUP BY 1 ORDER BY 2 DESC'
  bin/bx-extract -q $lake/ | bin/bx-agg -q --by store_id --agg revenue=sum:revenue | bin/bx-report -q --format table
  bin/bx-runs --pipeline ${BX_PIPELINE_ID:-}
TXT
