#!/usr/bin/env bash
# Runs examples/airflow/datacustoms_dag.py with `airflow dags test` the way a scheduler
# would: each time from a fresh working folder, with one state folder.
#
#   examples/airflow/dags_test.sh [AIRFLOW_VENV]
#
# AIRFLOW_VENV (default ~/.cache/dc-airflow-venv) is created with `pip install
# apache-airflow` when missing. Checks:
#   1. the quickstart: every task succeeds and `send_abroad` runs;
#   2. pipelines/orders-dp.toml twice (two logical dates): both succeed and `budget show`
#      lists 6 releases in the one ledger;
#   3. a pipeline whose DP budget is too small: the run task fails with exit 80, once (not
#      retried), and `send_abroad` never runs;
#   4. the quickstart sharded (Variables DATACUSTOMS_WORKERS=2, DATACUSTOMS_WORK_ROOT):
#      it succeeds, its export is check 1's (`.ci/compare_exports.py`), and its work
#      folder is gone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${1:-$HOME/.cache/dc-airflow-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
(cd "$ROOT" && cargo build --release --quiet --bin datacustoms)
BIN="$CARGO_TARGET_DIR/release/datacustoms"

if [ ! -x "$VENV/bin/airflow" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet apache-airflow
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-airflow.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export AIRFLOW_HOME="$WORK/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME/dags"
cp "$ROOT/examples/airflow/datacustoms_dag.py" "$AIRFLOW_HOME/dags/"
"$VENV/bin/airflow" db migrate > "$WORK/migrate.log" 2>&1

export AIRFLOW_VAR_DATACUSTOMS="$BIN"
export AIRFLOW_VAR_DATACUSTOMS_EXPORT_ROOT="$WORK/exports"
# A lasting folder in production; here a folder of this test, outside every task's.
export AIRFLOW_VAR_DATACUSTOMS_STATE_DIR="$WORK/state"

# dags_test PIPELINE DATE: `airflow dags test` from a fresh folder; prints the DAG run's
# final state and keeps the log in $WORK/DATE.log.
dags_test() {
  local cwd="$WORK/cwd-$2"
  mkdir -p "$cwd"
  export AIRFLOW_VAR_DATACUSTOMS_PIPELINE="$1"
  (cd "$cwd" && "$VENV/bin/airflow" dags test datacustoms_export "$2" > "$WORK/$2.log" 2>&1) || true
  grep -o "DagRun Finished: .*state=[a-z]*" "$WORK/$2.log" | grep -o "state=[a-z]*$"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "1. quickstart"
[ "$(dags_test "$ROOT/pipelines/quickstart.toml" 2026-12-04)" = state=success ] || fail "quickstart DAG run"
grep -q "would send $WORK/exports/20261204" "$WORK/2026-12-04.log" || fail "send_abroad did not run"

echo "2. orders-dp twice"
for d in 2026-12-05 2026-12-06; do
  [ "$(dags_test "$ROOT/pipelines/orders-dp.toml" $d)" = state=success ] || fail "orders-dp DAG run $d"
done
"$BIN" --state-dir "$WORK/state" budget show | tee "$WORK/budget.txt"
grep -q "6 release(s)" "$WORK/budget.txt" || fail "the two runs did not spend from one ledger"

echo "3. a refused export"
mkdir -p "$WORK/tiny"
python3 -c "
import json
with open('$WORK/tiny/in.jsonl', 'w') as f:
    for i in range(100):
        f.write(json.dumps({'user': 'u%d' % (i % 10), 'amount': i}) + '\n')
"
cat > "$WORK/tiny/p.toml" <<'TOML'
name = "tiny-budget"
[input]
path = "in.jsonl"
[output]
path = "out"
rows = false
[[stages]]
type = "dp_release"
privacy_unit = "user"
dataset_id = "tiny"
budget = { total_epsilon = 0.5 }
[[stages.queries]]
name = "n"
aggregate = "count"
epsilon = 1.0
max_partitions = 1
max_rows_per_partition = 1
TOML
[ "$(dags_test "$WORK/tiny/p.toml" 2026-12-07)" = state=failed ] || fail "a refused export must fail the DAG run"
grep -q "datacustoms exit 80" "$WORK/2026-12-07.log" || fail "no exit 80 in the task log"
grep -q "would send" "$WORK/2026-12-07.log" && fail "send_abroad ran after a refusal"
grep -q "up_for_retry" "$WORK/2026-12-07.log" && fail "a final failure was retried"
echo "4. quickstart on 2 workers"
mv "$WORK/exports/20261204" "$WORK/one-process"
# The same keys, a fresh year ledger (else this export is the year's second).
mkdir -p "$WORK/state-2" && cp "$WORK/state/keyring.json" "$WORK/state-2/"
export AIRFLOW_VAR_DATACUSTOMS_STATE_DIR="$WORK/state-2"
export AIRFLOW_VAR_DATACUSTOMS_WORKERS=2 AIRFLOW_VAR_DATACUSTOMS_WORK_ROOT="$WORK/work"
[ "$(dags_test "$ROOT/pipelines/quickstart.toml" 2026-12-04)" = state=success ] || fail "sharded quickstart DAG run"
unset AIRFLOW_VAR_DATACUSTOMS_WORKERS AIRFLOW_VAR_DATACUSTOMS_WORK_ROOT
# Airflow names each DAG run (its run id is the export's).
python3 "$ROOT/.ci/compare_exports.py" "$WORK/one-process" "$WORK/exports/20261204" --bin "$BIN" \
  --ignore run_id --ignore assessment.year_to_date.ledger ||
  fail "the sharded export differs from the one-process one"
[ -z "$(ls -A "$WORK/work" 2> /dev/null)" ] || fail "the sharded run left its work folder: $(ls "$WORK/work")"
echo "airflow dags test: all checks passed"
