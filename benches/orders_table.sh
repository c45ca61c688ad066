# Sourced by the benchmarks that run on a large generated orders table
# (benches/dp_release.sh, benches/assessment.sh): builds the binaries, makes a temporary
# work folder (removed on exit) and the table, cached across runs.
#
#   ROWS=… NAME=… . benches/orders_table.sh
#
# Sets BIN, GEN, WORK and IN (the table: `gen_corpus orders --rows ROWS`, zstd Parquet,
# kept at $HOME/.cache/datacustoms-bench/orders-ROWS.parquet; override the folder with
# DATACUSTOMS_BENCH_DIR), and RUNS (default 3) and THREADS (default 2) unless set.
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
BENCH_DIR=${DATACUSTOMS_BENCH_DIR:-$HOME/.cache/datacustoms-bench}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-$NAME-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

mkdir -p "$BENCH_DIR"
IN="$BENCH_DIR/orders-$ROWS.parquet"
if [ ! -s "$IN" ]; then
  "$GEN" orders --rows "$ROWS" --out "$IN.tmp" >&2
  mv "$IN.tmp" "$IN"
fi
cat "$IN" > /dev/null # warm the page cache

# pipeline NAME BODY: writes $WORK/NAME.toml that reads the table and writes $WORK/out,
# with $OUTPUT_EXTRA (lines) in [output] and BODY (stages, [assessment], …) after it.
pipeline() {
  cat > "$WORK/$1.toml" <<TOML
[input]
path = "$IN"
[output]
path = "$WORK/out"
overwrite = true
${OUTPUT_EXTRA:-}
$2
TOML
}
