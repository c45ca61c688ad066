#!/usr/bin/env bash
# Renders an export's report.html in headless Chromium to a PNG and fails if the browser
# reports an error or the image is empty: the browser check of the customs declaration.
# Not part of `cargo test` (it needs a browser): install Debian's `chromium` first.
#
#   scripts/render-report.sh EXPORT_DIR [OUT.png]
set -euo pipefail
export_dir=${1:?usage: scripts/render-report.sh EXPORT_DIR [OUT.png]}
out=${2:-$export_dir/../report.png}
page=$(realpath "$export_dir/report.html")
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium not found: apt-get install chromium" >&2
  exit 2
fi
log=$(mktemp)
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1000,2400 --screenshot="$out" "file://$page" 2> "$log" || {
  cat "$log" >&2
  exit 1
}
if grep -qiE "uncaught|failed to load|net::ERR" "$log"; then
  cat "$log" >&2
  exit 1
fi
test -s "$out" || { echo "no image written" >&2; exit 1; }
echo "rendered $page to $out ($(stat -c %s "$out") bytes)"
