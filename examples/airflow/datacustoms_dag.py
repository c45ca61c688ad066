"""Airflow DAG: run datacustoms as the customs step before anything leaves.

    prepare_corpus >> datacustoms_run >> datacustoms_verify >> send_abroad

* State. Every task runs in a fresh temporary folder, so datacustoms is told where its
  state lives (DATACUSTOMS_STATE_DIR): the keyring that signs every export (a
  recipient pins its public key), the DP budget ledger (the cap binds across runs) and
  the year ledger (the year-to-date subject counts that decide the cross-border
  mechanism). Paths inside the pipeline file are relative to the pipeline file, so the
  task's working folder does not matter.
* Exit codes. 74 (I/O error) and 75 (the output is locked by another run) are
  transient: the task fails and Airflow retries it. Every other non-zero code is final
  and is not retried: 80 (the export was refused: residual PII over the gate, DP budget
  exceeded, a cross-border rule), 78 (configuration or key), 66 (input missing),
  65 (bad data under --strict), 64 (usage). `send_abroad` needs every upstream task to
  succeed, so a refused export is never sent.
* The run id is the Airflow run id, so a cleared and re-run task is recognised: DP
  releases are replayed from the ledger, not redrawn, and no budget is spent twice.
* `datacustoms_verify` repeats the reviewer's check (hashes, signature, audit chain,
  reconciliation, residual re-scan, DP passport), pinning the exporter's public key
  when one is given. The export folder travels by XCom.

Airflow Variables (or the defaults below): DATACUSTOMS (the binary),
DATACUSTOMS_PIPELINE, DATACUSTOMS_EXPORT_ROOT, DATACUSTOMS_STATE_DIR and
DATACUSTOMS_TRUSTED_KEY (from `datacustoms keys describe`).

Tested with Airflow 3 (`airflow dags test datacustoms_export`); the imports fall back to
Airflow 2's.
"""

from __future__ import annotations

import os
import re
import subprocess

import pendulum

try:  # Airflow 3
    from airflow.sdk import DAG, Variable, task
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models import Variable
    from airflow.operators.empty import EmptyOperator
from airflow.exceptions import AirflowException, AirflowFailException


def setting(name: str, default: str) -> str:
    try:
        return Variable.get(name, default=default)
    except TypeError:  # Airflow 2 names the argument default_var
        return Variable.get(name, default_var=default)


#: Exit codes worth a retry; every other non-zero code is final.
TRANSIENT = {74: "I/O error", 75: "output locked by another run"}
FINAL = {
    64: "usage error",
    65: "bad input data",
    66: "input not found",
    78: "configuration or key error",
    80: "export refused by a gate (nothing may be sent)",
}


def datacustoms(*args: str) -> None:
    """Runs datacustoms with JSON logs on stderr (kept in the task log) and maps its exit
    code to a retry (transient) or a final failure."""
    binary = setting("DATACUSTOMS", "/opt/datacustoms/bin/datacustoms")
    env = dict(os.environ)
    env["DATACUSTOMS_STATE_DIR"] = setting("DATACUSTOMS_STATE_DIR", "/var/lib/datacustoms")
    rc = subprocess.run([binary, "--log-format", "json", *args], env=env).returncode
    if rc == 0:
        return
    if rc in TRANSIENT:
        raise AirflowException(f"datacustoms exit {rc}: {TRANSIENT[rc]} (retried)")
    raise AirflowFailException(f"datacustoms exit {rc}: {FINAL.get(rc, 'failed')} (not retried)")


with DAG(
    dag_id="datacustoms_export",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    schedule="@daily",
    catchup=False,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    tags=["datacustoms", "cross-border"],
) as dag:
    prepare = EmptyOperator(task_id="prepare_corpus")

    @task(task_id="datacustoms_run")
    def run(ds_nodash: str | None = None, run_id: str | None = None) -> str:
        export_dir = os.path.join(
            setting("DATACUSTOMS_EXPORT_ROOT", "/data/exports"), ds_nodash or "manual"
        )
        # A run id datacustoms accepts: letters, digits, `-`, `_`, `.`.
        rid = re.sub(r"[^A-Za-z0-9_.-]", "-", run_id or "manual")
        # With the Variable DATACUSTOMS_WORKERS > 1 the run is sharded over that many
        # worker processes (row and DP pipelines); its work folder is named by the run
        # id, so a retried task resumes the map tasks already committed.
        workers = int(setting("DATACUSTOMS_WORKERS", "0") or 0)
        sharded = []
        if workers > 1:
            work = os.path.join(setting("DATACUSTOMS_WORK_ROOT", "/data/work"), rid)
            sharded = ["--workers", str(workers), "--work", work]
        datacustoms(
            "run",
            setting("DATACUSTOMS_PIPELINE", "/opt/datacustoms/pipelines/deidentify.toml"),
            "--output", export_dir, "--overwrite", "--run-id", rid, *sharded,
        )
        return export_dir

    @task(task_id="datacustoms_verify")
    def verify(export_dir: str) -> str:
        key = setting("DATACUSTOMS_TRUSTED_KEY", "")
        datacustoms("verify", export_dir, *(["--trusted-key", key] if key else []))
        return export_dir

    @task(task_id="send_abroad")
    def send(export_dir: str) -> None:
        # Replace with the real transfer (rsync, object storage upload, ...).
        print(f"would send {export_dir}")

    exported = run()
    prepare >> exported
    send(verify(exported))
