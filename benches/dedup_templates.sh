#!/usr/bin/env bash
# Near dedup on a corpus of one template's variants, the worst case for candidate work:
# every record shares most LSH bands with the records before it, and is verified against
# dozens of candidates near the threshold before its match. The index bounded by the
# default `memory_mb` (256: generations frozen to disk) against the index in memory
# (`memory_mb = 4096`), one thread, the same input.
#
#   benches/dedup_templates.sh [RECORDS]      RECORDS defaults to 1000000 (about 196 MB)
#
# Each record is `Dear customer, your parcel XXXXXX left ... pickup point NNNNNN ...`
# with six random letters and six random digits (a fixed xorshift seed, so the corpus is
# the same every time). Reports wall and CPU seconds (user and system), peak RSS, the
# rows dropped and the bounded / in-memory CPU ratio, and checks that both write the
# same `dedup_clusters.jsonl`. RUNS (default 1) runs of each, interleaved; each row is one
# run. Dirty pages are synced before every timed run; the input is in the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${1:-1000000}
RUNS=${RUNS:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

cargo build --release --quiet --bin datacustoms
BIN="$CARGO_TARGET_DIR/release/datacustoms"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-templates-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DATACUSTOMS_STATE_DIR="$WORK/state"

python3 - "$RECORDS" "$WORK/notices.jsonl" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
x = 0x2545F4914F6CDD1D
M = (1 << 64) - 1
def nxt():
    global x
    x ^= (x << 13) & M
    x ^= x >> 7
    x ^= (x << 17) & M
    return x
with open(path, "w") as f:
    for i in range(n):
        a = "".join(chr(ord("a") + nxt() % 26) for _ in range(6))
        b = nxt() % 1_000_000
        f.write('{"id": %d, "text": "Dear customer, your parcel %s left the central '
                'warehouse this morning and will reach the pickup point %06d within two '
                'working days. Thank you for shopping with us."}\n' % (i, a, b))
PY
IN_BYTES=$(stat -c %s "$WORK/notices.jsonl")
cat "$WORK/notices.jsonl" > /dev/null

# pipeline NAME EXTRA: a near dedup of the notices, with EXTRA in its stage.
pipeline() {
  cat > "$WORK/$1.toml" <<TOML
[input]
path = "$WORK/notices.jsonl"
[output]
path = "$WORK/out-$1"
format = "jsonl"
overwrite = true
[[stages]]
type = "dedup"
mode = "near"
fields = ["text"]
$2
TOML
}
pipeline bounded ""
pipeline memory "memory_mb = 4096"

printf 'near dedup of %s template variants (%.1f MB), one thread, %s run(s) each\n\n' \
  "$RECORDS" "$(echo "$IN_BYTES / 1000000" | bc -l)" "$RUNS"
echo "| index     | wall s | user s | sys s | CPU-s | peak RSS MiB | dropped |"
echo "|-----------|--------|--------|-------|-------|--------------|---------|"
declare -A cpu
for r in $(seq 1 "$RUNS"); do
  for name in bounded memory; do
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time-$name" \
      "$BIN" run "$WORK/$name.toml" --quiet --threads 1 > /dev/null 2> "$WORK/err-$name" \
      || { cat "$WORK/err-$name" >&2; exit 1; }
    read -r wall user sys rss < "$WORK/time-$name"
    dropped=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows']['duplicates'])" \
      "$WORK/out-$name/report.json")
    total=$(echo "$user + $sys" | bc -l)
    cpu[$name]=$total
    printf '| %-9s | %6.1f | %6.1f | %5.1f | %5.1f | %12d | %7d |\n' \
      "$name" "$wall" "$user" "$sys" "$total" "$((rss / 1024))" "$dropped"
  done
  printf '\nrun %s: bounded / in memory, CPU-seconds: %.2fx\n' "$r" \
    "$(echo "${cpu[bounded]} / ${cpu[memory]}" | bc -l)"
done
if cmp -s "$WORK/out-bounded/dedup_clusters.jsonl" "$WORK/out-memory/dedup_clusters.jsonl"; then
  echo "dedup_clusters.jsonl: the same in both"
else
  echo "dedup_clusters.jsonl: DIFFERENT (a generation boundary can add matches; see the README)"
fi
