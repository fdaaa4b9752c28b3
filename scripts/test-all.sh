#!/usr/bin/env bash
# Runs every test: the native core, the browser SDK in headless Chromium, the npm package build
# (with its size report), the Worker build, the end-to-end tests and the Worker's tests in workerd. Expects scripts/setup.sh to have run.
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

step "ingest Worker build (worker-build, feature edge)"
bash scripts/build-worker.sh

step "end to end (built package in Chromium) and the Worker in workerd (Miniflare, local Queues/D1)"
node --test tests/e2e/ worker/test/
