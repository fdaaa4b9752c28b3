#!/usr/bin/env bash
# Supply-chain checks (README "Supply chain").
#   deps  cargo deny (deny.toml: licenses, bans with duplicate versions, sources) on the whole
#         graph, then on each feature set on its target; npm audit --omit=dev of package.json.
#   pack  the npm package in pkg/ (scripts/build-pkg.sh first): npm audit of its dependencies,
#         if it declares any, and `npm pack --dry-run` lists exactly the expected files.
# Without an argument: both. Advisories (RustSec) are not checked here: see README.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# npm audit fails at this severity or above; lower ones are printed only.
AUDIT_LEVEL=moderate

say() { printf '%s\n' "$*"; }

deny_rust() {
  say "cargo deny: whole graph (all features; x86_64-unknown-linux-gnu and wasm32-unknown-unknown, dev-dependencies included)"
  cargo deny --locked --all-features check --deny warnings bans licenses sources
  # Each set separately, on its own target. A license or skip of deny.toml that only another set
  # needs is not a finding here; everything else still fails.
  local set features target
  for set in "default::" "browser:browser,small-alloc:wasm32-unknown-unknown" "edge:edge:wasm32-unknown-unknown"; do
    IFS=: read -r _ features target <<<"$set"
    say "cargo deny: feature set ${set%%:*}${features:+ (--features $features)}${target:+ on $target}"
    cargo deny --locked ${features:+--features "$features"} ${target:+--target "$target"} \
      check --deny warnings --allow unmatched-skip --allow license-not-encountered \
      bans licenses sources
  done
}

# npm_audit DIR LABEL: `npm audit --omit=dev` in DIR (which has a package-lock.json). Prints one
# skip line if the audit endpoint does not answer; fails on a vulnerability at AUDIT_LEVEL or above.
npm_audit() {
  local dir=$1 label=$2 json
  json=$(cd "$dir" && npm audit --omit=dev --json 2>/dev/null) || true
  AUDIT_JSON=$json node - "$label" "$AUDIT_LEVEL" <<'EOF'
const [label, level] = process.argv.slice(2);
const order = ["info", "low", "moderate", "high", "critical"];
let r;
try { r = JSON.parse(process.env.AUDIT_JSON); } catch { r = null; }
const counts = r && r.metadata && r.metadata.vulnerabilities;
if (!counts) {
  const why = (r && (r.message || (r.error && (r.error.summary || r.error.code)))) || "no JSON answer";
  console.log(`SKIP npm audit --omit=dev (${label}): the audit endpoint did not answer (${why})`);
  process.exit(0);
}
const summary = order.map((s) => `${s} ${counts[s] || 0}`).join(", ");
const bad = Object.values(r.vulnerabilities || {})
  .filter((v) => order.indexOf(v.severity) >= order.indexOf(level));
console.log(`npm audit --omit=dev (${label}): ${summary}`);
if (bad.length) {
  for (const v of bad) console.log(`  ${v.severity}: ${v.name} ${v.range || ""}`);
  console.log(`FAIL: ${bad.length} package(s) with vulnerabilities at ${level} or above`);
  process.exit(1);
}
EOF
}

deps_count() { node -e 'const p = require(require("path").resolve(process.argv[1]));
  console.log(["dependencies", "optionalDependencies", "peerDependencies"]
    .reduce((n, k) => n + Object.keys(p[k] || {}).length, 0));' "$1"; }

audit_npm_root() {
  # Without production dependencies npm answers from the lockfile alone (no request is made).
  say "package.json: $(deps_count package.json) production dependencies"
  npm_audit . "package.json"
}

audit_npm_pkg() {
  local n
  n=$(deps_count pkg/package.json)
  if [ "$n" = 0 ]; then
    say "pkg/package.json declares no dependencies: nothing for npm audit"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  cp pkg/package.json "$tmp/"
  (cd "$tmp" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error)
  npm_audit "$tmp" "pkg/package.json, $n dependencies"
  rm -rf "$tmp"
}

# check_pack DIR: `npm pack --dry-run` in DIR lists exactly the expected files, and every file the
# package refers to (package.json entry points, relative imports of the shipped JS) is in it.
check_pack() {
  local dir=$1 json
  json=$(cd "$dir" && npm pack --dry-run --json --ignore-scripts 2>/dev/null)
  PACK_JSON=$json node - "$dir" <<'EOF'
const fs = require("fs"), path = require("path");
const dir = process.argv[2];
const packed = JSON.parse(process.env.PACK_JSON)[0].files.map((f) => f.path).sort();
// What the package needs, and nothing else: index.js is the entry, wasm-bindgen's glue and
// src/browser/glue.js bundled into one module by scripts/build-pkg.sh.
const expected = [
  ["README.md"], ["package.json"],
  ["index.js", "the entry"], ["index.d.ts", "the types"],
  ["ferrotel_bg.wasm", "the module"],
];
const errors = [];
const matches = (e, f) => (typeof e === "string" ? e === f : e.test(f));
for (const [e, what] of expected) {
  const n = packed.filter((f) => matches(e, f)).length;
  if (n !== 1) errors.push(`missing: ${e}${what ? ` (${what})` : ""}${n ? ` (${n} files match)` : ""}`);
}
for (const f of packed) if (!expected.some(([e]) => matches(e, f))) errors.push(`extra: ${f}`);
// Everything referred to must ship.
const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
const refs = [pkg.main, pkg.module, pkg.types];
const walk = (x) => (typeof x === "string" ? refs.push(x) : x && Object.values(x).forEach(walk));
walk(pkg.exports);
for (const f of packed.filter((f) => f.endsWith(".js"))) {
  const src = fs.readFileSync(path.join(dir, f), "utf8");
  for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    refs.push(path.posix.join(path.posix.dirname(f), m[1]));
  }
}
for (const r of refs.filter(Boolean)) {
  const p = path.posix.normalize(r);
  if (!packed.includes(p)) errors.push(`referred to but not packed: ${p}`);
}
if (errors.length) {
  console.log(`npm pack (${dir}): ${packed.length} files\n  ${errors.join("\n  ")}`);
  process.exit(1);
}
const size = JSON.parse(process.env.PACK_JSON)[0];
console.log(`npm pack (${dir}): exactly the ${packed.length} expected files, ${size.size} B packed, ${size.unpackedSize} B unpacked`);
EOF
}

pack() {
  [ -f pkg/package.json ] || { say "pkg/ is not built: run scripts/build-pkg.sh first"; exit 1; }
  audit_npm_pkg
  check_pack pkg
  # The check must catch what it is for: a copy with one stray file and one file missing fails.
  local tmp
  tmp=$(mktemp -d)
  cp -r pkg/. "$tmp/"
  printf 'stray\n' > "$tmp/LICENSE.debug" # npm packs LICENSE* whatever "files" lists
  rm "$tmp/index.d.ts"
  if check_pack "$tmp" > "$tmp.out"; then
    cat "$tmp.out"; rm -rf "$tmp" "$tmp.out"
    say "FAIL: the pack check accepted a package with a stray file and without index.d.ts"; exit 1
  fi
  grep -q "extra: LICENSE.debug" "$tmp.out" && grep -q "missing: index.d.ts" "$tmp.out" \
    && grep -q "referred to but not packed: index.d.ts" "$tmp.out" \
    || { cat "$tmp.out"; rm -rf "$tmp" "$tmp.out"; say "FAIL: the pack check did not name the stray and the missing file"; exit 1; }
  rm -rf "$tmp" "$tmp.out"
  say "npm pack check: a copy with a stray file and without index.d.ts is refused (checked)"
}

case "${1:-all}" in
  deps) deny_rust; audit_npm_root ;;
  pack) pack ;;
  all) deny_rust; audit_npm_root; pack ;;
  *) say "usage: $0 [deps|pack]"; exit 2 ;;
esac
