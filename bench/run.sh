#!/usr/bin/env bash
# Runs the ferrotel benchmarks: bash bench/run.sh [pkgDir]   (pkgDir defaults to `pkg`)
# Prints the report and also writes it to bench/out/report.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
{
  node bench/click.mjs "$@" || { echo "bench: click.mjs failed" >&2; exit 1; }
  echo
  node bench/init.mjs "$@" || { echo "bench: init.mjs failed" >&2; exit 1; }
} 2>&1 | tee bench/out/report.txt
exit "${PIPESTATUS[0]}"
