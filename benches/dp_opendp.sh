#!/usr/bin/env bash
# The `dp_release` stage against the OpenDP library (benches/dp_opendp.py): same
# mechanisms, same parameters, on sample-data/orders.parquet.
#
#   benches/dp_opendp.sh [RUNS]        RUNS defaults to 20 (releases per query in (d))
#
# Checks, all printed as markdown tables:
#   (a) epsilon  OpenDP's integer Laplace (`make_laplace`, i64 vectors, L1 distance) built
#                with the scale b datacustoms reports, its privacy map at d_in = the L1
#                sensitivity datacustoms reports, for every discrete Laplace noise entry
#                of pipelines/orders-dp.toml and of the accuracy pipelines
#   (b) rho      `make_gaussian` (zCDP) at datacustoms' sigma, map at d_in = L2 sensitivity
#   (c) delta    revenue_by_category (private keys): `make_laplace_threshold` with our
#                selection-count scale and threshold tau, map at (L0, L0*Linf, Linf), and
#                the release rate of 20000 singleton keys through both libraries
#   (d) accuracy users_by_province (privacy_unit user_id, L0 = Linf = 1, eps 0.5, public
#                keys pipelines/orders-provinces.txt) and orders per category (no privacy
#                unit, eps 1, 10 inline keys): RUNS datacustoms runs (fresh ledger each,
#                rows = false) and RUNS OpenDP draws on the true counts; mean absolute
#                error, 95% half-width vs the empirical 95th percentile of |error|
# Every run has its own ledger and export in a temporary directory, removed at exit.
# opendp and pyarrow are installed into the venv at $HOME/.cache/datacustoms-venv
# (override with DATACUSTOMS_VENV) when missing; PyPI must be reachable then.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-20}
VENV=${DATACUSTOMS_VENV:-$HOME/.cache/datacustoms-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import opendp' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check opendp
fi
if ! "$VENV/bin/python" -c 'import pyarrow, numpy' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check pyarrow numpy
fi
PY="$VENV/bin/python"

cargo build --release --quiet --bin datacustoms
BIN="$CARGO_TARGET_DIR/release/datacustoms"

"$PY" benches/dp_opendp.py --bin "$BIN" --runs "$RUNS"
