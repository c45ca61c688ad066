#!/usr/bin/env bash
# Throughput of the crypto module (examples/crypto_bench.rs): keyed tokens per second
# (HMAC-SHA256 tokens of 16-byte PHONE / USER_ID values and 256-byte USER_ID values) and
# AES-256-GCM cells encrypted and decrypted per second (16-, 64- and 256-byte values),
# each at 1 and 2 threads (a rayon pool of that size, 8192 values per task).
#
#   benches/crypto.sh [N]          N values per measurement, default 2000000
#
# Prints the CPU model, core count and load average, then the AES-NI / PCLMULQDQ / SHA-NI
# flags, then one line per measurement, from the run (of 3) with the median wall time:
#   tokens kind=USER_ID value=16B threads=1 n=2000000 seconds=0.630 per_sec=3170000 cpu_seconds=0.631 per_cpu_sec=3169000 runs=...
#   encrypt value=64B threads=2 n=2000000 seconds=0.500 per_sec=4000000 cpu_seconds=0.990 per_cpu_sec=2020000 runs=...
# per_sec is per wall second; per_cpu_sec is per CPU second of the whole process
# (getrusage), i.e. per busy core, which other load on the machine disturbs less.
# Grep for a figure: benches/crypto.sh | grep '^encrypt value=64B threads=2'
# With 2 threads on a 2-core machine anything else running shows in the wall figures;
# check the load average printed at the top.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-2000000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

cargo build --release --quiet --example crypto_bench
BENCH="$CARGO_TARGET_DIR/release/examples/crypto_bench"

echo "cpu $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "cores $(nproc)"
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" "$N"
