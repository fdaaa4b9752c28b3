#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need on a fresh machine of this kind,
# skipping whatever is already present. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the `=` pin in Cargo.toml
WORKER_BUILD_VERSION=0.8.7
GECKODRIVER_VERSION=0.37.1     # WebDriver for Debian's firefox-esr (scripts/test-browsers.sh)
CARGO_DENY_VERSION=0.20.2      # scripts/supply-chain.sh; newest on crates.io, builds on stable 1.95
CARGO_FUZZ_VERSION=0.13.2      # scripts/fuzz.sh (libFuzzer needs nightly Rust)
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n== setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# Nightly Rust: the fuzz targets (cargo fuzz) and the npm package, built with the machine's
# nightly (pinned in scripts/build-pkg.sh) and -Zbuild-std, which needs std's sources and the
# nightly wasm32 target.
if ! rustup toolchain list | grep -q '^nightly'; then
  log "rustup toolchain install nightly"
  rustup toolchain install nightly --profile minimal
fi
if rustup toolchain list | grep -q '^nightly'; then
  if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    log "rustup component add rust-src --toolchain nightly"
    rustup component add rust-src --toolchain nightly
  fi
  if ! rustup target list --toolchain nightly --installed | grep -qx wasm32-unknown-unknown; then
    log "rustup target add wasm32-unknown-unknown --toolchain nightly"
    rustup target add wasm32-unknown-unknown --toolchain nightly
  fi
fi

for c in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$c"; then
    log "rustup component add $c"
    rustup component add "$c"
  fi
done

apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
export DEBIAN_FRONTEND=noninteractive

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "apt-get install chromium chromium-driver"
  apt_update
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The other two engines of the browser tests: Firefox ESR, and WebKitGTK (WebKitWebDriver drives
# its MiniBrowser, from libwebkit2gtk-4.1-0) under Xvfb.
missing=()
for pair in firefox-esr:firefox-esr WebKitWebDriver:webkit2gtk-driver xvfb-run:xvfb xauth:xauth; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt_update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# `X --version` prints "name 1.2.3" for some tools and "1.2.3" for others: compare the last word.
version_of() { "$1" --version 2>/dev/null | head -n1 | awk '{print $NF}'; }

if [ "$(version_of wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the registry mirror lacks one of its locked dependencies.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(geckodriver --version 2>/dev/null | head -n1 | awk '{print $2}')" != "$GECKODRIVER_VERSION" ]; then
  log "cargo install geckodriver $GECKODRIVER_VERSION"
  cargo install -q --locked geckodriver --version "$GECKODRIVER_VERSION" --force
fi

if [ "$(version_of cargo-deny)" != "$CARGO_DENY_VERSION" ]; then
  log "cargo install cargo-deny $CARGO_DENY_VERSION"
  cargo install -q --locked cargo-deny --version "$CARGO_DENY_VERSION" --force
fi

if [ "$(version_of cargo-fuzz)" != "$CARGO_FUZZ_VERSION" ]; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --force
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
