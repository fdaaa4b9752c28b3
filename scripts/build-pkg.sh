#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (--target web, so one build serves bundlers such
# as Vite and a plain <script type="module">), wasm-opt -Oz --strip-debug --strip-producers from npm binaryen, the templates in
# pkg-templates/, then prints the shipped size.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
rm -rf pkg
wasm-pack build --target web --release --no-pack --out-dir pkg --out-name ferrotel -- --features browser,small-alloc
rm -f pkg/.gitignore pkg/ferrotel.d.ts pkg/ferrotel_bg.wasm.d.ts
# Rust's wasm32 target emits these post-MVP features by default; wasm-opt must be told.
# --low-memory-unused: Rust's wasm32 layout never touches the first 1 KB (the stack grows down
# from 1 MB towards it, data and heap are above), so constant offsets fold into loads and stores.
# --one-caller-inline-max-function-size 150: functions called once stay functions when larger
# (-Oz inlines them all); measured ~300 B smaller after brotli for any limit from 60 to 150
# (on the current code: 60: 28,715 B, 100: 28,708, 150: 28,686 in total).
wasm-opt -Oz --low-memory-unused --one-caller-inline-max-function-size 150 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/ferrotel_bg.wasm -o pkg/ferrotel_bg.wasm
cp pkg-templates/index.js pkg-templates/index.d.ts pkg-templates/README.md pkg/
sed "s/{{VERSION}}/$version/" pkg-templates/package.json > pkg/package.json
node scripts/size-report.mjs pkg
