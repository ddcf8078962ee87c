#!/usr/bin/env bash
# The job every example below runs: yesterday's sales file, typed and checked, loaded into
# PostgreSQL. Sealed (BX_SEAL=1), so a failed stage never half-loads; pipefail, so the job's exit
# status is the first failed stage's sysexits code (75 = worth a retry, 69 = unreachable, 65 =
# bad data, 78 = configuration), which the schedulers below act on.
set -euo pipefail
export BX_SEAL=1
# One id for the stages of this pipe and for every night's run of it: bx-runs --summary shows the
# last night, the metrics keep one file and one series per stage.
export BX_PIPELINE_ID="${BX_PIPELINE_ID:-nightly-sales}"
# Where runs are recorded (a file here; postgres://… for a log shared by hosts) and the
# node_exporter textfile collector's directory.
export BX_RUN_LOG="${BX_RUN_LOG:-/var/log/bx/runs.ndjson}"
export BX_METRICS_DIR="${BX_METRICS_DIR:-/var/lib/prometheus/node-exporter}"
# DATABASE_URL (without a password: ~/.pgpass or PGPASSWORD from the unit's credentials).
day="${1:-$(date -d yesterday +%F)}"
in="/srv/drop/sales-$day.csv"

bx-extract --lineage "$in" \
  | bx-clean --schema /etc/bx/sales.schema.json --rejects "/srv/rejects/sales-$day.ndjson" --max-rejects 0.5% \
  | bx-load --table sales --mode replace-where --replace-where "sale_date = '$day'"
