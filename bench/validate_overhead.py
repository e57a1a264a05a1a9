#!/usr/bin/env python3
"""validate against the demo's own commands run by hand, on fixtures/demo.

"Direct" is what a developer runs to see the demo build and start, and nothing more: the
frontend's development and production builds (`npm run build` with NODE_ENV), then for each
mode the backend (`npm run start`) and, once the backend answers (the demo's frontend
`depends_on` it), the frontend (`npm run dev` / `npm run start`), each on a free port; each is
polled until its health URL gives its first 2xx answer, then both are stopped (SIGTERM to the
process group, wait). No stability hold, no health samples, no checks.

`validate` does all of that plus every check around it (ports, deps, bundle, assets, the
stability window, the health samples, the integration gate's probes).

Rounds are interleaved (each round runs both, in alternating order, so machine load affects
both alike); the ratio of the medians is printed with the load average (`uptime`) before and
after. Target: validate at most 1.15x the direct commands.

STABILITY=250ms runs validate with the demo's configuration plus `[startup] stability = ...`
(through --config), to show what the stability window costs; the default is the tool's own.
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DEVOPS_AGENT_BIN", os.path.join(ROOT, "target", "release", "devops-agent"))
RUNS = int(os.environ.get("RUNS", "7"))
STABILITY = os.environ.get("STABILITY")
TARGET = 1.15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(port, path, proc, deadline=60.0):
    """Poll until the health URL answers 2xx (the way wait-on or a curl loop would, but every
    5 ms, so the baseline is not slowed by its poll interval)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"direct: a demo server exited ({proc.returncode}) before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if 200 <= r.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.005)
    raise SystemExit(f"direct: nothing answered on port {port}{path}")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    proc.wait()


def direct(demo):
    frontend = os.path.join(demo, "frontend")
    backend = os.path.join(demo, "backend")
    for mode in ("development", "production"):
        subprocess.run(["npm", "run", "build"], cwd=frontend, check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, NODE_ENV=mode))
    for mode, front_script in (("development", "dev"), ("production", "start")):
        bport, fport = free_port(), free_port()
        env = dict(os.environ, NODE_ENV=mode, BACKEND_PORT=str(bport), FRONTEND_PORT=str(fport))
        procs = []
        try:
            procs.append(subprocess.Popen(["npm", "run", "start"], cwd=backend,
                                          env=dict(env, PORT=str(bport)),
                                          stdout=subprocess.DEVNULL, start_new_session=True))
            first_answer(bport, "/health", procs[-1])
            procs.append(subprocess.Popen(["npm", "run", front_script], cwd=frontend,
                                          env=dict(env, PORT=str(fport)),
                                          stdout=subprocess.DEVNULL, start_new_session=True))
            first_answer(fport, "/", procs[-1])
        finally:
            for p in reversed(procs):
                stop(p)


def validate(demo, config):
    env = dict(os.environ, FRONTEND_PORT=str(free_port()), BACKEND_PORT=str(free_port()),
               NGINX_PORT=str(free_port()))
    cmd = [BIN, "validate", "BENCH-1", "--project", demo, "--no-history", "--quiet"]
    if config:
        cmd += ["--config", config]
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"validate failed on the demo (exit {r.returncode})")


def timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; before: {uptime()}")
    with tempfile.TemporaryDirectory() as tmp:
        demo = os.path.join(tmp, "demo")
        shutil.copytree(os.path.join(ROOT, "fixtures", "demo"), demo,
                        ignore=shutil.ignore_patterns("dist"))
        config = None
        if STABILITY:
            config = os.path.join(tmp, "devops-agent.toml")
            with open(os.path.join(demo, "devops-agent.toml")) as f:
                text = f.read()
            with open(config, "w") as f:
                f.write(text + f'\n[startup]\nstability = "{STABILITY}"\n')
        # One untimed round of each warms the page cache and npm's.
        direct(demo)
        validate(demo, config)
        a, b = [], []
        for i in range(RUNS):
            if i % 2 == 0:
                a.append(timed(direct, demo))
                b.append(timed(validate, demo, config))
            else:
                b.append(timed(validate, demo, config))
                a.append(timed(direct, demo))
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = mb / ma
        per_round = statistics.median(y / x for x, y in zip(a, b))
        window = f"stability {STABILITY} (--config)" if STABILITY else "default stability window"
        print(f"after: {uptime()}")
        print(f"demo, {RUNS} interleaved rounds, {window}:")
        print(f"  direct commands       : median {ma:6.2f} s  (min {min(a):.2f}, max {max(a):.2f})")
        print(f"  devops-agent validate : median {mb:6.2f} s  (min {min(b):.2f}, max {max(b):.2f})")
        print(f"  ratio of medians      : {ratio:6.2f}x  (median of per-round ratios {per_round:.2f}x)")
        ok = ratio <= TARGET
        print("target met" if ok else f"target NOT met (at most {TARGET}x)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
