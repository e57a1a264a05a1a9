#!/usr/bin/env bash
# `devops-agent deps` against `npm ls --all` and `pip check` on the same real tree: a project
# with an npm tree of about 600 packages and a venv of about 40 distributions, built in a temp
# dir from the registries (npm, PyPI). Reports medians over alternating runs, their ratios and
# peak RSS. Target: devops-agent at least 20x faster than each, under 30 MB peak RSS.
#
# Usage: bench/deps.sh [ROUNDS]   (default 15; the tree is kept in $BENCH_DIR when set)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-15}"
for tool in npm python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "needs $tool (Debian: nodejs npm python3 time)" >&2; exit 2; }
done
cargo build --release --quiet
agent="$PWD/target/release/devops-agent"

dir="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
if [ ! -d "$dir/node_modules" ]; then
  echo "building the npm tree in $dir ..." >&2
  cat > "$dir/package.json" <<'EOF'
{
  "name": "deps-bench",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "@babel/core": "^7.24.0",
    "@babel/preset-env": "^7.24.0",
    "axios": "^1.7.0",
    "express": "^4.19.0",
    "react": "^18.3.0",
    "react-dom": "^18.3.0"
  },
  "devDependencies": {
    "@testing-library/react": "^14.3.0",
    "eslint": "^8.57.0",
    "jest": "^29.7.0",
    "prettier": "^3.3.0",
    "typescript": "^5.5.0",
    "webpack": "^5.90.0",
    "webpack-cli": "^5.1.0"
  }
}
EOF
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ ! -d "$dir/.venv" ]; then
  echo "building the venv in $dir ..." >&2
  cat > "$dir/requirements.txt" <<'EOF'
flask>=3
requests>=2.31
pytest>=8
black>=24
sqlalchemy>=2
pydantic>=2
httpx>=0.27
rich>=13
fastapi>=0.110
uvicorn>=0.29
gunicorn>=22
python-dotenv>=1
EOF
  python3 -m venv "$dir/.venv"
  "$dir/.venv/bin/python" -m pip install --quiet -r "$dir/requirements.txt"
fi
packages=$(find "$dir/node_modules" -name package.json -path '*/node_modules/*/package.json' \
  -not -path '*/node_modules/*/node_modules/*/*/*' | wc -l)
dists=$(ls -d "$dir"/.venv/lib/python3*/site-packages/*.dist-info | wc -l)
echo "tree: $packages installed npm packages, $dists Python distributions" >&2

python3 - "$agent" "$dir" "$rounds" <<'PY'
import os, re, statistics, subprocess, sys, time

agent, d, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NODE_ENV")}
commands = {
    "devops-agent deps": [agent, "deps", "--project", d],
    "npm ls --all": ["npm", "ls", "--all"],
    "pip check": [f"{d}/.venv/bin/python", "-m", "pip", "check"],
}

def once(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start

def peak_rss_mb(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=d, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1))
    return kb / 1024

# The agent must agree with the references on this tree: a clean tree everywhere.
report = subprocess.run(commands["devops-agent deps"], cwd=d, env=env, capture_output=True, text=True)
if report.returncode != 0:
    print(report.stdout[:3000], file=sys.stderr)
    sys.exit(f"devops-agent deps exited {report.returncode} on the bench tree")

for cmd in commands.values():  # warm the page cache
    once(cmd)
times = {name: [] for name in commands}
for _ in range(rounds):  # alternating, so drift affects every command alike
    for name, cmd in commands.items():
        times[name].append(once(cmd))
med = {name: statistics.median(t) * 1000 for name, t in times.items()}
rss = {name: peak_rss_mb(cmd) for name, cmd in commands.items()}

print(f"| command | median | peak RSS |")
print(f"|:--------|-------:|---------:|")
for name in commands:
    print(f"| `{name}` | {med[name]:.1f} ms | {rss[name]:.1f} MB |")
a = med["devops-agent deps"]
r_npm, r_pip = med["npm ls --all"] / a, med["pip check"] / a
print(f"\nover {rounds} alternating rounds: {r_npm:.1f}x faster than npm ls --all, "
      f"{r_pip:.1f}x faster than pip check, peak RSS {rss['devops-agent deps']:.1f} MB")
ok = r_npm >= 20 and r_pip >= 20 and rss["devops-agent deps"] < 30
print("target met" if ok else "TARGET MISSED (>=20x each, <30 MB)")
sys.exit(0 if ok else 1)
PY
