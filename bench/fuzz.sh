#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets) for SECONDS_EACH (default
# 600) on nightly, one after another, optimized and with debug assertions
# (an arithmetic overflow is a finding), and prints the executions and findings
# of each. Crashes land in fuzz/artifacts/<target>/; copy a crash into the
# target's regression test before fixing it.
#
#   bench/fuzz.sh                 every target, 10 minutes each
#   SECONDS_EACH=20 bench/fuzz.sh every target briefly (as CI does)
#   bench/fuzz.sh radius_request  one target
#
# Needs: rustup's nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${SECONDS_EACH:-600}
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(radius_request license_key application_key_file push_messages config)
fi
command -v cargo-fuzz >/dev/null || { echo "bench/fuzz.sh needs cargo-fuzz (cargo install cargo-fuzz)" >&2; exit 2; }

cargo +nightly fuzz build -O -a
status=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  if cargo +nightly fuzz run -O -a "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    result="no finding"
  else
    result="FINDING (see fuzz/artifacts/$target/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  printf '%-22s %12s executions in %ss: %s\n' "$target" "${runs:-?}" "$SECONDS_EACH" "$result"
  if [ "$status" -ne 0 ]; then grep -E 'panicked|ERROR|SUMMARY' "$log" | head -5; fi
  rm -f "$log"
done
exit "$status"
