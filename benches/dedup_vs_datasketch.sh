#!/usr/bin/env bash
# Near-dedup side by side: the datacustoms `dedup` stage (mode near, threshold 0.8) at 1
# and 2 threads against Python datasketch (MinHash 128 perms + MinHashLSH at 0.8,
# streaming keep-first, benches/dedup_datasketch.py), on the same labelled corpus.
#
#   benches/dedup_vs_datasketch.sh [DOCS]        DOCS defaults to 50000
#
# The corpus and its truth come from examples/gen_neardup.rs (seed $SEED, default 7):
# English, Chinese and mixed seeds with exact, normalisation-only and edited copies and
# hard negatives. Both tools use the same normalisation (NFKC, lower-case, whitespace
# collapsed) and char 5-gram shingles, and both are scored by `gen_neardup score`, so
# the Rust scorer is the one definition of precision / recall. Wall seconds and peak
# RSS come from /usr/bin/time; MB/s is corpus bytes / wall seconds (10^6 bytes);
# "per core" divides by the thread count (datasketch is single-threaded). datacustoms
# runs RUNS times per thread count (default 3; the table shows the median wall time and
# the largest RSS); datasketch runs once (about a minute per 50k docs). Dirty pages are
# synced before every timed run. datasketch is installed into a venv at
# $HOME/.cache/datacustoms-venv (override with DATACUSTOMS_VENV), reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCS=${1:-50000}
RUNS=${RUNS:-3}
SEED=${SEED:-7}
VENV=${DATACUSTOMS_VENV:-$HOME/.cache/datacustoms-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import datasketch' 2>/dev/null; }; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check datasketch
fi
PY="$VENV/bin/python"

cargo build --release --quiet --bin datacustoms --example gen_neardup
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_neardup"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-dedup-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

"$GEN" --docs "$DOCS" --seed "$SEED" --out "$WORK/corpus.jsonl" --truth "$WORK/truth.jsonl"
IN_BYTES=$(stat -c %s "$WORK/corpus.jsonl")

cat > "$WORK/p.toml" <<TOML
[input]
path = "$WORK/corpus.jsonl"
[output]
path = "$WORK/out"
format = "jsonl"
overwrite = true
[[stages]]
type = "dedup"
fields = ["text"]
mode = "near"
threshold = 0.8
TOML

# timed NAME CMD...: runs CMD under /usr/bin/time; sets SECS and RSS_KB.
timed() {
  local name=$1
  shift
  sync
  /usr/bin/time -f "%e %M" -o "$WORK/time-$name" "$@"
  read -r SECS RSS_KB < <(tail -n 1 "$WORK/time-$name")
}

# score NAME PAIRS: scores PAIRS against the truth into $WORK/score-NAME.json.
score() {
  "$GEN" score --truth "$WORK/truth.jsonl" --clusters "$2" > "$WORK/score-$1.json" 2> "$WORK/score-$1.log" ||
    { cat "$WORK/score-$1.log" >&2; return 1; }
}

# row TOOL THREADS: one table row from SECS, RSS_KB and $WORK/score-TOOL-THREADS.json.
ROWS=()
row() {
  local q
  q=$("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(d["precision"], d["recall"], d["f1"], d["pair_precision"], d["negatives_merged"])' "$WORK/score-$1-$2.json")
  ROWS+=("$(awk -v t="$1" -v th="$2" -v n="$DOCS" -v b="$IN_BYTES" -v s="$SECS" -v r="$RSS_KB" -v q="$q" 'BEGIN {
    split(q, a, " "); if (s < 0.01) s = 0.01
    printf "| %-11s | %7d | %9.0f | %13.0f | %7.2f | %13.0f | %9.4f | %6.4f | %6.4f | %10.4f | %11d |",
      t, th, n / s, n / s / th, b / 1e6 / s, r / 1024, a[1], a[2], a[3], a[4], a[5] }')")
  echo "$1 $2 $(awk -v n="$DOCS" -v s="$SECS" 'BEGIN { if (s < 0.01) s = 0.01; print n / s }')" >> "$WORK/rates"
}

for threads in 1 2; do
  times=()
  rss=0
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/out"
    timed "datacustoms-$threads" "$BIN" run "$WORK/p.toml" --quiet --threads "$threads" --quarantine-dir "$WORK/q"
    times+=("$SECS")
    if ((RSS_KB > rss)); then rss=$RSS_KB; fi
  done
  SECS=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  RSS_KB=$rss
  score "datacustoms-$threads" "$WORK/out/dedup_clusters.jsonl"
  row datacustoms "$threads"
done

timed datasketch-1 "$PY" benches/dedup_datasketch.py "$WORK/corpus.jsonl" "$WORK/ds-pairs.jsonl"
score datasketch-1 "$WORK/ds-pairs.jsonl"
row datasketch 1

echo "near-dedup benchmark: $DOCS docs ($(awk -v b="$IN_BYTES" 'BEGIN { printf "%.1f MB", b / 1e6 }'), seed $SEED), threshold 0.8, $(nproc) cores; datacustoms: median of $RUNS runs"
echo
echo "| tool        | threads |    docs/s | docs/s / core |    MB/s | peak RSS MiB | precision | recall |     F1 | pair prec. | neg. merged |"
echo "|-------------|---------|-----------|---------------|---------|--------------|-----------|--------|--------|------------|-------------|"
printf '%s\n' "${ROWS[@]}"
echo
awk '{ rate[$1 "-" $2] = $3 } END {
  ds = rate["datasketch-1"]
  for (t = 1; t <= 2; t++)
    printf "datacustoms per core at %d thread(s) / datasketch docs/s: %.1fx\n", t, rate["datacustoms-" t] / t / ds }' "$WORK/rates"
