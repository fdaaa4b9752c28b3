#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (--target web, so one build serves bundlers such
# as Vite and a plain <script type="module">), wasm-opt -Oz --strip-debug --strip-producers from npm binaryen, the templates in
# pkg-templates/, then prints the shipped size.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

# The npm package is built with one pinned nightly: std rebuilt for size (-Zbuild-std) with
# panic=immediate-abort, so no panic machinery or core::fmt is linked (about 2 KB brotli less;
# README "Size"). An SDK panic then traps without a report; index.js keeps it from the page.
# Rust users of the crate build it with their own (stable) toolchain. Without the pinned nightly
# (or with FERROTEL_STABLE_PKG=1) the package is built on stable, and this says so. The package's
# module holds no JavaScript value (src/browser/js.rs), so the nightly build is without reference
# types: wasm-bindgen then emits no externref table and no code to set it up (148 B brotli less),
# and pkg-templates/index.js can instantiate the module itself (checked below). On stable the
# prebuilt std brings reference types, so wasm-bindgen's table and loader stay.
NIGHTLY_PIN="rustc 1.97.0-nightly (e50aa6fba 2026-05-19)"
build_std=()
if [ "${FERROTEL_STABLE_PKG:-}" != 1 ] && [ "$(rustc +nightly -V 2>/dev/null)" = "$NIGHTLY_PIN" ] \
  && rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
  && rustup target list --toolchain nightly --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "build-pkg: $NIGHTLY_PIN, -Zbuild-std=std,panic_abort, panic=immediate-abort"
  export RUSTUP_TOOLCHAIN=nightly
  export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Ctarget-feature=-reference-types"
  export CARGO_TARGET_DIR="$PWD/target/pkg-nightly"   # keeps the stable builds' cache intact
  build_std=(-Zbuild-std=std,panic_abort)
else
  echo "build-pkg: WARNING: the pinned nightly ($NIGHTLY_PIN, with rust-src and wasm32) is not here; building on stable (about 2 KB brotli larger)" >&2
fi
rm -rf pkg
wasm-pack build --target web --release --no-pack --out-dir pkg --out-name ferrotel -- --features browser,small-alloc "${build_std[@]}"
rm -f pkg/.gitignore pkg/ferrotel.d.ts pkg/ferrotel_bg.wasm.d.ts
# Rust's wasm32 target emits these post-MVP features by default; wasm-opt must be told.
# --low-memory-unused: Rust's wasm32 layout never touches the first 1 KB (the stack grows down
# from 1 MB towards it, data and heap are above), so constant offsets fold into loads and stores.
# --one-caller-inline-max-function-size 150: functions called once stay functions when larger
# (-Oz inlines them all); measured ~300 B smaller after brotli for any limit from 60 to 150
# (on the current code: 60: 28,715 B, 100: 28,708, 150: 28,686 in total).
# Then --gufa (whole-program type flow), --flatten --rereloop and -Oz again, --converge (repeat
# until nothing shrinks), and --strip-target-features (wasm-bindgen needed it; browsers do not):
# -324 B brotli together (23,525 -> 23,201 B of wasm), each alone 90-140 B.
wasm-opt -Oz --low-memory-unused --one-caller-inline-max-function-size 150 --gufa --flatten --rereloop -Oz --converge --strip-target-features --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/ferrotel_bg.wasm -o pkg/ferrotel_bg.wasm
# One JavaScript file: the entry and the page-side module (the snippet wasm-bindgen copies
# src/browser/glue.js to; plus wasm-bindgen's generated glue only where the check below fails)
# bundled by esbuild, names and layout kept (a user's bundler minifies) but syntax-minified
# (--minify-syntax): the bundle turns top-level `const`s into `var`s, which a user's minifier no
# longer inlines, so the dispatch codes are inlined here (79 B brotli less after minifying). A page loading the package without a bundler then fetches one module instead of
# three in a row before the wasm (bench/init.mjs). The wasm stays a separate file, found next to
# the module (import.meta.url) or at `wasmUrl`.
glue=$(cd pkg && ls snippets/ferrotel-*/src/browser/glue.js)
# index.js instantiates the module itself, with glue.js as its only import object, instead of
# through wasm-bindgen's generated ferrotel.js. That is the same thing only while the module
# imports nothing but glue.js functions and has no start-up export: checked here, on every build.
# Where it does not hold (a build on stable Rust, whose prebuilt std brings reference types and
# with them wasm-bindgen's externref table), index.js calls wasm-bindgen's `initSync` instead.
if node --input-type=module - "pkg/$glue" <<'CHECK'
import { readFileSync } from "node:fs";
const [glue] = process.argv.slice(2), name = "./" + glue.slice("pkg/".length);
const exported = new Set([...readFileSync(glue, "utf8").matchAll(/^export function (\w+)/gm)].map((m) => m[1]));
const m = new WebAssembly.Module(readFileSync("pkg/ferrotel_bg.wasm"));
const bad = WebAssembly.Module.imports(m).filter((i) => i.module !== name || !exported.has(i.name))
  .map((i) => `import ${i.module} ${i.name}`)
  .concat(WebAssembly.Module.exports(m).filter((e) => e.name.startsWith("__wbindgen")).map((e) => `export ${e.name}`));
if (bad.length) {
  console.error("build-pkg: the module needs more than glue.js, so index.js uses wasm-bindgen's initSync:\n  " + bad.join("\n  "));
  process.exit(1);
}
CHECK
then
  imports=$(node -e 'const m = new WebAssembly.Module(require("fs").readFileSync("pkg/ferrotel_bg.wasm"));
    console.log([...new Set(WebAssembly.Module.imports(m).map((i) => i.name))].join(", "))')
  sed "s#^import \* as glue from .*{{IMPORTS}}#import { $imports } from \"{{GLUE}}\"; const glue = { $imports };#;
       s#{{GLUE}}#./$glue#g; /{{BINDINGS}}/d; s# // {{OWN_LOADER}}##" pkg-templates/index.js > pkg/entry.js
  # The loader hands glue.js over as the import object's `g`: the imports get that short name.
  node scripts/wasm-imports.mjs pkg/ferrotel_bg.wasm g
else
  sed "s#{{GLUE}}#./$glue#g; s# // {{IMPORTS}}##; s#// {{BINDINGS}}#import { initSync } from \"./ferrotel.js\";#;
       s#W = .*// {{OWN_LOADER}}#W = initSync({ module: m });#" pkg-templates/index.js > pkg/entry.js
fi
grep -q '{{' pkg/entry.js && { echo "build-pkg: a template marker is left in index.js" >&2; exit 1; }
esbuild pkg/entry.js --bundle --minify-syntax --format=esm --log-level=warning --log-override:duplicate-object-key=silent --external:'*.wasm' \
  --legal-comments=none --outfile=pkg/index.js
[ -n "${FERROTEL_KEEP_GLUE:-}" ] || rm -rf pkg/entry.js pkg/ferrotel.js pkg/snippets
cp pkg-templates/index.d.ts pkg-templates/README.md pkg/
sed "s/{{VERSION}}/$version/" pkg-templates/package.json > pkg/package.json
node scripts/size-report.mjs pkg
