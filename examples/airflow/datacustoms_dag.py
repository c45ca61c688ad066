"""Airflow DAG: run datacustoms as the customs step before anything leaves.

    prepare_corpus >> datacustoms_run >> datacustoms_verify >> send_abroad

* `datacustoms_run` writes the export with JSON logs (one JSON object per line on
  stderr, which Airflow keeps in the task log). Its run id is the Airflow run id, so a
  cleared and re-run task is recognised: DP releases are replayed from the ledger, not
  redrawn, and no budget is spent twice.
* Exit code 80 means the export was refused (residual PII over the gate, DP budget
  exceeded, a cross-border rule): the task fails and is NOT retried (retries=0), so
  `send_abroad`, which needs every upstream task to succeed, never runs. Other non-zero
  codes (74 I/O error, 78 configuration or key error, 65 bad data under --strict) fail
  the task too; fix the cause and clear it.
* `datacustoms_verify` repeats the reviewer's check (hashes, signature, audit chain,
  reconciliation, residual re-scan, DP passport) and pins the exporter's public key.
* The export path travels by XCom: the last line a BashOperator prints is its return
  value.

Set DATACUSTOMS (path of the binary), PIPELINE, EXPORT_ROOT and TRUSTED_KEY (from
`datacustoms keys describe`) as Airflow Variables or edit the defaults below.
"""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.models import Variable
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

DATACUSTOMS = Variable.get("DATACUSTOMS", default_var="/opt/datacustoms/bin/datacustoms")
PIPELINE = Variable.get("DATACUSTOMS_PIPELINE", default_var="/opt/datacustoms/pipelines/deidentify.toml")
EXPORT_ROOT = Variable.get("DATACUSTOMS_EXPORT_ROOT", default_var="/data/exports")
TRUSTED_KEY = Variable.get("DATACUSTOMS_TRUSTED_KEY", default_var="")

with DAG(
    dag_id="datacustoms_export",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    schedule="@daily",
    catchup=False,
    default_args={"retries": 0},
    tags=["datacustoms", "cross-border"],
) as dag:
    prepare = EmptyOperator(task_id="prepare_corpus")

    run = BashOperator(
        task_id="datacustoms_run",
        bash_command=(
            "set -o pipefail; "
            f"export_dir={EXPORT_ROOT}/{{{{ ds_nodash }}}}; "
            f"{DATACUSTOMS} --log-format json --quiet run {PIPELINE} "
            "--output \"$export_dir\" --overwrite --run-id {{ run_id | replace(':', '-') | replace('+', '-') }}; "
            "rc=$?; "
            "if [ $rc -eq 80 ]; then echo 'datacustoms refused the export (exit 80): nothing may be sent' >&2; fi; "
            "[ $rc -eq 0 ] && echo \"$export_dir\"; exit $rc"
        ),
        retries=0,
    )

    verify = BashOperator(
        task_id="datacustoms_verify",
        bash_command=(
            f"{DATACUSTOMS} --log-format json verify "
            "{{ ti.xcom_pull(task_ids='datacustoms_run') }}"
            + (f" --trusted-key {TRUSTED_KEY}" if TRUSTED_KEY else "")
            + " && echo {{ ti.xcom_pull(task_ids='datacustoms_run') }}"
        ),
        retries=0,
    )

    send = BashOperator(
        task_id="send_abroad",
        # Replace with the real transfer (rsync, object storage upload, ...).
        bash_command="echo would send {{ ti.xcom_pull(task_ids='datacustoms_verify') }}",
    )

    prepare >> run >> verify >> send
