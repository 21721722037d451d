#!/usr/bin/env bash
# Build the wasm module and run both wasm test suites:
#   1. Node (node --test): wasm loaded in Node, cross-checked against the native `bri` CLI;
#   2. headless Chromium (Debian /usr/bin/chromium via playwright-core): the inspector page.
# Needs: wasm32-unknown-unknown target, wasm-bindgen-cli 0.2.130, Node >= 20, Debian chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== wasm: build module and JS glue"
wasm/build.sh

echo "== wasm: native bri CLI for the cross-check"
cargo build --locked -p bri-cli --bin bri

if [ ! -d wasm/node_modules/playwright-core ]; then
  echo "== wasm: npm ci (playwright-core; no browser download)"
  (cd wasm && npm ci --no-audit --no-fund)
fi

echo "== wasm: Node cross-check (wasm vs native CLI)"
node --test --test-concurrency=1 wasm/tests/crosscheck.test.mjs

echo "== wasm: headless Chromium inspector test"
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "chromium not found at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium" >&2
  exit 1
fi
node --test --test-concurrency=1 wasm/tests/browser.test.mjs
echo "screenshots: wasm/test-output/inspector.png, wasm/test-output/inspector-damaged.png"
