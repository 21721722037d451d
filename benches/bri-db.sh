#!/usr/bin/env bash
# Issue 5's benchmark: archive and restore a generated BRI data directory.
#   benches/bri-db.sh [BYTES] [LEVEL]      (defaults: 268435456 bytes of WAL, level 19)
# Reports wall time and peak RSS (/usr/bin/time) of `bri archive create`, `bri restore latest`
# and `bri restore to-timestamp` (at the middle of the WAL's time range).
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-268435456}
LEVEL=${2:-19}
OUT=bench-out/bri-db
cargo build --release -p bri-cli -p bri-benches >/dev/null
mkdir -p "$OUT"
cp target/release/bri "$OUT/bri"
BRI=$OUT/bri
DATA=$OUT/data-$BYTES
if [ ! -f "$DATA.complete" ]; then
  rm -rf "$DATA"
  target/release/gen-wal --bytes "$BYTES" --out "$DATA" --seed 1 >/dev/null
  touch "$DATA.complete"
fi
rm -rf "$OUT/store" "$OUT/latest" "$OUT/at"
cat "$DATA"/wal/* > /dev/null
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > /dev/null
  read -r secs kb < "$OUT/time.txt"
  printf '| %s | %s | %.1f |\n' "$name" "$secs" "$(echo "$kb / 1024" | bc -l)"
}
echo "input: $(du -sb "$DATA/wal" | cut -f1) bytes of WAL, level $LEVEL, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| step | wall s | peak RSS MiB |"
echo "|---|---:|---:|"
measure "archive create" "$BRI" archive create --data-dir "$DATA" --local-dir "$OUT/store" --level "$LEVEL" -q
measure "restore latest" "$BRI" restore latest --data-dir "$DATA" --local-dir "$OUT/store" --target "$OUT/latest" -q
range=$("$BRI" archive list --data-dir "$DATA" --local-dir "$OUT/store" --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["archives"][0]["bri"]; print((a["firstTimestamp"]+a["lastTimestamp"])//2)')
measure "restore to-timestamp (middle)" "$BRI" restore to-timestamp "$range" --data-dir "$DATA" --local-dir "$OUT/store" --target "$OUT/at" -q
