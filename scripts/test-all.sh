#!/usr/bin/env bash
# Runs every test: static checks (rustfmt, clippy on the native, browser and edge builds), the
# supply chain (cargo deny, npm audit), the native core, the browser SDK in headless Chromium,
# Firefox and WebKit, the npm package build (with its size report and a check of what it ships),
# a smoke run of the side-by-side SDK benchmark (bench/compare/run.mjs --smoke), the Worker
# build, the end-to-end tests and the Worker's tests in workerd (the outage soak included), and
# the fuzz targets for 60 s each.
# Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_TEST_TIMEOUT=120

step() { printf '\n==== [%s, %ss in] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

step "static checks: cargo fmt --check; eslint (the shipped and Worker JavaScript); cargo clippy -D warnings (native, browser, browser tests, edge, fuzz targets)"
cargo fmt --check
cargo fmt --check --manifest-path fuzz/Cargo.toml
eslint src/browser/glue.js pkg-templates/index.js scripts/wasm-imports.mjs worker/entry.mjs www/dashboard.js www/charts.js www/stats.js scripts/upload-sourcemaps.mjs
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features browser,small-alloc -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features browser,small-alloc --tests -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --features edge -- -D warnings

step "supply chain: cargo deny (licenses, duplicate versions, sources; each feature set); npm audit --omit=dev"
bash scripts/supply-chain.sh deps

step "core (native): cargo test"
cargo test --quiet

step "browser SDK (tests/web.rs, the shipped allocator included) in headless Chromium, Firefox and WebKit"
bash scripts/test-browsers.sh all

step "npm package build and size; npm pack ships exactly the expected files"
bash scripts/build-pkg.sh
bash scripts/supply-chain.sh pack

step "compare benchmark, smoke: ferrotel and nine other browser SDKs load, init, send to a local sink and yield every measure"
node bench/compare/run.mjs --smoke

step "ingest Worker build (worker-build, feature edge)"
bash scripts/build-worker.sh

step "end to end (built package in Chromium) and the Worker in workerd (Miniflare, local Queues/D1)"
node --test tests/e2e/ worker/test/

step "fuzzing: scripts/fuzz.sh 60 (cargo fuzz: envelope, stack, scrub, ingest; 60 s each)"
bash scripts/fuzz.sh "${FERROTEL_FUZZ_SECONDS:-60}"
printf '\n==== every step passed in %s s\n' "$SECONDS"
