#!/usr/bin/env bash
# The detector's cost in instructions: deterministic, unlike wall or CPU time on a shared
# machine, so it can compare two builds of the recognizers run at different times.
#
#   benches/detect_instructions.sh [FILE.jsonl]      FILE defaults to a 4 MB generated chat corpus
#
# Runs `examples/detect_cost.rs` (every `text` and `messages[].content` of FILE through
# `Detector::detect` once, after an uncounted pass over every text that builds the
# lazily built parts, DETECT_COST_WARM=1) under
# valgrind's callgrind, counting only inside its `detect_all`. Prints the instructions,
# the instructions per byte of text, and the most expensive detector functions
# (inclusive). Needs valgrind (Debian package `valgrind`). The build has line tables and
# is not stripped, in its own target folder ($DATACUSTOMS_PROF_TARGET, default
# $HOME/.cache/datacustoms-prof-target), so it does not disturb the main build.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
export CARGO_TARGET_DIR="${DATACUSTOMS_PROF_TARGET:-$HOME/.cache/datacustoms-prof-target}"
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=false
cargo build --release --quiet --example detect_cost --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/examples/detect_cost"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-detect-cost.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

FILE=${1:-}
if [ -z "$FILE" ]; then
  FILE="$WORK/chat.jsonl"
  "$CARGO_TARGET_DIR/release/examples/gen_corpus" chat --out "$FILE" --bytes 4M >/dev/null
fi

DETECT_COST_WARM=1 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --toggle-collect='*detect_all*' \
  "$BIN" "$FILE" >"$WORK/out.txt" 2>"$WORK/valgrind.txt"
INSTR=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$WORK/valgrind.txt")
read -r TEXTS BYTES FOUND < <(sed -n 's/texts=\([0-9]*\) bytes=\([0-9]*\) detections=\([0-9]*\)/\1 \2 \3/p' "$WORK/out.txt")
echo "file: $FILE"
echo "texts: $TEXTS, text bytes: $BYTES, detections: $FOUND"
echo "instructions in Detector::detect: $INSTR ($(( INSTR / BYTES )) per text byte)"
echo
echo "inclusive, detector functions (top 20):"
callgrind_annotate --inclusive=yes "$WORK/cg.out" 2>/dev/null \
  | grep -E '^ *[0-9,]+ \( *[0-9.]+%\)  [^ ]*:datacustoms::detect::' \
  | sed -E 's/ \[[^]]*\]$//; s#  [^ ]*/src/#  src/#' \
  | awk '!seen[$NF]++' | head -20
