#!/usr/bin/env bash
# Runs every ferrotel benchmark (builds first: bash scripts/build-pkg.sh && bash scripts/build-worker.sh):
#   bash bench/run.sh [pkgDir]      pkgDir defaults to `pkg`
# 1. browser: added main-thread time per click, and init cost, against baselines in the same run;
# 2. Worker: the Rust Worker (through worker/entry.mjs, as deployed) against a plain-JS Worker
#    doing the same work, in alternating rounds on local workerd;
# 3. the same request-path decisions natively (core::ingest::prepare), built for speed.
# Prints ratios, asserts nothing about time, and writes bench/out/report.txt and worker-report.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
{
  node bench/click.mjs "$@" || { echo "bench: click.mjs failed" >&2; exit 1; }
  echo
  node bench/init.mjs "$@" || { echo "bench: init.mjs failed" >&2; exit 1; }
  echo
  node bench/worker/bench.mjs --entry worker/entry.mjs || { echo "bench: worker/bench.mjs failed" >&2; exit 1; }
  echo
  node -e 'import("./bench/worker/common.mjs").then((m) => require("fs").writeFileSync("bench/out/body.json", m.benchBody()))'
  CARGO_PROFILE_RELEASE_OPT_LEVEL=3 cargo run -q --release --example prepare_cost -- bench/out/body.json 3000
} 2>&1 | tee bench/out/report.txt
exit "${PIPESTATUS[0]}"
