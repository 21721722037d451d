#!/usr/bin/env bash
# The main job on a local default, no cloud account needed: build `bri`, archive the bundled
# example BRI data directory, inspect the archive, verify it, and extract it again.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p bri-cli
bri=target/release/bri
out=${1:-demo.bri.zst}
set -x
$bri archive create-files examples/bri-basic -o "$out" --level 19 --force
$bri archive inspect "$out"
$bri archive verify "$out"
dest=$(mktemp -d)
$bri archive extract "$out" --to "$dest"
diff -r examples/bri-basic "$dest" --exclude checksums.sha256
