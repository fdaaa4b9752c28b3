#!/usr/bin/env bash
# Runs every test: static checks (rustfmt, clippy on the native, browser and edge builds), the
# native core, the browser SDK in headless Chromium, Firefox and WebKit, the npm package build
# (with its size report), the Worker build, the end-to-end tests and the Worker's tests in workerd,
# and the fuzz targets for 60 s each.
# Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_TEST_TIMEOUT=120

step() { printf '\n==== %s\n' "$*"; }

step "static checks: cargo fmt --check; cargo clippy -D warnings (native, browser, browser tests, edge, fuzz targets)"
cargo fmt --check
cargo fmt --check --manifest-path fuzz/Cargo.toml
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features browser,small-alloc -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features browser,small-alloc --tests -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features edge -- -D warnings

step "core (native): cargo test"
cargo test --quiet

step "browser SDK (tests/web.rs, the shipped allocator included) in headless Chromium, Firefox and WebKit"
bash scripts/test-browsers.sh all

step "npm package build and size"
bash scripts/build-pkg.sh

step "ingest Worker build (worker-build, feature edge)"
bash scripts/build-worker.sh

step "end to end (built package in Chromium) and the Worker in workerd (Miniflare, local Queues/D1)"
node --test tests/e2e/ worker/test/

step "fuzzing: scripts/fuzz.sh 60 (cargo fuzz: envelope, stack, scrub, ingest; 60 s each)"
bash scripts/fuzz.sh "${FERROTEL_FUZZ_SECONDS:-60}"
