#!/usr/bin/env bash
# De-identification side by side: the datacustoms `deidentify` stage (action tag, fields
# text and messages.content, --threads 1) against Microsoft Presidio's pattern
# recognizers (benches/presidio_compare.py), on one generated chat corpus with truth.
#
#   benches/presidio_compare.sh [RECORDS]        RECORDS defaults to 20000 (11.5 MB)
#
# The corpus and its truth come from `gen_corpus chat --records N --truth` (seed $SEED,
# default 20261122, gen_corpus's default): about 60% Chinese, 30% English, 10% mixed,
# with planted checksum-valid PII and entity spans as Unicode character offsets. Presidio runs
# offline on a blank spaCy pipeline (no model download) with CreditCard, Email, Iban,
# Ip, Phone (regions $PHONE_REGIONS, default CN,US,GB), Url and UsSsn recognizers only;
# see benches/presidio_compare.py for the set-up and the scoring rules. Presidio analyses
# about 0.26 MB of text per second on one core here (7.1 MB of text at the default
# 20000 records: about 30 s).
# presidio-analyzer is installed into the venv at $HOME/.cache/datacustoms-venv
# (override with DATACUSTOMS_VENV) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${1:-20000}
SEED=${SEED:-20261122}
PHONE_REGIONS=${PHONE_REGIONS:-CN,US,GB}
VENV=${DATACUSTOMS_VENV:-$HOME/.cache/datacustoms-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import presidio_analyzer, spacy' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check presidio-analyzer
fi
PY="$VENV/bin/python"

cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-presidio.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

"$GEN" chat --records "$RECORDS" --seed "$SEED" --out "$WORK/chat.jsonl" --truth "$WORK/truth.jsonl" >&2

cat > "$WORK/p.toml" <<TOML
[input]
path = "$WORK/chat.jsonl"
[output]
path = "$WORK/out"
format = "jsonl"
overwrite = true
[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]
action = "tag"
TOML

cat "$WORK/chat.jsonl" > /dev/null # warm the page cache
sync
/usr/bin/time -f "%e %M" -o "$WORK/time" \
  "$BIN" run "$WORK/p.toml" --quiet --threads 1 --quarantine-dir "$WORK/q"
read -r SECS RSS_KB < <(tail -n 1 "$WORK/time")

"$PY" benches/presidio_compare.py --chat "$WORK/chat.jsonl" --truth "$WORK/truth.jsonl" \
  --dc-out "$WORK/out" --dc-wall "$SECS" --dc-rss-kb "$RSS_KB" --phone-regions "$PHONE_REGIONS"
