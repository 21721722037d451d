#!/usr/bin/env bash
# Build the wasm module and its JS/d.ts glue into wasm/www/pkg/ (gitignored; reproducible).
# Needs: rustup target wasm32-unknown-unknown, and
#   cargo install wasm-bindgen-cli --version 0.2.130   (same version as wasm/Cargo.toml pins)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
want="0.2.130"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen-cli $want is required (found: ${have:-none}); install it with:" >&2
  echo "  cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi
cargo build --locked -p bri-wasm --target wasm32-unknown-unknown --release
rm -rf wasm/www/pkg
wasm-bindgen --target web --out-dir wasm/www/pkg \
  "$TARGET_DIR/wasm32-unknown-unknown/release/bri_wasm.wasm"
echo "built wasm/www/pkg ($(du -h wasm/www/pkg/bri_wasm_bg.wasm | cut -f1))"
