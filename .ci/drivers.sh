#!/usr/bin/env bash
# The Python drivers end to end (python/datacustoms_driver), one engine per argument
# (default: local ray spark): the engine pinned in a cached virtual environment, 2 CPUs (Ray:
# ray.init(num_cpus=2); Spark: local[2,3], so a failed task is retried). Every bundled
# pipeline, each on its own input cut into files: the chat corpus in 4 JSONL files (one
# malformed line in the third) for deidentify, quickstart and dedup (map, dedup, apply and
# finalize steps); the orders table in Parquet files for orders-parquet, orders-protect and
# orders-dp. Tasks run on the engine, finalize on the driver. Each export must equal the
# single-process run's (.ci/compare_exports.py: rows, quarantine, dedup clusters, report;
# the decrypted rows for orders-protect; for orders-dp, whose noise is drawn afresh, the
# same releases and report, a budget spent once, and a rerun of the run id that replays),
# pass `verify`, and leave no work folder behind.
set -euo pipefail
umask 077 # Ray writes its token file (~/.ray/auth_token) with the umask
cd "$(dirname "$0")/.."

ENGINES=("$@")
if [ ${#ENGINES[@]} -eq 0 ]; then ENGINES=(local ray spark); fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --bin datacustoms
BIN="$CARGO_TARGET_DIR/release/datacustoms"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-drivers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DATACUSTOMS_STATE_DIR="$WORK/state"

# The engine's own commands; their warnings (a state folder under /tmp) go to a log
# that is shown when one fails.
dc() { "$BIN" "$@" 2>> "$WORK/cli.log" || { tail -n 20 "$WORK/cli.log" >&2; return 1; }; }

# The inputs: chat in 4 JSONL files, the orders table in Parquet files cut by the engine.
mkdir -p "$WORK/chat"
split -n l/4 -d -a 2 --additional-suffix=.jsonl sample-data/chat.jsonl "$WORK/chat/chat-"
printf '{"broken\n' >> "$WORK/chat/chat-02.jsonl"
printf '[input]\npath = "%s"\n[output]\npath = "-"\nformat = "parquet"\nmax_file_bytes = "200k"\n' \
  "$PWD/sample-data/orders.parquet" > "$WORK/split.toml"
dc -q run "$WORK/split.toml" --output "$WORK/orders" > /dev/null
[ "$(ls "$WORK/orders/data" | wc -l)" -ge 3 ] || { echo "the orders table is not cut" >&2; exit 1; }
# pipeline, input, shards
CASES=(
  "deidentify chat 4"
  "quickstart chat 2"
  "dedup chat 3"
  "orders-parquet orders/data 3"
  "orders-protect orders/data 2"
  "orders-dp orders/data 3"
)

# A state folder of its own for each run (its vault, budget ledger and year ledger start
# empty, as the single run's did), with the one keyring every run shares.
fresh_state() {
  if [ -e "$WORK/state/keyring.json" ]; then
    mv "$WORK/state/keyring.json" "$WORK/keyring.json"
    rm -rf "$WORK/state"
    mkdir -m 700 "$WORK/state"
    mv "$WORK/keyring.json" "$WORK/state/keyring.json"
  fi
}

compare() { # single sharded name engine
  local args=()
  case "$3" in
    orders-protect)
      dc -q decrypt "$1" --output "$1-plain" --overwrite > /dev/null
      dc -q decrypt "$2" --output "$2-plain" > /dev/null
      args=(--rows-of "$1-plain" "$2-plain") ;;
    orders-dp) args=(--dp) ;;
  esac
  python3 .ci/compare_exports.py "$1" "$2" --bin "$BIN" "${args[@]}"
}

for c in "${CASES[@]}"; do
  read -r name input shards <<< "$c"
  fresh_state
  dc -q run "pipelines/$name.toml" --input "$WORK/$input" --output "$WORK/single-$name" \
    --run-id "drivers-$name" > /dev/null
done

for engine in "${ENGINES[@]}"; do
  case "$engine" in
    local) package="" venv="$WORK/venv-local" flags=(--workers 2) ;;
    ray) package="ray==2.60.0" venv="${DATACUSTOMS_RAY_VENV:-$HOME/.cache/datacustoms-ray-venv}"
         flags=(--workers 2) ;;
    spark) package="pyspark==4.0.1" venv="${DATACUSTOMS_SPARK_VENV:-$HOME/.cache/datacustoms-spark-venv}"
           flags=(--spark-master "local[2,3]")
           export SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$venv/bin/python" ;;
    *) echo "unknown engine $engine (local, ray, spark)" >&2; exit 64 ;;
  esac
  if [ -z "$package" ]; then
    # The local pool needs nothing but the standard library.
    python3 -m venv "$venv"
  elif ! "$venv/bin/python" -m pip show --quiet "${package%%==*}" 2>/dev/null \
      || [ "$("$venv/bin/python" -m pip show "${package%%==*}" | sed -n 's/^Version: //p')" != "${package##*==}" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./python
  # Ray's own folders stay inside the test folder.
  export RAY_TMPDIR="$WORK/ray"
  mkdir -p "$RAY_TMPDIR"
  drive() { # name input shards export [extra]
    DATACUSTOMS_BIN="$BIN" "$venv/bin/python" -m datacustoms_driver "$engine" "pipelines/$1.toml" \
      "${flags[@]}" --work "$WORK/work-$engine-$1" --input "$WORK/$2" --output "$4" \
      --run-id "drivers-$1" --shards "$3" --quiet "${@:5}" > "$WORK/summary.json" 2> "$WORK/$engine.log" \
      || { tail -n 40 "$WORK/$engine.log" >&2; exit 1; }
    test ! -e "$WORK/work-$engine-$1" || { echo "$engine $1: finalize left the work folder" >&2; exit 1; }
  }
  for c in "${CASES[@]}"; do
    read -r name input shards <<< "$c"
    fresh_state
    out="$WORK/export-$engine-$name"
    drive "$name" "$input" "$shards" "$out"
    compare "$WORK/single-$name" "$out" "$name"
    dc -q verify "$out" > /dev/null
    if [ "$name" = orders-dp ]; then
      # The releases were spent once; the same run id again replays them.
      # (Read whole, then searched: `grep -q` in a pipe would close it early.)
      spent=$(dc budget show)
      grep -q "3 release(s)" <<< "$spent" || { echo "$spent" >&2; exit 1; }
      drive "$name" "$input" "$shards" "$out-again" --overwrite
      spent=$(dc budget show)
      grep -q "3 release(s)" <<< "$spent" || { echo "$engine: a replay spent budget" >&2; exit 1; }
      diff -r "$out/aggregates" "$out-again/aggregates"
      grep -q '"replayed": *true' "$out-again/report.json"
    fi
    echo "$engine driver, $name on $shards shards: ok"
  done
done
