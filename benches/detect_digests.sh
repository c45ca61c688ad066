#!/usr/bin/env bash
# A digest of every detection the built-in detector makes, on corpora that exercise it
# widely, to show that a change meant only to be faster finds exactly what it found
# before: run it on both builds and compare the output (`diff`).
#
#   benches/detect_digests.sh
#   DETECT_COST=path/to/detect_cost benches/detect_digests.sh   # another build's binary
#
# Corpora: two generated chat corpora (12 MB each, seeds 20261122 and 7), the dev and
# held-out evaluation sets (tests/data/deid_eval), Presidio's test cases
# (tests/data/presidio), and mutations of all of these (benches/detect_mutate.py: about
# 15 MB). Each at the default threshold and at min_score 0.05, so that pruning weak
# candidates is checked too. `examples/detect_cost.rs` computes each digest (detection
# type, span and score bits, FNV-1a).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --example detect_cost --example gen_corpus
BIN="${DETECT_COST:-$CARGO_TARGET_DIR/release/examples/detect_cost}"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-detect-digests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$GEN" chat --bytes 12M --out "$WORK/chat.jsonl" >/dev/null
"$GEN" chat --bytes 12M --seed 7 --out "$WORK/chat7.jsonl" >/dev/null
EVAL=(tests/data/deid_eval/dev.jsonl tests/data/deid_eval/heldout.jsonl tests/data/presidio/presidio_cases.jsonl)
# The mutations draw from the evaluation sets and the first 8,000 records of chat7.
head -n 8000 "$WORK/chat7.jsonl" > "$WORK/chat7-head.jsonl"
python3 benches/detect_mutate.py "$WORK/mutated.jsonl" "${EVAL[@]}" "$WORK/chat7-head.jsonl"

for f in "$WORK/chat.jsonl" "$WORK/chat7.jsonl" "$WORK/mutated.jsonl" "${EVAL[@]}"; do
  echo "$(basename "$f") default $(DETECT_COST_DIGEST=1 "$BIN" "$f" | tail -n 1)"
  echo "$(basename "$f") min_score=0.05 $(DETECT_COST_MIN_SCORE=0.05 DETECT_COST_DIGEST=1 "$BIN" "$f" | tail -n 1)"
done
