#!/usr/bin/env bash
# Throughput and peak memory of the `dp_release` stage on a large generated orders table,
# as an aggregates-only export ([output] rows = false).
#
#   benches/dp_release.sh [ROWS]          ROWS defaults to 10000000
#
# The table comes from `gen_corpus orders --rows ROWS` (zstd Parquet, row groups of 8192,
# about 49 bytes and 0.4 users per row) and is kept at
# $HOME/.cache/datacustoms-bench/orders-ROWS.parquet (override the folder with
# DATACUSTOMS_BENCH_DIR); it is generated once and reused.
#
# Cases (RUNS runs each, default 3; the table shows the median wall time, the stage CPU
# seconds of that run and the largest peak RSS; every run at --threads 2, -q):
#   passthrough  rows = false, no stages: the Parquet reader (and input hashing) alone
#   dp private   [[stages]] type = "dp_release", privacy_unit = "user_id", two queries
#                grouped by (province, category): a count and a sum of `amount`
#                (bounds [0, 2000], resolution 0.01), each epsilon 1, delta 1e-6,
#                max_partitions 3, max_rows_per_partition 5; private keys (Laplace
#                thresholding)
#   dp spill     dp private with memory_mb = 64 (the units' rows go through temporary files)
#   dp public    the same two queries with public keys: keys_file with the cross product
#                of pipelines/orders-provinces.txt and the 10 generator categories
#                (34 x 10 = 340 keys, tab-separated)
# Each run has a fresh ledger (a generous budget) in a temporary directory.
#
# rows/s is input rows / median wall seconds; "stage CPU s" is report.json
# stages[0].cpu_seconds (the row part summed over worker threads plus the barrier part,
# measured as elapsed time around each call); the last column estimates the stage alone
# as rows / (case wall − passthrough wall). Target: ≥ 5 million rows/s on 2 cores.
# The input is in the page cache; dirty pages are synced before every timed run. Other
# work on the machine skews the figures: the load averages are printed with the table.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-10000000}
NAME=dp
. benches/orders_table.sh
IN_BYTES=$(stat -c %s "$IN")

# Public keys: every province x every category (examples/gen_corpus.rs CATEGORIES).
CATEGORIES=(服装鞋包 数码电子 家用电器 食品生鲜 美妆个护 母婴用品 图书文娱 家居日用 运动户外 医药保健)
while IFS= read -r p; do
  [ -n "$p" ] || continue
  for c in "${CATEGORIES[@]}"; do printf '%s\t%s\n' "$p" "$c"; done
done < pipelines/orders-provinces.txt > "$WORK/keys.tsv"

OUTPUT_EXTRA='rows = false'
# dp_stage KEYS_LINE: the two queries, with KEYS_LINE (empty: private keys).
dp_stage() {
  cat <<TOML
[[stages]]
type = "dp_release"
privacy_unit = "user_id"
ledger = "$WORK/ledger.sqlite"
budget = { total_epsilon = 1000000.0, total_delta = 0.5 }
  [[stages.queries]]
  name = "orders_by_province_category"
  aggregate = "count"
  group_by = ["province", "category"]
  $1
  epsilon = 1.0
  delta = 1e-6
  max_partitions = 3
  max_rows_per_partition = 5
  [[stages.queries]]
  name = "revenue_by_province_category"
  aggregate = "sum"
  column = "amount"
  bounds = [0, 2000]
  resolution = 0.01
  group_by = ["province", "category"]
  $1
  epsilon = 1.0
  delta = 1e-6
  max_partitions = 3
  max_rows_per_partition = 5
TOML
}
pipeline passthrough ""
pipeline dp-private "$(dp_stage "")"
pipeline dp-public "$(dp_stage "keys_file = \"$WORK/keys.tsv\"")"
# The private-keys case again with memory_mb = 64: the units' rows spill to temporary files.
sed 's/^ledger = .*/&\nmemory_mb = 64/' "$WORK/dp-private.toml" > "$WORK/dp-spill.toml"

ROWS_OUT=()
# measure CASE: RUNS timed runs of the pipeline CASE, one table row.
measure() {
  local case=$1 runs=() rss=0 secs kb cpu rows_in
  for r in $(seq "$RUNS"); do
    rm -rf "$WORK/out" "$WORK/ledger.sqlite" "$WORK/q"
    sync
    /usr/bin/time -v -o "$WORK/time" \
      "$BIN" run "$WORK/$case.toml" -q --threads "$THREADS" --quarantine-dir "$WORK/q"
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$WORK/time")
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time")
    if [ "$(jq -r .status "$WORK/out/report.json")" != complete ]; then
      echo "run $case did not complete" >&2
      exit 1
    fi
    # An aggregates-only export withholds exact counts; the full report is kept at home
    # in the quarantine folder of the run.
    report="$WORK/out/report.json"
    home=$(ls "$WORK"/q/*/report.json 2>/dev/null | head -n 1 || true)
    if [ -n "$home" ]; then report=$home; fi
    rows_in=$(jq -r .rows.in "$report")
    cpu=$(jq -r '.stages[0].cpu_seconds // "-"' "$report")
    if [ "$r" = 1 ]; then
      echo "$case: rows in $rows_in, released $(jq -c '[.stages[0].findings.fields // {} | to_entries[] | {(.key): .value.groups_released}] | add // "-"' "$report")," \
        "thresholds $(jq -c '[.stages[0].findings.info.releases // [] | .[] | .threshold] ' "$report")" >&2
    fi
    runs+=("$secs $cpu")
    if ((kb > rss)); then rss=$kb; fi
  done
  read -r secs cpu < <(printf '%s\n' "${runs[@]}" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')
  echo "$case $secs" >> "$WORK/results"
  ROWS_OUT+=("$case $secs $cpu $rss $rows_in")
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for c in passthrough dp-private dp-public dp-spill; do
  measure "$c"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

BASE=$(awk '$1 == "passthrough" { print $2 }' "$WORK/results")
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git status --porcelain -- src 2>/dev/null)" ]; then REV="$REV + uncommitted changes in src/"; fi
echo
echo "dp_release benchmark: $ROWS-row orders table ($(awk -v b="$IN_BYTES" 'BEGIN { printf "%.1f MB", b / 1e6 }') zstd Parquet), --threads $THREADS on $(nproc) cores, median of $RUNS run(s), build $REV"
echo "load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER (the runs themselves add about 1.3)"
echo
echo "| case         | rows       | wall s | rows/s (M) | stage CPU s | peak RSS MiB | stage alone, rows/s (M) |"
echo "|--------------|------------|--------|------------|-------------|--------------|-------------------------|"
for row in "${ROWS_OUT[@]}"; do
  read -r c s cpu kb n <<< "$row"
  awk -v c="$c" -v s="$s" -v cpu="$cpu" -v kb="$kb" -v n="$n" -v base="$BASE" 'BEGIN {
    if (s < 0.01) s = 0.01
    alone = (c == "passthrough" || s - base < 0.01) ? "-" : sprintf("%.2f", n / (s - base) / 1e6)
    cpus = (cpu == "-") ? "-" : sprintf("%.1f", cpu)
    printf "| %-12s | %10d | %6.2f | %10.2f | %11s | %12.0f | %23s |\n", c, n, s, n / s / 1e6, cpus, kb / 1024, alone }'
done
echo
awk -v n="$ROWS" '{ w[$1] = $2 } END {
  t = 5e6
  # dp-spill trades speed for memory: the target is for the in-memory cases.
  for (c in w) if (c != "dp-spill" && n / w[c] < t) below = below " " c
  if (below != "") printf "below the 5 M rows/s target:%s\n", below
  else print "all cases meet the 5 M rows/s target"
}' "$WORK/results"
