#!/usr/bin/env bash
# Wall time of `devops-agent ports` on the demo project (target: under 20 ms).
# Uses hyperfine (Debian package `hyperfine`) on the release binary; prints the median.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cargo build --release --quiet
out=$(mktemp)
hyperfine --shell=none --warmup 10 --runs 200 --export-json "$out" \
  './target/release/devops-agent ports --project fixtures/demo'
python3 - "$out" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = sorted(x * 1000 for x in r["times"])
median = statistics.median(t)
p95 = t[int(len(t) * 0.95) - 1]
print(f"devops-agent ports (demo): median {median:.1f} ms, p95 {p95:.1f} ms, max {t[-1]:.1f} ms over {len(t)} runs")
sys.exit(0 if median < 20 else 1)
PY
