"""The bx nightly sales job under Airflow (on paper: no Airflow on the test machine).

Airflow retries any failed task. bx tells failures apart by exit code (sysexits): 75 (temporary
failure: connection reset, serialization failure, lock timeout) and 69 (database unreachable)
are worth a retry; 65 (bad data), 78 (configuration) and the rest fail the same way again. So
the operator below lets Airflow retry only on 75 and 69 and fails at once (AirflowFailException:
no retries) on any other code. BashOperator words its error "...returned a non-zero exit code N."
"""
import re
from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.operators.bash import BashOperator

RETRYABLE = {69, 75}


class BxOperator(BashOperator):
    """A BashOperator whose retries are keyed to bx's exit code."""

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowFailException:
            raise
        except AirflowException as err:
            m = re.search(r"exit code (\d+)", str(err))
            code = int(m.group(1)) if m else None
            if code in RETRYABLE:
                raise  # Airflow retries: retries / retry_delay below
            raise AirflowFailException(f"bx exit {code}: a retry would fail the same way; see the last line of the log") from err


with DAG(
    dag_id="bx_nightly_sales",
    schedule="10 2 * * *",
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,  # never two nights at once (flock -n in the crontab does the same)
) as dag:
    load = BxOperator(
        task_id="extract_clean_load",
        bash_command="/opt/bx/examples/nightly-sales.sh {{ ds }}",
        env={
            # One pipeline id per DAG run: bx-runs shows each night as one pipeline, and the
            # run records carry the same id as this task's log.
            "BX_PIPELINE_ID": "nightly-sales-{{ ds_nodash }}",
            "BX_RUN_LOG": "/var/log/bx/runs.ndjson",
            "BX_METRICS_DIR": "/var/lib/prometheus/node-exporter",
            "BX_LOG_FORMAT": "json",  # one JSON object per stderr line, for the log shipper
        },
        append_env=True,
        retries=3,
        retry_delay=timedelta(minutes=10),
        retry_exponential_backoff=True,
    )

    # The morning check as a task: fails (bx-runs exits 1) when the last run of a pipeline failed.
    check = BashOperator(
        task_id="bx_runs_summary",
        bash_command="bx-runs --summary --since 26h --log /var/log/bx/runs.ndjson",
        retries=0,
    )
    load >> check
