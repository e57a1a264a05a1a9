#!/usr/bin/env bash
# `devops-agent deps` against the tool a user would otherwise trust, on real trees built from
# the registries in $BENCH_DIR (npm, PyPI), and against a minimal reader (bench/reader.rs: lists
# each node_modules once and reads every package.json / METADATA — the I/O floor):
#
#   npm   about 2,300 packages (npm install of nest, angular-cli, serverless, firebase, aws-sdk,
#         lerna, jest, webpack, …)                      against `npm ls --all`
#   pnpm  about 600 packages (pnpm install)              against `pnpm ls --depth Infinity`
#   yarn  about 600 packages (yarn v1 install)           against `yarn check --verify-tree`
#   venv  about 160 distributions (jupyterlab, pandas, django, sphinx, boto3, …; installed with
#         uv into a plain `python3 -m venv`)            against `pip check`
#
# Before anything is timed, every tree must be clean by both judges: devops-agent exits 0 AND
# the reference exits 0 (equal verdicts); otherwise the script stops with exit 2. Then all
# commands run in interleaved rounds (each round runs every command once, in a rotating order,
# so machine load affects all alike); the script prints medians of wall time and of CPU time
# (user + sys), ratios, peak RSS (/usr/bin/time -v) and `uptime` before and after, as Markdown
# rows for bench/README.md.
#
# Targets (issue 16): deps >= 40x faster than npm ls --all on the npm tree (>= 2,000 packages),
# >= 2x faster than pnpm ls, >= 50x faster than pip check on the venv (>= 150 distributions),
# and at most 2x the minimal reader on the npm tree. Exits 1 when one is missed.
#
# Usage: bench/deps.sh [ROUNDS]   (default 7; BENCH_DIR=/tmp/bench-deps keeps the trees)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-7}"
for tool in npm node python3 rustc /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "needs $tool (Debian: nodejs npm python3 rustc time)" >&2; exit 2; }
done
tools="$PWD/target/fixture-cache/tools"
pnpm_js="$tools/node/node_modules/pnpm/bin/pnpm.cjs"
yarn_js="$tools/node/node_modules/yarn/bin/yarn.js"
uv="$tools/py/bin/uv"
for f in "$pnpm_js" "$yarn_js" "$uv"; do
  [ -f "$f" ] || { echo "needs $f (scripts/test.sh installs it)" >&2; exit 2; }
done
cargo build --release --quiet
agent="$PWD/target/release/devops-agent"
reader="$PWD/target/release/bench-reader"
rustc -O --edition 2021 -o "$reader" bench/reader.rs

dir="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$dir"/{npm,pnpm,yarn,venv}

medium='{
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
}'
if [ ! -f "$dir/npm/package-lock.json" ]; then
  echo "building the npm tree in $dir/npm (several minutes) ..." >&2
  cat > "$dir/npm/package.json" <<'EOF'
{
  "name": "deps-bench-npm",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "@babel/core": "^7.24.0",
    "@babel/preset-env": "^7.24.0",
    "@nestjs/core": "^10.3.0",
    "@nestjs/common": "^10.3.0",
    "@aws-sdk/client-s3": "^3.600.0",
    "axios": "^1.7.0",
    "express": "^4.19.0",
    "firebase": "^10.12.0",
    "mongoose": "^8.4.0",
    "react": "^18.3.0",
    "react-dom": "^18.3.0",
    "sequelize": "^6.37.0",
    "serverless": "^3.38.0"
  },
  "devDependencies": {
    "@angular/cli": "^17.3.0",
    "@nestjs/cli": "^10.3.0",
    "@testing-library/react": "^14.3.0",
    "eslint": "^8.57.0",
    "jest": "^29.7.0",
    "lerna": "^8.1.0",
    "mocha": "^10.4.0",
    "nodemon": "^3.1.0",
    "prettier": "^3.3.0",
    "semantic-release": "^23.1.0",
    "typescript": "^5.4.0",
    "vite": "^5.2.0",
    "webpack": "^5.90.0",
    "webpack-cli": "^5.1.0",
    "webpack-dev-server": "^5.0.0"
  }
}
EOF
  (cd "$dir/npm" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
if [ ! -f "$dir/pnpm/pnpm-lock.yaml" ]; then
  echo "building the pnpm tree in $dir/pnpm ..." >&2
  printf '%s\n' "$medium" > "$dir/pnpm/package.json"
  (cd "$dir/pnpm" && node "$pnpm_js" install --ignore-scripts --reporter=silent)
fi
if [ ! -f "$dir/yarn/yarn.lock" ]; then
  echo "building the yarn tree in $dir/yarn ..." >&2
  printf '%s\n' "$medium" > "$dir/yarn/package.json"
  (cd "$dir/yarn" && node "$yarn_js" install --ignore-scripts --non-interactive --no-progress >/dev/null)
fi
if [ ! -d "$dir/venv/.venv" ]; then
  echo "building the venv in $dir/venv ..." >&2
  cat > "$dir/venv/requirements.txt" <<'EOF'
jupyterlab>=4
pandas>=2
scikit-learn>=1.4
matplotlib>=3.8
django>=5
flask>=3
fastapi>=0.110
uvicorn>=0.29
sqlalchemy>=2
pydantic>=2
httpx>=0.27
requests>=2.31
pytest>=8
black>=24
sphinx>=7
boto3>=1.34
celery>=5.3
rich>=13
EOF
  python3 -m venv "$dir/venv/.venv"
  "$uv" pip install --quiet --python "$dir/venv/.venv/bin/python" -r "$dir/venv/requirements.txt"
fi

python3 - "$agent" "$reader" "$dir" "$rounds" "$pnpm_js" "$yarn_js" <<'PY'
import os, re, statistics, subprocess, sys, time

agent, reader, d, rounds, pnpm_js, yarn_js = sys.argv[1:7]
rounds = int(rounds)
env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NODE_ENV", "CI")}
venv_python = f"{d}/venv/.venv/bin/python"
# tree -> (reference name, reference command, target ratio over deps or None)
trees = {
    "npm": ("npm ls --all", ["npm", "ls", "--all"], 40.0),
    "pnpm": ("pnpm ls --depth Infinity", ["node", pnpm_js, "ls", "--depth", "Infinity"], 2.0),
    "yarn": ("yarn check --verify-tree", ["node", yarn_js, "check", "--verify-tree"], None),
    "venv": ("pip check", [venv_python, "-m", "pip", "check"], 50.0),
}
READER_TARGET = ("npm", 2.0)
trees_all = {tree: ref_name for tree, (ref_name, _, _) in trees.items()}  # deps at most 2x the minimal reader on the npm tree

def commands(tree):
    ref_name, ref, _ = trees[tree]
    where = f"{d}/{tree}"
    return {
        "deps": ([agent, "deps", "--project", where], where),
        "ref": (ref, where),
        "reader": ([reader, where], where),
    }

def once(cmd, cwd):
    """Wall and CPU (user + sys) seconds of one run, and its exit code."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode

def peak_rss_mb(cmd, cwd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1))
    return kb / 1024

def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

# Equal verdicts first: a clean tree by both judges, or nothing is timed.
sizes = {}
disagree = []
for tree in list(trees):
    cmds = commands(tree)
    for key in ("deps", "ref"):
        cmd, cwd = cmds[key]
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        if r.returncode != 0 and trees[tree][2] is None:
            # No target here: the disagreement is reported, the tree is not timed.
            print(f"{tree}: `{' '.join(cmd)}` exited {r.returncode} on the clean tree; "
                  "verdicts differ, so it is not timed", file=sys.stderr)
            disagree.append(tree)
            break
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-2000:], file=sys.stderr)
            sys.exit(f"{tree}: `{' '.join(cmd)}` exited {r.returncode} on the clean tree; "
                     "the verdicts must be equal (both 0) before anything is timed")
    cmd, cwd = cmds["reader"]
    files = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.split()[0]
    sizes[tree] = int(files) - (0 if tree == "venv" else 1)  # the root package.json is no package

for tree in disagree:
    del trees[tree]
load_before = uptime()
plan = [(tree, key) for tree in trees for key in ("deps", "ref", "reader")]
for tree, key in plan:  # warm the page cache
    once(*commands(tree)[key])
wall = {p: [] for p in plan}
cpu = {p: [] for p in plan}
for r in range(rounds):
    order = plan[r % len(plan):] + plan[:r % len(plan)]  # rotate, so no command always follows another
    for tree, key in order:
        w, c, rc = once(*commands(tree)[key])
        if rc != 0:
            sys.exit(f"{tree} {key} exited {rc} during the rounds")
        wall[(tree, key)].append(w * 1000)
        cpu[(tree, key)].append(c * 1000)
load_after = uptime()
rss = {p: peak_rss_mb(*commands(p[0])[p[1]]) for p in plan}
med = {p: statistics.median(v) for p, v in wall.items()}
cmed = {p: statistics.median(v) for p, v in cpu.items()}

unit = {"npm": "packages", "pnpm": "packages", "yarn": "packages", "venv": "distributions"}
print(f"load before: `{load_before}`  ")
print(f"load after: `{load_after}`  ")
print(f"{rounds} interleaved rounds; wall median (CPU median), peak RSS\n")
print("| tree | reference | `devops-agent deps` | reference | faster | minimal reader | deps / reader |")
print("|:-----|:----------|--------------------:|----------:|-------:|---------------:|--------------:|")
missed = []
for tree, (ref_name, _, target) in trees.items():
    a, ref, rd = med[(tree, "deps")], med[(tree, "ref")], med[(tree, "reader")]
    ca, cref, crd = cmed[(tree, "deps")], cmed[(tree, "ref")], cmed[(tree, "reader")]
    ratio, floor = ref / a, a / rd
    print(f"| {tree}, {sizes[tree]:,} {unit[tree]} | `{ref_name}` "
          f"| {a:.1f} ms ({ca:.0f} ms), {rss[(tree, 'deps')]:.1f} MB "
          f"| {ref:.1f} ms ({cref:.0f} ms), {rss[(tree, 'ref')]:.1f} MB "
          f"| **{ratio:.1f}×** | {rd:.1f} ms ({crd:.0f} ms) | **{floor:.2f}×** |")
    if target is not None and ratio < target:
        missed.append(f"{tree}: {ratio:.1f}x faster than {ref_name} (target >= {target:g}x)")
    if tree == READER_TARGET[0] and floor > READER_TARGET[1]:
        missed.append(f"{tree}: {floor:.2f}x the minimal reader (target <= {READER_TARGET[1]:g}x)")
    if tree == "npm" and sizes[tree] < 2000:
        missed.append(f"npm tree has {sizes[tree]} packages (needs >= 2,000)")
    if tree == "venv" and sizes[tree] < 150:
        missed.append(f"venv has {sizes[tree]} distributions (needs >= 150)")
for tree in disagree:
    print(f"| {tree} | `{trees_all[tree]}` | not timed: verdicts differ on the clean tree | | | | |")
print()
if missed:
    print("TARGET MISSED: " + "; ".join(missed))
    sys.exit(1)
print("targets met: npm >= 40x, pnpm >= 2x, pip >= 50x, deps <= 2x the reader on the npm tree")
PY
