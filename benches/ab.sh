#!/usr/bin/env bash
# Interleaved A/B timing of two (or more) builds of datacustoms on one pipeline: the way
# every speed change in this project is measured, since this machine is shared and its
# speed drifts by 10 % or more within an hour (a change is compared with the build
# before it in the same minutes, run after run, never with a figure from another hour).
#
#   benches/ab.sh PIPELINE.toml ROUNDS BIN_A BIN_B [BIN...]
#
# Each round runs every binary once, in the order given, `run PIPELINE --quiet
# --threads $THREADS (default 1) --overwrite`, each into its own export folder under a
# temporary work folder (with its own state folder, so no keyring or ledger of yours is
# touched). Dirty pages are synced before every run. Prints one line per run:
#
#   binary  wall_s  user_s  sys_s  cpu_s(user+sys)  peak_rss_mib  rows_out  stage_cpu_s...
#
# (the stages' `cpu_seconds` in pipeline order, then the residual scan's when the
# report has one)
#
# then per binary the median CPU-seconds and its ratio to the first binary's, and
# whether every binary's export has the same rows out. Copy the binaries somewhere
# stable first (cargo overwrites target/release/datacustoms on every build).
set -euo pipefail

if [ $# -lt 4 ]; then
  echo "usage: benches/ab.sh PIPELINE.toml ROUNDS BIN_A BIN_B [BIN...]" >&2
  exit 2
fi
PIPELINE=$1
ROUNDS=$2
shift 2
BINS=("$@")
THREADS=${THREADS:-1}
for b in "${BINS[@]}"; do
  [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
done
command -v jq > /dev/null || { echo "jq is needed (Debian package jq)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/datacustoms-ab.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The runs' keyring and ledgers in the work folder, never in the user's state folder.
export DATACUSTOMS_STATE_DIR="$WORK/state"

printf '%-24s %7s %7s %6s %7s %8s %10s  %s\n' binary wall_s user_s sys_s cpu_s rss_mib rows_out stage_cpu_s
for _ in $(seq "$ROUNDS"); do
  for i in "${!BINS[@]}"; do
    b=${BINS[$i]}
    out="$WORK/out-$i"
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
      "$b" run "$PIPELINE" --quiet --threads "$THREADS" --overwrite --output "$out" \
      --quarantine-dir "$WORK/q" > /dev/null 2> "$WORK/stderr" ||
      { echo "run of $b failed:" >&2; cat "$WORK/stderr" >&2; exit 1; }
    read -r wall user sys kb < <(tail -n 1 "$WORK/time")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    rows=$(jq -r '.rows.out' "$out/report.json")
    stages=$(jq -r '[(.stages[].cpu_seconds), (.residual.cpu_seconds // empty) | . * 100 | round / 100 | tostring] | join(" ")' "$out/report.json")
    printf '%-24s %7s %7s %6s %7s %8d %10s  %s\n' "$(basename "$b")#$i" "$wall" "$user" "$sys" "$cpu" $((kb / 1024)) "$rows" "$stages"
    echo "$i $cpu $rows" >> "$WORK/runs"
  done
done

echo
awk -v n="${#BINS[@]}" '
  { cpu[$1] = cpu[$1] " " $2; rows[$1] = rows[$1] " " $3 }
  END {
    for (i = 0; i < n; i++) {
      k = split(cpu[i], v, " ")
      for (a = 1; a <= k; a++) for (b = a + 1; b <= k; b++) if (v[b] < v[a]) { t = v[a]; v[a] = v[b]; v[b] = t }
      med[i] = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
      split(rows[i], r, " "); out[i] = r[1]
    }
    for (i = 0; i < n; i++)
      printf "binary #%d: median CPU-s %.2f, %.3f × binary #0%s\n", i, med[i], med[i] / med[0], (out[i] == out[0]) ? "" : ", DIFFERENT ROWS OUT"
  }' "$WORK/runs"
