#!/usr/bin/env bash
# Throughput of the `deidentify` stage and of the residual-PII re-scan on the generated
# chat corpus (about 60% Chinese, 30% English, 10% mixed, with planted PII).
#
#   benches/deidentify.sh [SIZE]          SIZE defaults to 200M (gen_corpus --bytes)
#
# Cases (RUNS runs each, default 3; the table shows the median wall time, the stage CPU
# seconds of that run and the largest peak RSS):
#   passthrough  no stages, no gate: read + write only, for reference
#   deidentify   [[stages]] type = "deidentify", fields = ["text", "messages.content"]
#                (action tag) at --threads 1 and 2; the run also re-scans every string
#                field of the export (residual scan) and writes it
#   rescan       no stages, [gate] max_residual = 1000000000: the residual re-scan of
#                every string field, which changes nothing; there is no `scan`
#                subcommand in older builds, so this stands in for "scan only"
#   scan         `datacustoms scan CHAT --fields text,messages.content` (PII inventory
#                of the two text fields, no export) at --threads 1 and 2, when the
#                build has the `scan` subcommand
#
# MB/s is input bytes on disk (10^6) per wall second. "stage CPU s" is the stage's own
# CPU seconds summed over threads (report.json stages[0].cpu_seconds); "MB/s per core
# (stage)" is input bytes / stage CPU seconds. For rows without a stage the per-core
# column is input bytes / wall seconds / threads (whole run: read, scan, write).
# Note: the engine measures a stage's "cpu_seconds" as elapsed time around each stage
# call, summed over worker threads, so with more busy threads than cores it includes
# time spent descheduled. The last line estimates the re-scan alone as the difference
# between the rescan and passthrough wall times.
# Dirty pages are synced before every timed run; the input is in the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${1:-200M}
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"

cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-deid-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

"$GEN" chat --bytes "$SIZE" --out "$WORK/chat.jsonl" >&2
IN_BYTES=$(stat -c %s "$WORK/chat.jsonl")
cat "$WORK/chat.jsonl" > /dev/null # warm the page cache

# pipeline NAME BODY: writes $WORK/NAME.toml with BODY after [input] / [output].
pipeline() {
  cat > "$WORK/$1.toml" <<TOML
[input]
path = "$WORK/chat.jsonl"
[output]
path = "$WORK/out"
format = "jsonl"
overwrite = true
$2
TOML
}
pipeline passthrough ""
pipeline deidentify '[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]'
pipeline rescan '[gate]
max_residual = 1000000000'

ROWS=()
# measure CASE THREADS CMD...: RUNS timed runs of CMD, one table row. For `run`
# commands the stage CPU seconds and status come from $WORK/out/report.json.
measure() {
  local case=$1 threads=$2 runs=() rss=0 secs kb cpu
  shift 2
  for r in $(seq "$RUNS"); do
    rm -rf "$WORK/out" "$WORK/scan.json"
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@"
    read -r secs kb < <(tail -n 1 "$WORK/time")
    cpu=-
    if [ -f "$WORK/out/report.json" ]; then
      cpu=$(jq -r '.stages[0].cpu_seconds // "-"' "$WORK/out/report.json")
      if [ "$(jq -r .status "$WORK/out/report.json")" != complete ]; then
        echo "run $case/$threads did not complete" >&2
        exit 1
      fi
      if [ "$r" = 1 ]; then
        echo "$case threads=$threads: rows $(jq -c '.rows | {in, out, quarantined}' "$WORK/out/report.json")," \
          "residual hits $(jq -r '.residual.hits // "-"' "$WORK/out/report.json")," \
          "stage findings $(jq -c '.stages[0].findings.totals // "-"' "$WORK/out/report.json")" >&2
      fi
    elif [ -f "$WORK/scan.json" ] && [ "$r" = 1 ]; then
      echo "$case threads=$threads: records $(jq -r .records "$WORK/scan.json"), detections $(jq -c .by_type "$WORK/scan.json")" >&2
    fi
    runs+=("$secs $cpu")
    if ((kb > rss)); then rss=$kb; fi
  done
  read -r secs cpu < <(printf '%s\n' "${runs[@]}" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')
  echo "$case $threads $secs $cpu" >> "$WORK/results"
  ROWS+=("$(awk -v c="$case" -v t="$threads" -v b="$IN_BYTES" -v s="$secs" -v cpu="$cpu" -v kb="$rss" 'BEGIN {
    if (s < 0.01) s = 0.01
    if (cpu == "-") { cpus = "-"; pc = sprintf("%.1f (run)", b / 1e6 / s / t) }
    else { cpus = sprintf("%.2f", cpu); pc = sprintf("%.1f", b / 1e6 / cpu) }
    printf "| %-12s | %7d | %8.1f | %6.2f | %6.1f | %11s | %22s | %13.0f |",
      c, t, b / 1e6, s, b / 1e6 / s, cpus, pc, kb / 1024 }')")
}

for c in "passthrough 1" "deidentify 1" "deidentify 2" "rescan 1"; do
  read -r p threads <<< "$c"
  measure "$p" "$threads" "$BIN" run "$WORK/$p.toml" --quiet --threads "$threads" --quarantine-dir "$WORK/q"
done
# `datacustoms scan` (PII inventory, no export) where this build has it.
if "$BIN" scan --help > /dev/null 2>&1; then
  for threads in 1 2; do
    measure scan "$threads" "$BIN" scan "$WORK/chat.jsonl" --fields text,messages.content \
      --threads "$threads" --quiet --report "$WORK/scan.json"
  done
fi

echo
echo "deidentify benchmark: generated chat corpus $SIZE ($(awk -v b="$IN_BYTES" 'BEGIN { printf "%.1f MB", b / 1e6 }')), $(nproc) cores, median of $RUNS run(s)"
echo
echo "| case         | threads | input MB | wall s |   MB/s | stage CPU s | MB/s per core (stage)  | peak RSS MiB |"
echo "|--------------|---------|----------|--------|--------|-------------|------------------------|--------------|"
printf '%s\n' "${ROWS[@]}"
echo
awk -v b="$IN_BYTES" '{ w[$1 "-" $2] = $3 } END {
  base = w["passthrough-1"]; scan = w["rescan-1"] - base
  if (scan > 0.01)
    printf "rescan minus passthrough at 1 thread: %.2f s, i.e. about %.1f MB/s for the re-scan alone (estimate: difference of two wall times)\n", scan, b / 1e6 / scan
}' "$WORK/results"
