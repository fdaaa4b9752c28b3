#!/usr/bin/env bash
# Runs every test: the native core, the browser SDK in headless Chromium, the npm package build
# (with its size report) and the end-to-end tests. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_TEST_TIMEOUT=120

step() { printf '\n==== %s\n' "$*"; }

step "core (native): cargo test"
cargo test --quiet

step "browser SDK in headless Chromium (the shipped allocator included)"
wasm-pack test --headless --chrome -- --features browser,small-alloc --test web

step "npm package build and size"
bash scripts/build-pkg.sh

step "end to end (built package in Chromium)"
node --test tests/e2e/
