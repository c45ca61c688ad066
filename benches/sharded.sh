#!/usr/bin/env bash
# What the shard protocol costs on one machine: the same pipeline over the same input
# cut into FILES files, once in one process (`run --threads 2`) and once as worker
# processes (`run --workers 2`, plan → map tasks → finalize), interleaved, RUNS rounds.
# The pipeline is benches/pipeline.sh's without dedup (which a sharded run does not
# split yet): normalize → deidentify (tag) → pseudonymize one column → encrypt one column,
# JSONL in and out, on the bundled chat generator (examples/gen_corpus.rs).
#
#   benches/sharded.sh [SIZE]        default 1G (gen_corpus --bytes)
#
# Environment: FILES (default 8), RUNS (default 3), WORKERS (default 2), SHARDS (default:
# one per worker). RAY=1 adds a third run per round: the Ray driver
# (python/datacustoms_driver) with a local Ray of WORKERS CPUs and RAY_SHARDS shards
# (default 4), from the virtual environment .ci/drivers.sh keeps (DATACUSTOMS_RAY_VENV).
# DEDUP=1 adds near dedup on `text` after normalize (benches/pipeline.sh's stage): the
# sharded run then has its map (signatures), dedup and apply steps, and the protocol
# bytes are mostly the recorded signatures.
#
# Columns: wall seconds and CPU-seconds of the whole process tree (user + system, the
# worker processes included, from /usr/bin/time), median of the runs; the ratio of the
# sharded run to the single process; peak RSS of the largest process; and the bytes the
# protocol writes besides the export's parts (the work folder with --keep-work: task
# results, partials, audit events, tallies), per input record.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${1:-1G}
FILES=${FILES:-8}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-2}
SHARDS=${SHARDS:-$WORKERS}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-sharded-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DATACUSTOMS_STATE_DIR="$WORK/state"

"$GEN" chat --bytes "$SIZE" --out "$WORK/all.jsonl" >&2
records=$(wc -l < "$WORK/all.jsonl")
mkdir "$WORK/in"
split -n "l/$FILES" -d -a 3 --additional-suffix=.jsonl "$WORK/all.jsonl" "$WORK/in/chat-"
rm "$WORK/all.jsonl"
in_bytes=$(du -cb "$WORK"/in/*.jsonl | tail -n 1 | cut -f 1)
cat "$WORK"/in/*.jsonl > /dev/null # warm the page cache

cat > "$WORK/p.toml" <<TOML
[input]
path = "$WORK/in"
[output]
path = "$WORK/out"
format = "jsonl"
overwrite = true
[keys]
scope = "sharded-bench"
[[stages]]
type = "normalize"
fields = ["text", "messages.content"]
$(if [ "${DEDUP:-0}" = 1 ]; then printf '[[stages]]\ntype = "dedup"\nmode = "near"\nfields = ["text"]\n'; fi)
[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]
action = "tag"
[[stages]]
type = "pseudonymize"
columns = ["user_id"]
[[stages]]
type = "encrypt"
columns = ["ts"]
TOML

RAY=${RAY:-0}
RAY_SHARDS=${RAY_SHARDS:-4}
VENV="${DATACUSTOMS_RAY_VENV:-$HOME/.cache/datacustoms-ray-venv}"
if [ "$RAY" = 1 ]; then
  "$VENV/bin/python" -c "import ray" || { echo "no Ray in $VENV: run .ci/drivers.sh ray once" >&2; exit 1; }
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./python
fi

# One timed run: MODE is "threads", "workers" or "ray"; prints "wall cpu rss_kb work_bytes".
timed() {
  local mode=$1 run_id=$2
  rm -rf "$WORK/out" "$WORK/work"
  sync
  local args=(run "$WORK/p.toml" --quiet --threads 2 --run-id "$run_id" --quarantine-dir "$WORK/q")
  if [ "$mode" = workers ]; then
    args+=(--workers "$WORKERS" --shards "$SHARDS" --work "$WORK/work" --keep-work)
  fi
  if [ "$mode" = ray ]; then
    # The driver plans, runs the map tasks as Ray tasks and finalizes (which removes
    # the work folder, so no protocol bytes are counted for it).
    DATACUSTOMS_BIN="$BIN" RAY_TMPDIR="$WORK/ray" /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
      "$VENV/bin/python" -m datacustoms_driver ray "$WORK/p.toml" --workers "$WORKERS" --work "$WORK/work" \
      --run-id "$run_id" --shards "$RAY_SHARDS" --quarantine-dir "$WORK/q" --quiet > /dev/null
  else
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" "${args[@]}" > /dev/null
  fi
  if [ "$(jq -r .status "$WORK/out/report.json")" != complete ]; then
    echo "the $mode run did not complete" >&2
    exit 1
  fi
  local work_bytes=0
  if [ -d "$WORK/work" ]; then
    # Everything the protocol wrote besides the parts, which become the export's.
    work_bytes=$(find "$WORK/work" -type f ! -path '*/data/*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  fi
  read -r wall user sys kb < <(tail -n 1 "$WORK/time")
  awk -v w="$wall" -v u="$user" -v s="$sys" -v kb="$kb" -v wb="$work_bytes" 'BEGIN { printf "%s %.2f %s %s\n", w, u + s, kb, wb }'
}

declare -a T W R
mkdir -p "$WORK/ray"
for r in $(seq "$RUNS"); do
  T+=("$(timed threads "bench-t$r")")
  W+=("$(timed workers "bench-w$r")")
  if [ "$RAY" = 1 ]; then R+=("$(timed ray "bench-r$r")"); fi
done
median() { printf '%s\n' "$@" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
read -r tw tc tk _ <<< "$(median "${T[@]}")"
read -r ww wc wk wb <<< "$(median "${W[@]}")"

echo
echo "sharded-run benchmark: $SIZE chat corpus in $FILES files ($in_bytes bytes, $records records), $(nproc) cores, median of $RUNS interleaved runs"
echo "pipeline: normalize → $(if [ "${DEDUP:-0}" = 1 ]; then echo "near dedup → "; fi)deidentify (tag) → pseudonymize → encrypt"
echo
echo "| run | wall s | CPU-s | MB/CPU-s | peak RSS MiB | protocol bytes / record |"
echo "|---|---|---|---|---|---|"
awk -v w="$tw" -v c="$tc" -v k="$tk" -v b="$in_bytes" 'BEGIN { printf "| `run --threads 2` | %.1f | %.1f | %.1f | %.0f | – |\n", w, c, b / 1e6 / c, k / 1024 }'
awk -v w="$ww" -v c="$wc" -v k="$wk" -v b="$in_bytes" -v wb="$wb" -v n="$records" -v wk="$WORKERS" -v sh="$SHARDS" 'BEGIN { printf "| `run --workers %d` (%d shards) | %.1f | %.1f | %.1f | %.0f | %.2f |\n", wk, sh, w, c, b / 1e6 / c, k / 1024, wb / n }'
if [ "$RAY" = 1 ]; then
  read -r rw _ <<< "$(median "${R[@]}")"
  # The map tasks run in Ray's worker processes, which the driver does not wait for:
  # their CPU time and memory are not the driver's, so only wall time is comparable.
  awk -v w="$rw" -v wk="$WORKERS" -v sh="$RAY_SHARDS" 'BEGIN { printf "| Ray driver, %d CPUs (%d shards) | %.1f | – | – | – | – |\n", wk, sh, w }'
fi
awk -v tw="$tw" -v tc="$tc" -v ww="$ww" -v wc="$wc" 'BEGIN { printf "\nsharded / single process: wall %.3f, CPU-s %.3f\n", ww / tw, wc / tc }'
if [ "$RAY" = 1 ]; then
  awk -v tw="$tw" -v rw="$rw" 'BEGIN { printf "Ray / single process: wall %.3f (starting the local Ray cluster included)\n", rw / tw }'
fi
