#!/usr/bin/env bash
# The main job on a local default, no cloud account needed: build `bri`, archive the bundled
# example BRI data directory (real data written by BRI) into a local archive store, verify the
# archive, and restore the database as it was at a point in time into a new directory.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p bri-cli
bri=$PWD/target/release/bri
work=${1:-$(mktemp -d)}
mkdir -p "$work"
rm -rf "$work/data" "$work/restored"
cp -r examples/bri-basic "$work/data"
set -x
"$bri" archive create --data-dir "$work/data" --local-dir "$work/archives"
"$bri" archive list --data-dir "$work/data" --local-dir "$work/archives"
"$bri" archive verify "$work"/archives/arc_*.bri.zst
"$bri" restore to-timestamp 2024-02-05T21:59:10.042Z --data-dir "$work/data" \
  --local-dir "$work/archives" --target "$work/restored"
"$bri" db stats --data-dir "$work/data" | head -n 5
"$bri" db state --data-dir "$work/restored" | head -n 5
