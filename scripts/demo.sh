#!/usr/bin/env bash
# The demo, end to end: the built SDK in a demo shop → the local ingest Worker (wrangler dev:
# workerd with a local Queue and D1) → the embedded store → the dashboard.
#   bash scripts/demo.sh          serve on http://127.0.0.1:${PORT:-8787}/ until Ctrl-C
#   bash scripts/demo.sh --smoke  drive the shop in headless Chromium, print the dashboard, exit
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
bash scripts/build-pkg.sh
bash scripts/build-worker.sh
rm -rf www/pkg && cp -r pkg www/pkg   # served as static assets next to the shop
# The local secrets: wrangler dev reads worker/.dev.vars (git-ignored; wrangler.toml holds none).
# Written once with random values; FERROTEL_ENV=development marks local development.
DEV_VARS=worker/.dev.vars
if [ ! -f "$DEV_VARS" ]; then
  rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
  (umask 077 && printf 'IP_SALT = "%s"\nREAD_TOKEN = "%s"\nFERROTEL_ENV = "development"\n' "$(rand 32)" "$(rand 32)" > "$DEV_VARS")
  echo "ferrotel demo: wrote $DEV_VARS (random IP_SALT and READ_TOKEN)"
fi
wrangler d1 execute DB -c worker/wrangler.toml --local --persist-to worker/.wrangler/state \
  --file worker/schema.sql >/dev/null
# A local database from an earlier version: add the columns schema.sql's header lists (an
# existing column is refused, which is fine).
for col in "forwarded INTEGER NOT NULL DEFAULT 0" "claim TEXT" "claim_at INTEGER"; do
  wrangler d1 execute DB -c worker/wrangler.toml --local --persist-to worker/.wrangler/state \
    --command "ALTER TABLE events ADD COLUMN $col" >/dev/null 2>&1 || true
done
if [ "${1:-}" = "--smoke" ]; then
  exec node scripts/demo-smoke.mjs
fi
echo "ferrotel demo: shop http://127.0.0.1:${PORT:-8787}/   dashboard http://127.0.0.1:${PORT:-8787}/dashboard.html"
echo "ferrotel demo: the dashboard asks for the read token: READ_TOKEN in $PWD/$DEV_VARS"
exec wrangler dev -c worker/wrangler.toml --ip 127.0.0.1 --port "${PORT:-8787}" \
  --persist-to worker/.wrangler/state --show-interactive-dev-session=false
