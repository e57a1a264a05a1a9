#!/usr/bin/env bash
# Growth of `devops-agent deps` with the number of declared dependencies: one manifest with N
# dependencies, for N = 1k, 3k, 6k, 10k, 100k, in four shapes:
#
#   npm-missing   package.json with N dependencies, an empty node_modules: N findings, each
#                 with its line (the quadratic case: a search from the top per dependency)
#   npm-installed the same with every package installed (N directories with a package.json);
#                 up to 10k, as 100k directories is a file-system benchmark, not ours
#   pip-missing   requirements.txt with N lines, an empty virtualenv: N findings
#   pyproject     pyproject.toml [project] dependencies with N entries, an empty virtualenv
#
# Each cell is the median wall time of RUNS runs (default 5) of the release binary, after the
# verdict was checked (exit 1, the findings counted). Prints a Markdown table with the growth
# ratios 3k→6k (linear: 2.0) and 10k→100k (linear: 10), and the load average. Targets: 100k in
# under 2 s, 3k→6k at most 2.2×. Exits 1 when a target is missed.
#
# Usage: bench/scaling.sh [RUNS]        (BENCH_DIR=/tmp/scaling keeps the generated trees)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
cargo build --release --quiet
agent="$PWD/target/release/devops-agent"
dir="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
sizes=(1000 3000 6000 10000 100000)

# Generate the projects (kept when BENCH_DIR is reused).
python3 - "$dir" "${sizes[@]}" <<'PY'
import json, os, subprocess, sys
root, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]
def venv(path):
    if not os.path.isdir(os.path.join(path, ".venv")):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.path.join(path, ".venv")], check=True)
for n in sizes:
    names = [f"pkg-{i:06d}" for i in range(n)]
    d = os.path.join(root, f"npm-missing-{n}")
    if not os.path.exists(os.path.join(d, "package.json")):
        os.makedirs(os.path.join(d, "node_modules"), exist_ok=True)
        json.dump({"name": "app", "version": "1.0.0", "dependencies": {p: "^1.0.0" for p in names}},
                  open(os.path.join(d, "package.json"), "w"), indent=2)
    if n <= 10000:
        d = os.path.join(root, f"npm-installed-{n}")
        if not os.path.exists(os.path.join(d, "package.json")):
            for p in names:
                os.makedirs(os.path.join(d, "node_modules", p), exist_ok=True)
                with open(os.path.join(d, "node_modules", p, "package.json"), "w") as f:
                    json.dump({"name": p, "version": "1.2.3"}, f)
            json.dump({"name": "app", "version": "1.0.0", "dependencies": {p: "^1.0.0" for p in names}},
                      open(os.path.join(d, "package.json"), "w"), indent=2)
    d = os.path.join(root, f"pip-missing-{n}")
    if not os.path.exists(os.path.join(d, "requirements.txt")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "requirements.txt"), "w") as f:
            f.write("".join(f"{p}>=1.0\n" for p in names))
    venv(d)
    d = os.path.join(root, f"pyproject-{n}")
    if not os.path.exists(os.path.join(d, "pyproject.toml")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "pyproject.toml"), "w") as f:
            f.write('[project]\nname = "app"\nversion = "1.0"\ndependencies = [\n')
            f.write("".join(f'  "{p}>=1.0",\n' for p in names))
            f.write("]\n")
    venv(d)
PY

# verdict DIR EXPECTED_EXIT EXPECTED_PROBLEMS: the run must say what the tree is.
verdict() {
  local out rc
  out=$(mktemp)
  set +e
  "$agent" deps --project "$1" >"$out" 2>/dev/null
  rc=$?
  set -e
  python3 - "$out" "$rc" "$2" "$3" "$1" <<'PY'
import json, sys
report, rc, want_rc, want, where = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
check = next(c for g in report["gates"] for c in g["checks"] if c["id"] == "deps.packages_installed")
problems = check["evidence"].get("problems_total", check["evidence"].get("total"))
if rc != want_rc:
    sys.exit(f"{where}: exit {rc}, expected {want_rc}: {check['message']}")
if want and str(want) not in check["message"]:
    sys.exit(f"{where}: expected {want} problems: {check['message']}")
if not want and check["status"] != "passed":
    sys.exit(f"{where}: expected every package installed: {check['message']}")
PY
  rm -f "$out"
}

# median_ms DIR: median wall time of $runs runs.
median_ms() {
  python3 - "$agent" "$1" "$runs" <<'PY'
import statistics, subprocess, sys, time
agent, project, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([agent, "deps", "--project", project], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(times):.0f}")
PY
}

declare -A ms
for shape in npm-missing npm-installed pip-missing pyproject; do
  for n in "${sizes[@]}"; do
    [ -d "$dir/$shape-$n" ] || continue
    case "$shape" in
      # Installed but never locked: packages_installed passes, lockfile_valid fails (exit 1).
      npm-installed) verdict "$dir/$shape-$n" 1 0 ;;
      *) verdict "$dir/$shape-$n" 1 "$n" ;;
    esac
    ms[$shape,$n]=$(median_ms "$dir/$shape-$n")
  done
done

status=0
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), median of $runs runs, release build"
echo
printf '| shape |'; for n in "${sizes[@]}"; do printf ' %s |' "$((n / 1000))k"; done; echo ' 3k→6k | 10k→100k |'
printf '|:--|'; for _ in "${sizes[@]}"; do printf -- '--:|'; done; echo '--:|--:|'
for shape in npm-missing npm-installed pip-missing pyproject; do
  printf '| `%s` |' "$shape"
  for n in "${sizes[@]}"; do
    if [ -n "${ms[$shape,$n]:-}" ]; then printf ' %s ms |' "${ms[$shape,$n]}"; else printf ' – |'; fi
  done
  r36=$(python3 -c "print(f'{${ms[$shape,6000]}/max(${ms[$shape,3000]},1):.2f}×')")
  if [ -n "${ms[$shape,100000]:-}" ]; then
    r10=$(python3 -c "print(f'{${ms[$shape,100000]}/max(${ms[$shape,10000]},1):.1f}×')")
    [ "${ms[$shape,100000]}" -lt 2000 ] || { echo "TARGET MISSED: $shape 100k took ${ms[$shape,100000]} ms" >&2; status=1; }
  else
    r10="–"
  fi
  python3 -c "import sys; sys.exit(0 if ${ms[$shape,6000]}/max(${ms[$shape,3000]},1) <= 2.2 else 1)" ||
    { echo "TARGET MISSED: $shape grew $r36 from 3k to 6k" >&2; status=1; }
  echo " $r36 | $r10 |"
done
exit $status
