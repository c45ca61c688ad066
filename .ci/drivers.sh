#!/usr/bin/env bash
# The Python drivers end to end (python/datacustoms_driver), one engine per argument
# (default: local ray spark): the engine pinned in a cached virtual environment, 2 CPUs (Ray:
# ray.init(num_cpus=2); Spark: local[2,3], so a failed task is retried), the bundled
# de-identification pipeline on the sample chat corpus cut into 4 files (one malformed
# line in the third), 4 map tasks on the engine and finalize on the driver. The export
# must equal the single-process run's (.ci/compare_exports.py) and pass `verify`, and
# the work folder must be gone.
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
mkdir -p "$WORK/in"
split -n l/4 -d -a 2 --additional-suffix=.jsonl sample-data/chat.jsonl "$WORK/in/chat-"
printf '{"broken\n' >> "$WORK/in/chat-02.jsonl"
"$BIN" -q run pipelines/deidentify.toml --input "$WORK/in" --output "$WORK/single" --run-id drivers-ci > /dev/null

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
  DATACUSTOMS_BIN="$BIN" "$venv/bin/python" -m datacustoms_driver "$engine" pipelines/deidentify.toml \
    "${flags[@]}" --work "$WORK/work-$engine" --input "$WORK/in" --output "$WORK/export-$engine" \
    --run-id drivers-ci --shards 4 --quiet > "$WORK/summary.json" 2> "$WORK/$engine.log" \
    || { tail -n 40 "$WORK/$engine.log" >&2; exit 1; }
  tail -n 1 "$WORK/summary.json"
  "$venv/bin/python" .ci/compare_exports.py "$WORK/single" "$WORK/export-$engine"
  "$BIN" -q verify "$WORK/export-$engine" > /dev/null
  test ! -e "$WORK/work-$engine" || { echo "finalize left the work folder" >&2; exit 1; }
  echo "$engine driver: ok"
done

# A pipeline with dedup has two more steps (reduce --step dedup, apply): the local pool
# runs them from the plan's step list like any other.
"$BIN" -q run pipelines/dedup.toml --input "$WORK/in" --output "$WORK/single-dedup" --run-id drivers-dedup > /dev/null
python3 -c "import sys; sys.path.insert(0, 'python'); from datacustoms_driver.__main__ import main; sys.exit(main())" \
  local pipelines/dedup.toml --bin "$BIN" --workers 2 --work "$WORK/work-dedup" --input "$WORK/in" \
  --output "$WORK/export-dedup" --run-id drivers-dedup --shards 3 --quiet > "$WORK/summary.json" 2> "$WORK/dedup.log" \
  || { tail -n 40 "$WORK/dedup.log" >&2; exit 1; }
python3 .ci/compare_exports.py "$WORK/single-dedup" "$WORK/export-dedup"
cmp "$WORK/single-dedup/dedup_clusters.jsonl" "$WORK/export-dedup/dedup_clusters.jsonl"
"$BIN" -q verify "$WORK/export-dedup" > /dev/null
echo "local driver with dedup: ok"
