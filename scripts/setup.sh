#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need on a fresh machine of this kind,
# skipping whatever is already present. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the `=` pin in Cargo.toml
WORKER_BUILD_VERSION=0.8.7
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n== setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "apt-get install chromium chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# `X --version` prints "name 1.2.3" for some tools and "1.2.3" for others: compare the last word.
version_of() { "$1" --version 2>/dev/null | head -n1 | awk '{print $NF}'; }

if [ "$(version_of wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the registry mirror lacks one of its locked dependencies.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! command -v wasm-pack >/dev/null; then
  log "cargo install wasm-pack"
  cargo install -q --locked wasm-pack
fi

if [ "${FERROTEL_SKIP_WORKER_BUILD:-}" != 1 ] && \
   [ "$(version_of worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  log "cargo install worker-build $WORKER_BUILD_VERSION"
  cargo install -q --locked worker-build --version "$WORKER_BUILD_VERSION" --force
fi

if ! npm ls --depth=0 >/dev/null 2>&1; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
log "done"
