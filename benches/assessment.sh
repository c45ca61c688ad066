#!/usr/bin/env bash
# Cost of the customs declaration on a large orders table: the cross-border assessment
# (subject fingerprints and the PII scan of every text field as read, for field grading)
# and k-anonymity / l-diversity of the exported rows.
#
#   benches/assessment.sh [ROWS]          ROWS defaults to 2000000
#
# The table comes from `gen_corpus orders --rows ROWS` and is kept at
# $HOME/.cache/datacustoms-bench/orders-ROWS.parquet (override with DATACUSTOMS_BENCH_DIR).
# Cases (RUNS runs each, default 3; median wall time, largest peak RSS; --threads 2, -q;
# every case writes all rows as zstd Parquet):
#   copy         no stage: read and write
#   assessment   [assessment] subject_columns = ["user_id"] (the PII scan of every text
#                field runs for grading and sensitive subjects), no quasi-identifiers
#   k-anonymity  the same plus quasi_identifiers = ["province", "city", "category"] and
#                sensitive_attribute = "amount"
# The last column is the extra wall time over `copy` per million rows.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-2000000}
NAME=assess
. benches/orders_table.sh
"$BIN" keys init --keyring "$WORK/keyring.json" > /dev/null 2>&1

OUTPUT_EXTRA='format = "parquet"'
ASSESS='[assessment]
subject_columns = ["user_id"]
year_ledger = "'"$WORK"'/year.sqlite"'
pipeline copy ""
pipeline assessment "$ASSESS"
pipeline k-anonymity "$ASSESS
quasi_identifiers = [\"province\", \"city\", \"category\"]
sensitive_attribute = \"amount\""

declare -A WALL RSS
for c in copy assessment k-anonymity; do
  times=()
  rss=0
  for r in $(seq "$RUNS"); do
    rm -rf "$WORK/out" "$WORK/year.sqlite"
    sync
    /usr/bin/time -v -o "$WORK/time" "$BIN" run "$WORK/$c.toml" -q --threads "$THREADS" \
      --keyring "file:$WORK/keyring.json" --quarantine-dir "$WORK/q"
    times+=("$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$WORK/time")")
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time")
    if ((kb > rss)); then rss=$kb; fi
    if [ "$r" = 1 ] && [ "$c" = k-anonymity ]; then
      jq -c '.assessment.k_anonymity | {records, classes, k, l}' "$WORK/out/report.json" >&2
    fi
  done
  WALL[$c]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  RSS[$c]=$rss
done

echo
echo "assessment benchmark: $ROWS-row orders table, --threads $THREADS on $(nproc) cores, median of $RUNS, build $(git rev-parse --short HEAD)"
echo
echo "| case        | wall s | rows/s (M) | peak RSS MiB | extra s per M rows over copy |"
echo "|-------------|--------|------------|--------------|------------------------------|"
for c in copy assessment k-anonymity; do
  awk -v c="$c" -v s="${WALL[$c]}" -v kb="${RSS[$c]}" -v n="$ROWS" -v base="${WALL[copy]}" 'BEGIN {
    extra = (c == "copy") ? "-" : sprintf("%.3f", (s - base) / (n / 1e6))
    printf "| %-11s | %6.2f | %10.2f | %12.0f | %28s |\n", c, s, n / s / 1e6, kb / 1024, extra }'
done
