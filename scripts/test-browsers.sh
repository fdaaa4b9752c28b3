#!/usr/bin/env bash
# Runs the browser SDK's tests (tests/web.rs) in headless Chromium, Firefox and WebKit.
#
#   bash scripts/test-browsers.sh [chrome|firefox|webkit|all]...      (default: all)
#
# The test wasm is built once (`cargo test --no-run`, the same build `wasm-pack test` makes) and
# every engine runs that one file through wasm-bindgen-test-runner, which picks its WebDriver from
# the environment: CHROMEDRIVER (chromium-driver), GECKODRIVER (geckodriver from crates.io, for
# Debian's firefox-esr), SAFARIDRIVER (WebKitGTK's WebKitWebDriver, which drives MiniBrowser; it
# needs a display, so it runs under xvfb-run). Each run must report the engine it was asked for
# (tests/support/engine.rs prints it), so a misconfigured driver cannot quietly test one engine
# three times. Tests that legitimately differ between engines decide inside the page with
# tests/support/engine.rs (`supports_entry_type`, `engine`). Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"

engines=()
for a in "${@:-all}"; do
  case "$a" in
    all) engines+=(chrome firefox webkit) ;;
    chrome|firefox|webkit) engines+=("$a") ;;
    *) echo "usage: $0 [chrome|firefox|webkit|all]..." >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null || { echo "test-browsers: $1 not found (run scripts/setup.sh)" >&2; exit 1; }; }
need wasm-bindgen-test-runner

t0=$(date +%s)
echo "== building the browser test wasm once (features browser,small-alloc)"
wasm=$(cargo test --no-run --target wasm32-unknown-unknown --features browser,small-alloc \
         --test web --message-format=json-render-diagnostics \
       | sed -n 's/.*"executable":"\([^"]*\.wasm\)".*/\1/p' | tail -n1)
[ -f "$wasm" ] || { echo "test-browsers: no test wasm built" >&2; exit 1; }
echo "   $wasm ($(( $(date +%s) - t0 )) s)"

# wasm-bindgen-test-runner takes the first driver variable it finds (GECKODRIVER before
# SAFARIDRIVER before CHROMEDRIVER), then the first driver on PATH (~/.cargo/bin/geckodriver
# before /usr/bin/chromedriver): clear them all and set exactly one per engine.
clean_env=(-u CHROMEDRIVER -u GECKODRIVER -u SAFARIDRIVER -u MSEDGEDRIVER
           -u CHROMEDRIVER_REMOTE -u GECKODRIVER_REMOTE -u SAFARIDRIVER_REMOTE -u MSEDGEDRIVER_REMOTE
           -u CHROMEDRIVER_ARGS -u GECKODRIVER_ARGS -u SAFARIDRIVER_ARGS
           -u WASM_BINDGEN_TEST_WEBDRIVER_JSON -u NO_HEADLESS)
webdriver_json=target/webdriver-webkit.json

declare -A took status
failed=0
for engine in "${engines[@]}"; do
  case "$engine" in
    chrome)
      need chromium; need chromedriver
      cmd=(env "${clean_env[@]}" CHROMEDRIVER="$(command -v chromedriver)"
           wasm-bindgen-test-runner "$wasm" --nocapture) ;;
    firefox)
      need firefox-esr; need geckodriver
      cmd=(env "${clean_env[@]}" GECKODRIVER="$(command -v geckodriver)"
           wasm-bindgen-test-runner "$wasm" --nocapture) ;;
    webkit)
      need WebKitWebDriver; need xvfb-run
      minibrowser=$(dpkg -L libwebkit2gtk-4.1-0 2>/dev/null | grep '/MiniBrowser$' | head -n1 || true)
      [ -x "$minibrowser" ] || { echo "test-browsers: MiniBrowser not found in libwebkit2gtk-4.1-0" >&2; exit 1; }
      # The browser WebKitWebDriver starts. (wasm-bindgen-test-runner 0.2.130 sends Safari-type
      # drivers no capabilities, so today WebKitWebDriver's built-in default, this same
      # MiniBrowser, is what runs; the file pins it should the runner start passing them.)
      printf '{"webkitgtk:browserOptions":{"binary":"%s","args":["--automation"]}}\n' \
        "$minibrowser" > "$webdriver_json"
      cmd=(env "${clean_env[@]}" SAFARIDRIVER="$(command -v WebKitWebDriver)"
           WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/$webdriver_json"
           xvfb-run -a -s "-screen 0 1280x1024x24"
           wasm-bindgen-test-runner "$wasm" --nocapture) ;;
  esac
  echo
  echo "== tests/web.rs in $engine"
  log=$(mktemp)
  start=$(date +%s)
  set +e
  "${cmd[@]}" 2>&1 | grep -v '^Invoking test: ' | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  took[$engine]=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ] && ! grep -q "^ferrotel-test-engine: $engine " "$log"; then
    echo "test-browsers: the $engine run did not report running in $engine:" >&2
    grep '^ferrotel-test-engine:' "$log" >&2 || echo "  (no engine line)" >&2
    rc=1
  fi
  rm -f "$log"
  status[$engine]=$([ "$rc" = 0 ] && echo ok || echo FAILED)
  [ "$rc" = 0 ] || failed=1
done

echo
printf '== browsers:'
for engine in "${engines[@]}"; do printf ' %s %s (%s s);' "$engine" "${status[$engine]}" "${took[$engine]}"; done
printf ' total %s s\n' "$(( $(date +%s) - t0 ))"
exit "$failed"
