#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for N seconds (default 60), one after
# another; prints per target the executions, their rate, the corpus size and any finding, and
# exits non-zero if any target found something.
#
#   bash scripts/fuzz.sh [seconds-per-target] [target ...]   # targets: envelope stack scrub ingest
#
# Each target's corpus lives in fuzz/corpus/<target>/ (git-ignored): seeded at every run from
# tests/corpus/ (the bad-input corpus) and fuzz/seeds/, and kept between runs so coverage grows.
# A finding is saved as fuzz/artifacts/<target>/crash-* (or timeout-*, oom-*) with the full log
# in fuzz/artifacts/<target>.log; replay it with
#   cargo +nightly fuzz run -s none <target> fuzz/artifacts/<target>/crash-…
# Needs nightly Rust and cargo-fuzz (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
root="$PWD"

secs="${1:-60}"
[ $# -gt 0 ] && shift
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target] [envelope|stack|scrub|ingest ...]" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envelope stack scrub ingest)

# Largest input worth trying: just over the 64 KB body limit for the two that take a request
# body (so the size refusal stays reachable), the 8 KB stack limit for the stack parser, and a
# long URL with its allow-list for the scrubber.
max_len() {
  case "$1" in
    envelope | ingest) echo 66000 ;;
    stack) echo 10000 ;;
    scrub) echo 4096 ;;
    *) echo "unknown fuzz target: $1 (envelope, stack, scrub, ingest)" >&2; return 1 ;;
  esac
}
# Committed seeds besides tests/corpus/: valid batches of every kind, real stack traces, URLs.
seeds_of() {
  case "$1" in
    envelope | ingest) echo fuzz/seeds/batch ;;
    *) echo "fuzz/seeds/$1" ;;
  esac
}
for t in "${targets[@]}"; do max_len "$t" >/dev/null; done

# The large corpus files are generated, not committed (as tests/corpus.rs does).
if command -v node >/dev/null; then
  node tests/corpus/generate.mjs >/dev/null
fi

echo "== fuzz: building the targets (cargo +nightly fuzz build -s none)"
# No sanitizer: the crate has no unsafe code, and without ASan the envelope target runs about
# four times as many inputs (18,000 against 4,200 per second, measured). Release code with debug
# assertions and overflow checks (cargo-fuzz's default).
build_log=$(mktemp)
if ! (cd fuzz && cargo +nightly fuzz build -s none) >"$build_log" 2>&1; then
  cat "$build_log" >&2
  exit 1
fi
rm -f "$build_log"

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$root/fuzz/corpus/$t"
  artifacts="$root/fuzz/artifacts/$t"
  log="$root/fuzz/artifacts/$t.log"
  mkdir -p "$corpus" "$artifacts"
  # Seeds are copied (never overwriting what the fuzzer found) rather than committed as its corpus.
  for f in tests/corpus/* "$(seeds_of "$t")"/*; do
    case "$f" in *.mjs | */manifest.json) continue ;; esac
    cp -n "$f" "$corpus/seed-$(basename "$f")"
  done
  echo "== fuzz: $t for ${secs}s ($(find "$corpus" -type f | wc -l) inputs in fuzz/corpus/$t)"
  rc=0
  (cd fuzz && cargo +nightly fuzz run -s none "$t" "$corpus" -- \
    -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1 || true)
  size=$(find "$corpus" -type f | wc -l)
  line="$t: ${execs:-?} executions, ${rate:-?} exec/s, corpus $size inputs, ${cov:-no coverage line}"
  found=$(sed -n 's/^.*Test unit written to //p' "$log" || true)
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    failed+=("$t")
    line="$line, FINDING (exit $rc): ${found:-see $log}"
    echo "$line"
    # The panic message and the input, without libFuzzer's banner.
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 40 || true
  else
    line="$line, no finding"
    echo "$line"
  fi
  summary+=("$line")
done

echo
echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
