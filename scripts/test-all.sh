#!/usr/bin/env bash
# Every test of every crate and host in the repository. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== formatting"
cargo fmt --all -- --check

echo "== core builds for wasm32-unknown-unknown (sans-IO, no C)"
cargo build --locked -p bri-core --no-default-features --target wasm32-unknown-unknown
cargo build --locked -p bri-wasm --target wasm32-unknown-unknown

echo "== Rust tests (all workspace crates)"
cargo test --locked --workspace --no-fail-fast

echo "== wasm inspector: Node cross-check (wasm vs native CLI) + headless Chromium"
wasm/test.sh
