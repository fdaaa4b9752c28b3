#!/usr/bin/env bash
# The demo, end to end: builds the npm package, serves the demo shop (www/) that imports it,
# collects its beacons and shows them on the dashboard.
#   bash scripts/demo.sh          serve on 127.0.0.1:8080 until Ctrl-C
#   bash scripts/demo.sh --smoke  drive the shop in headless Chromium, print the dashboard, exit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-pkg.sh
if [ "${1:-}" = "--smoke" ]; then
  exec node scripts/demo-smoke.mjs
fi
exec node scripts/demo-server.mjs "${PORT:-8080}"
