#!/usr/bin/env bash
# The whole pipeline a user runs, at several input sizes: normalize → near dedup →
# deidentify (tag) → pseudonymize one column → encrypt one column, JSONL in and out, on
# the bundled chat generator (examples/gen_corpus.rs). Issue 16 measures against this.
#
#   benches/pipeline.sh [SIZE...]        sizes default to 256M 1G (gen_corpus --bytes)
#
# Environment: THREADS (default "1 2"), RUNS (default 1; rounds, each running every size
# and thread count once in turn; the table shows the median wall time of the runs and the
# largest peak RSS, and a line per thread count the ratios of the largest size to the
# smallest, round by round and their medians), DEDUP_MEMORY_MB (dedup's memory_mb; unset:
# its default, 256; the notes below the table say whether the index was bounded and in
# how many generations).
#
# Columns:
#   MB/CPU-s     input bytes on disk (10^6) per CPU-second of the whole process (user +
#                system, from /usr/bin/time): the figure issue 16 sets its bar on
#   sys s        of the CPU-seconds, those in the kernel. On a virtual machine that hands
#                freed memory back to its host (free page reporting, as on the machines
#                this project runs on) writing into a page the guest has not touched
#                lately costs a host fault: writing 1 GB of new file pages took 5 to 9 s
#                of system time, overwriting cached ones 0.2 s. Files written (export,
#                shingle spill, the bounded index's generations) and memory taken afresh
#                land here, and the figure swings between runs of the same build by as
#                much as the rest of the work: compare user time to compare builds
#   wall MB/s    input bytes per wall second
#   peak RSS     the process's maximum resident set, MiB
#   CPU-s/MB     CPU-seconds per input MB, whose growth between sizes shows work that is
#                not linear in the input
#   stage CPU-s  each stage's `cpu_seconds` from report.json (elapsed time around the
#                stage's calls summed over worker threads; the barrier's own time for
#                dedup), in pipeline order, then the residual-PII re-scan's
#                (`residual.cpu_seconds`: the recognizers again, on every value
#                deidentify changed and every string field it did not read)
# Below the table: the dedup stage's findings (candidates, limits reached) per run.
# Dirty pages are synced before every timed run; the input is in the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(256M 1G); fi
RUNS=${RUNS:-1}
THREADS=${THREADS:-"1 2"}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/datacustoms-target}"
cargo build --release --quiet --bin datacustoms --example gen_corpus
BIN="$CARGO_TARGET_DIR/release/datacustoms"
GEN="$CARGO_TARGET_DIR/release/examples/gen_corpus"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-pipeline-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export DATACUSTOMS_STATE_DIR="$WORK/state"

STAGES="normalize dedup deidentify pseudonymize encrypt"
ROWS=()
NOTES=()
# Every size's input and pipeline file first, so that the runs can take turns: this
# machine's speed drifts by 10 % or more within an hour, and a ratio between sizes (issue
# 16's bars) from runs an hour apart measures the drift as much as the code.
declare -A BYTES RUNLIST PEAK
for size in "${SIZES[@]}"; do
  in="$WORK/chat-$size.jsonl"
  "$GEN" chat --bytes "$size" --out "$in" >&2
  BYTES[$size]=$(stat -c %s "$in")
  cat > "$WORK/p-$size.toml" <<TOML
[input]
path = "$in"
[output]
path = "$WORK/out"
format = "jsonl"
overwrite = true
[keys]
scope = "pipeline-bench"
[[stages]]
type = "normalize"
fields = ["text", "messages.content"]
[[stages]]
type = "dedup"
mode = "near"
fields = ["text"]
${DEDUP_MEMORY_MB:+memory_mb = $DEDUP_MEMORY_MB}
[[stages]]
type = "deidentify"
fields = ["text", "messages.content"]
action = "tag"
[[stages]]
type = "pseudonymize"
columns = ["user_id"]
[[stages]]
type = "encrypt"
columns = ["ts"]
TOML
done
# RUNS rounds, each running every size at every thread count once, in turn.
for round in $(seq "$RUNS"); do
  for size in "${SIZES[@]}"; do
    cat "$WORK/chat-$size.jsonl" > /dev/null # in the page cache
    for threads in $THREADS; do
      rm -rf "$WORK/out"
      sync
      /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
        "$BIN" run "$WORK/p-$size.toml" --quiet --threads "$threads" --quarantine-dir "$WORK/q" > /dev/null
      read -r wall user sys kb < <(tail -n 1 "$WORK/time")
      if [ "$(jq -r .status "$WORK/out/report.json")" != complete ]; then
        echo "run $size/$threads did not complete" >&2
        exit 1
      fi
      stage_cpu=$(jq -r '[(.stages[].cpu_seconds), (.residual.cpu_seconds // 0) | . * 100 | round / 100 | tostring] | join(" / ")' "$WORK/out/report.json")
      RUNLIST[$size/$threads]+="$wall $user $sys $kb $round|$stage_cpu"$'\n'
      if ((kb > ${PEAK[$size/$threads]:-0})); then PEAK[$size/$threads]=$kb; fi
      if ((round == 1)); then
        NOTES+=("$size threads=$threads: rows $(jq -c '.rows | {in, out, duplicates, quarantined}' "$WORK/out/report.json"); dedup findings $(jq -c '.stages[1].findings.totals // .stages[1].findings' "$WORK/out/report.json"); index $(jq -r '.stages[1].findings.info | if .bounded_index then "bounded by memory_mb, \(.bounded_index.generations) generations" else "in memory" end' "$WORK/out/report.json")")
      fi
    done
  done
done
for size in "${SIZES[@]}"; do
  for threads in $THREADS; do
    median=$(printf '%s' "${RUNLIST[$size/$threads]}" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')
    read -r wall user sys _ _ <<< "${median%%|*}"
    stage_cpu=${median#*|}
    ROWS+=("$(awk -v s="$size" -v t="$threads" -v b="${BYTES[$size]}" -v w="$wall" -v u="$user" -v y="$sys" -v kb="${PEAK[$size/$threads]}" -v st="$stage_cpu" 'BEGIN {
      cpu = u + y; if (cpu < 0.01) cpu = 0.01; if (w < 0.01) w = 0.01
      printf "| %5s | %7d | %8.1f | %7.1f | %7.1f | %5.1f | %10.1f | %10.1f | %8.0f | %10.4f | %s |",
        s, t, b / 1e6, w, cpu, y, b / 1e6 / cpu, b / 1e6 / w, kb / 1024, cpu / (b / 1e6), st }')")
  done
done
# Issue 16's ratios, largest size against smallest, per round (runs minutes apart), and
# their median: CPU-seconds per MB, and peak RSS.
RATIOS=()
first=${SIZES[0]}
last=${SIZES[${#SIZES[@]} - 1]}
if [ "$first" != "$last" ]; then
  for threads in $THREADS; do
    per_round=$(paste -d ' ' \
      <(printf '%s' "${RUNLIST[$first/$threads]}" | cut -d '|' -f 1) \
      <(printf '%s' "${RUNLIST[$last/$threads]}" | cut -d '|' -f 1) |
      awk -v bs="${BYTES[$first]}" -v bl="${BYTES[$last]}" '{
        printf "%.3f %.3f\n", (($7 + $8) / bl) / (($2 + $3) / bs), $9 / $4 }')
    RATIOS+=("$last against $first, threads=$threads: CPU-s per MB $(echo "$per_round" | awk '{ printf "%s%.2fx", (NR > 1 ? ", " : ""), $1 }'), peak RSS $(echo "$per_round" | awk '{ printf "%s%.2fx", (NR > 1 ? ", " : ""), $2 }') (round by round); medians $(echo "$per_round" | sort -n -k1,1 | awk '{ a[NR] = $1 } END { printf "%.2fx", a[int((NR + 1) / 2)] }') and $(echo "$per_round" | sort -n -k2,2 | awk '{ a[NR] = $2 } END { printf "%.2fx", a[int((NR + 1) / 2)] }')")
  done
fi

echo
echo "pipeline benchmark: $STAGES, generated chat corpus, $(nproc) cores, median of $RUNS run(s)"
echo
echo "| size  | threads | input MB |  wall s |   CPU-s | sys s | MB/CPU-s   | wall MB/s  | peak RSS | CPU-s/MB   | stage CPU-s ($(echo "$STAGES residual-scan" | tr ' ' '/')) |"
echo "|-------|---------|----------|---------|---------|-------|------------|------------|----------|------------|------|"
printf '%s\n' "${ROWS[@]}"
echo
if [ ${#RATIOS[@]} -gt 0 ]; then
  printf '%s\n' "${RATIOS[@]}"
  echo
fi
printf '%s\n' "${NOTES[@]}"
