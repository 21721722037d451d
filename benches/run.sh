#!/usr/bin/env bash
# Builds the release binaries and runs the whole benchmark set of benches/:
#   1. wal-realism: zstd -3/-19 ratio of generated WAL vs the WAL BRI itself wrote;
#   2. bench-create: `bri archive create-files` (default, --redundancy 0, --no-verify) vs
#      `tar -cf - DIR | zstd -T0 -L` on generated BRI data directories (256 MiB at -3,
#      32 MiB at -19, 1 GiB at -3 with peak RSS).
# Results go to bench-out/ (gitignored): realism.md/.json, create.md/.json.
# Usage: benches/run.sh [extra bench-create args, e.g. --reps 5 or --scenario l3-256m]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-out
mkdir -p "$OUT"

command -v zstd >/dev/null || { echo "zstd CLI missing (apt-get install zstd)"; exit 1; }
if [ ! -x /usr/bin/time ]; then
  echo "/usr/bin/time missing: installing the Debian package 'time' for peak RSS"
  (apt-get install -y time >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y time >/dev/null)) \
    || echo "could not install time: peak RSS will not be reported"
fi

cargo build --release -p bri-cli -p bri-benches
# Benchmark a private copy so that a concurrent rebuild cannot swap the binary mid-run.
cp target/release/bri "$OUT/bri"

echo "== realism (generated WAL vs BRI-written fixtures)"
target/release/wal-realism | tee "$OUT/realism.md"
target/release/wal-realism --json > "$OUT/realism.json"

echo "== create: bri archive create-files vs tar | zstd -T0"
target/release/bench-create --bri "$OUT/bri" --work "$OUT" --json-out "$OUT/create.json" \
  --no-parity-variant --no-verify-variant "$@" \
  | tee "$OUT/create.md"
echo "(JSON: $OUT/create.json)"
