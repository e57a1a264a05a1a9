#!/usr/bin/env bash
# Growth of `devops-agent ports` with the size of its input: a compose file with N services
# (N = 1k, 3k, 6k, 10k, each publishing its own `${SVC_N_PORT:-port}`), and one npm script
# with 5,000 `--port` flags. Prints a table of medians and the growth from each size to the
# next. Targets: 10k services under 2 s, 3k -> 6k growth at most 2.2x (linear would be 2.0x).
#
# Usage: bench/scaling_ports.sh [ROUNDS]   (default 5; a plain loop, no hyperfine needed)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
cargo build --release --quiet
agent="$PWD/target/release/devops-agent"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DEVOPS_AGENT_STATE_DIR="$work/state"

for n in 1000 3000 6000 10000; do
  mkdir -p "$work/compose-$n"
  python3 - "$n" > "$work/compose-$n/compose.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("services:")
for i in range(n):
    print(f"  svc{i}:\n    image: busybox\n    ports:\n      - \"${{SVC{i}_PORT:-{20000 + i}}}:80\"")
PY
done
mkdir -p "$work/flags"
python3 - > "$work/flags/package.json" <<'PY'
import json
flags = " ".join(f"--port {30000 + i}" for i in range(5000))
print(json.dumps({"name": "flags", "scripts": {"dev": f"serve {flags}"}}, indent=2))
PY

# Median wall time in ms of `devops-agent ports` on a project, checking it ran to a verdict.
median_ms() {
  python3 - "$agent" "$1" "$rounds" <<'PY'
import json, statistics, subprocess, sys, time
agent, project, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(rounds):
    t = time.perf_counter()
    out = subprocess.run([agent, "ports", "--project", project, "--format", "json"],
                         capture_output=True, text=True)
    times.append((time.perf_counter() - t) * 1000)
    report = json.loads(out.stdout)  # one JSON document, or this raises
    statuses = [c["status"] for g in report["gates"] for c in g["checks"]]
    if "error" in statuses or out.returncode not in (0, 1):
        sys.exit(f"{project}: exit {out.returncode}, statuses {statuses}")
print(f"{statistics.median(times):.1f}")
PY
}

echo "load: $(uptime)"
printf '| input | median ms | growth |\n|:--|--:|--:|\n'
prev=""; prev_n=""; fail=0; g36=""
for n in 1000 3000 6000 10000; do
  ms=$(median_ms "$work/compose-$n")
  growth="-"
  if [ -n "$prev" ]; then
    growth=$(python3 -c "print(f'{$ms / $prev:.2f}x ({$n / $prev_n:.2f}x input)')")
  fi
  [ "$n" = 6000 ] && g36=$(python3 -c "print($ms / $prev)")
  [ "$n" = 10000 ] && python3 -c "import sys; sys.exit(0 if $ms < 2000 else 1)" || [ "$n" != 10000 ] || fail=1
  printf '| %s compose services | %s | %s |\n' "$n" "$ms" "$growth"
  prev=$ms; prev_n=$n
done
printf '| 5,000 --port flags in one script | %s | - |\n' "$(median_ms "$work/flags")"
python3 -c "import sys; sys.exit(0 if $g36 <= 2.2 else 1)" || { echo "3k -> 6k growth $g36 > 2.2" >&2; fail=1; }
[ "$fail" = 0 ] || { echo "target missed" >&2; exit 1; }
