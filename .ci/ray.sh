#!/usr/bin/env bash
# The Ray driver end to end (python/datacustoms_driver): a pinned Ray in a cached virtual
# environment, a local Ray cluster of 2 CPUs, the bundled de-identification pipeline on
# the sample chat corpus cut into 4 files (one malformed line in the third), 4 map tasks
# as Ray tasks and finalize on the driver; the export must equal the single-process
# run's (.ci/compare_exports.py) and pass `verify`.
set -euo pipefail
umask 077 # Ray writes its token file (~/.ray/auth_token) with the umask
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
VENV="${DATACUSTOMS_RAY_VENV:-$HOME/.cache/datacustoms-ray-venv}"
RAY_VERSION=2.60.0
if ! "$VENV/bin/python" -c "import ray, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "ray==$RAY_VERSION"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./python

cargo build --release --quiet --bin datacustoms
BIN="$CARGO_TARGET_DIR/release/datacustoms"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-ray.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DATACUSTOMS_STATE_DIR="$WORK/state"
mkdir -p "$WORK/in"
split -n l/4 -d -a 2 --additional-suffix=.jsonl sample-data/chat.jsonl "$WORK/in/chat-"
printf '{"broken\n' >> "$WORK/in/chat-02.jsonl"

"$BIN" -q run pipelines/deidentify.toml --input "$WORK/in" --output "$WORK/single" --run-id ray-ci > /dev/null
# Ray's own folders stay inside the test folder; token auth is on by default for a
# local cluster in this Ray version.
export RAY_TMPDIR="$WORK/ray"
mkdir -p "$RAY_TMPDIR"
DATACUSTOMS_BIN="$BIN" "$VENV/bin/python" -m datacustoms_driver ray pipelines/deidentify.toml \
  --workers 2 --work "$WORK/work" --input "$WORK/in" --output "$WORK/ray-export" --run-id ray-ci \
  --shards 4 --quiet > "$WORK/summary.json"
tail -n 1 "$WORK/summary.json"
"$VENV/bin/python" .ci/compare_exports.py "$WORK/single" "$WORK/ray-export"
"$BIN" -q verify "$WORK/ray-export" > /dev/null
test ! -e "$WORK/work" || { echo "finalize left the work folder" >&2; exit 1; }
echo "ray driver: ok"
