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
# type, span and score bits, FNV-1a). Then the same on tagged text, the residual
# re-scan's input: chat7's first 8,000 records and the three evaluation sets run through
# this tree's `datacustoms` with a `deidentify` (tag) stage (`tagged-*`: the detector
# reads `<PERSON>`, `<PHONE>` ... where the values were), so a change to how tags are
# read is checked too (with `DETECT_COST` set, the tagging is still this tree's).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --bin datacustoms --example detect_cost --example gen_corpus
BIN="${DETECT_COST:-$CARGO_TARGET_DIR/release/examples/detect_cost}"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
DC="$CARGO_TARGET_DIR/release/datacustoms"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-detect-digests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The tagging runs' keyring and ledgers in the work folder, never in the user's.
export DATACUSTOMS_STATE_DIR="$WORK/state"

"$GEN" chat --bytes 12M --out "$WORK/chat.jsonl" >/dev/null
"$GEN" chat --bytes 12M --seed 7 --out "$WORK/chat7.jsonl" >/dev/null
EVAL=(tests/data/deid_eval/dev.jsonl tests/data/deid_eval/heldout.jsonl tests/data/presidio/presidio_cases.jsonl)
# The mutations draw from the evaluation sets and the first 8,000 records of chat7.
head -n 8000 "$WORK/chat7.jsonl" > "$WORK/chat7-head.jsonl"
python3 benches/detect_mutate.py "$WORK/mutated.jsonl" "${EVAL[@]}" "$WORK/chat7-head.jsonl"

# tag FILE FIELDS: FILE's FIELDS (TOML list) de-identified (action tag) into
# $WORK/tagged-NAME.jsonl.
tag() {
  local name out
  name=$(basename "$1" .jsonl)
  out="$WORK/tag-$name"
  cat > "$WORK/tag-$name.toml" <<TOML
[input]
path = "$(realpath "$1")"
[output]
path = "$out"
format = "jsonl"
overwrite = true
[[stages]]
type = "deidentify"
fields = $2
action = "tag"
TOML
  "$DC" run "$WORK/tag-$name.toml" --quiet --quarantine-dir "$WORK/q-$name" > /dev/null \
    2> "$WORK/tag-$name.err" || { cat "$WORK/tag-$name.err" >&2; exit 1; }
  cat "$out"/data/*.jsonl > "$WORK/tagged-$name.jsonl"
}
TAGGED=()
for f in "$WORK/chat7-head.jsonl" "${EVAL[@]}"; do
  case $f in
    *chat7*) tag "$f" '["text", "messages.content"]' ;;
    *) tag "$f" '["text"]' ;;
  esac
  TAGGED+=("$WORK/tagged-$(basename "$f" .jsonl).jsonl")
done

for f in "$WORK/chat.jsonl" "$WORK/chat7.jsonl" "$WORK/mutated.jsonl" "${EVAL[@]}" "${TAGGED[@]}"; do
  echo "$(basename "$f") default $(DETECT_COST_DIGEST=1 "$BIN" "$f" | tail -n 1)"
  echo "$(basename "$f") min_score=0.05 $(DETECT_COST_MIN_SCORE=0.05 DETECT_COST_DIGEST=1 "$BIN" "$f" | tail -n 1)"
done
