#!/usr/bin/env bash
# Run the fuzz targets one after another, each for MINUTES, niced (the machine is shared).
#
# Usage: fuzz/run.sh [MINUTES] [TARGET...]     (default 10 minutes, every target)
#        PARALLEL=1 fuzz/run.sh 10             (every target at once, at nice 19)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Targets are built
# optimised with debug assertions and without a sanitizer: the crate is safe Rust, and what
# fuzzing looks for here is panics, stack overflows, hangs (-timeout) and runaway memory
# (-rss_limit_mb), which libFuzzer catches either way — at several times the speed.
# The growing corpus is kept in fuzz/corpus/TARGET (not committed), seeded from
# fuzz/seeds/TARGET. A crash is copied to fuzz/regressions/TARGET/, which `cargo test --lib
# fuzz::` replays; commit it with the fix. A summary line per target goes to stdout and to
# fuzz/results.log.
set -uo pipefail
cd "$(dirname "$0")"
minutes="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^devops-agent-fuzz$')
fi
command -v cargo-fuzz >/dev/null || { echo "needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
flags=(--release --debug-assertions --sanitizer none)
nice -n 10 cargo +nightly fuzz build "${flags[@]}" || exit 2
# One target: run it, then a summary line; returns non-zero on a finding.
run_target() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local log="artifacts/$t/last-run.log"
  local started begin rc secs execs crashes line
  started=$(date -u +%FT%TZ)
  begin=$(date +%s)
  nice -n "$nice" cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - begin ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    mkdir -p "regressions/$t"
    find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) -exec cp {} "regressions/$t/" \;
  fi
  line="$started $t: ${secs}s, ${execs:-?} inputs, exit $rc, $crashes finding(s), corpus $(find "corpus/$t" -type f | wc -l) files, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$line" | tee -a results.log
  [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]
}

status=0
if [ "${PARALLEL:-0}" = 1 ]; then
  # Every target at once, at the lowest priority: they only soak up the CPU that other work
  # leaves idle (the machine is shared). Each still runs MINUTES of wall time; the summary
  # line gives the inputs it got through.
  nice=19
  pids=()
  for t in "${targets[@]}"; do
    run_target "$t" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || status=1
  done
else
  nice=15
  for t in "${targets[@]}"; do
    run_target "$t" || status=1
  done
fi
exit $status
