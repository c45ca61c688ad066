#!/usr/bin/env bash
# End-to-end throughput and peak memory of read → normalize → write, for JSONL and
# Parquet, at SIZE and at 4 × SIZE (to show that memory does not grow with the input).
#
#   benches/e2e.sh [SIZE]        SIZE defaults to 1G; needs about 14 × SIZE of free disk
#
# Inputs come from the bundled generator (examples/gen_corpus.rs): a chat corpus of
# Chinese, English and mixed records; the Parquet input is the same corpus converted by
# datacustoms itself (uncompressed, generated large enough to be at least SIZE on disk). Each case runs RUNS
# times (default 3); the table shows the median wall time. MB/s is input bytes on disk
# divided by wall time (10^6 bytes); peak RSS is from /usr/bin/time. Output parts are
# fsynced before the export is committed, so disk speed is part of the figure.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${1:-1G}
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

bytes_of() { numfmt --from=iec "$1"; }
size_on_disk() { du -cb "$@" | tail -1 | cut -f1; }

pipeline() { # input format name
  cat > "$WORK/$3.toml" <<TOML
[input]
path = "$1"
[output]
path = "$WORK/out-$3"
format = "$2"
overwrite = true
[[stages]]
type = "normalize"
fields = ["text", "messages.content"]
TOML
}

measure() { # name input
  local name=$1 input=$2 in_bytes times=() rss=0
  in_bytes=$(size_on_disk "$input")
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/out-$name"
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" run "$WORK/$name.toml" --quiet --threads "$THREADS"
    read -r secs kb < "$WORK/time"
    times+=("$secs")
    (( kb > rss )) && rss=$kb
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v n="$name" -v b="$in_bytes" -v s="$median" -v r="$rss" -v all="${times[*]}" 'BEGIN {
    printf "| %-22s | %7.2f GB | %6.2f s | %6.0f MB/s | %5.0f MiB | %s |\n", n, b/1e9, s, b/1e6/s, r/1024, all }'
  rm -rf "$WORK/out-$name"
}

echo "datacustoms e2e benchmark: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), threads=$THREADS, runs=$RUNS"
echo
echo "| case                   |   input    |  median  |  throughput  | peak RSS | all runs (s) |"
echo "|------------------------|------------|----------|--------------|----------|--------------|"
base=$(bytes_of "$SIZE")
for mult in 1 4; do
  n=$((base * mult))
  label=$(numfmt --to=iec "$n")
  "$GEN" chat --bytes "$n" --out "$WORK/chat.jsonl" 2>/dev/null
  pipeline "$WORK/chat.jsonl" jsonl "jsonl-$label"
  measure "jsonl-$label" "$WORK/chat.jsonl"

  # Parquet input: the same kind of records, converted by datacustoms, uncompressed.
  # Uncompressed Parquet is ~0.7 x the JSONL it came from, so generate 3/2 x as much
  # JSONL to get a Parquet input of at least the same size.
  "$GEN" chat --bytes $((n * 3 / 2)) --out "$WORK/chat.jsonl" 2>/dev/null
  cat > "$WORK/convert.toml" <<TOML
[input]
path = "$WORK/chat.jsonl"
[output]
path = "$WORK/pq"
format = "parquet"
compression = "none"
max_file_bytes = "64GiB"
overwrite = true
TOML
  "$BIN" run "$WORK/convert.toml" --quiet
  rm -f "$WORK/chat.jsonl"
  pipeline "$WORK/pq/data" parquet "parquet-$label"
  measure "parquet-$label" "$WORK/pq/data"
  rm -rf "$WORK/pq"
done
