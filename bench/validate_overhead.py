#!/usr/bin/env python3
"""validate's overhead over the commands it runs, on the demo.

"Direct" does by hand what `validate` does on fixtures/demo: the frontend's development and
production builds (`npm run build` with NODE_ENV), then for each mode starts the backend and
frontend on free ports, polls each until its health endpoint answers 2xx, holds them up for
the same 1 s stability window, sends the same 20 health requests to each, and stops them.
`validate` does that plus everything it checks around it (ports, deps, the bundle, assets,
the proxy and WebSocket probes of the integration gate when present). Runs alternate; the
medians are compared. Target: validate takes at most 5 % longer.
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
BIN = os.path.join(ROOT, "target", "release", "devops-agent")
RUNS = int(os.environ.get("RUNS", "5"))
SAMPLES = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, path):
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if 200 <= r.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.005)


def direct(demo):
    frontend = os.path.join(demo, "frontend")
    backend = os.path.join(demo, "backend")
    for mode in ("development", "production"):
        subprocess.run(["npm", "run", "build"], cwd=frontend, check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, NODE_ENV=mode))
    for mode, front_script in (("development", "dev"), ("production", "start")):
        bport, fport = free_port(), free_port()
        env = dict(os.environ, NODE_ENV=mode, BACKEND_PORT=str(bport), FRONTEND_PORT=str(fport))
        procs = [
            subprocess.Popen(["npm", "run", "start"], cwd=backend, env=dict(env, PORT=str(bport)),
                             stdout=subprocess.DEVNULL, start_new_session=True),
        ]
        wait_healthy(bport, "/health")
        procs.append(subprocess.Popen(["npm", "run", front_script], cwd=frontend,
                                      env=dict(env, PORT=str(fport)), stdout=subprocess.DEVNULL,
                                      start_new_session=True))
        wait_healthy(fport, "/")
        time.sleep(1.0)
        for port, path in ((bport, "/health"), (fport, "/")):
            for _ in range(SAMPLES):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()


def validate(demo):
    env = dict(os.environ, FRONTEND_PORT=str(free_port()), BACKEND_PORT=str(free_port()),
               NGINX_PORT=str(free_port()))
    r = subprocess.run([BIN, "validate", "BENCH-1", "--project", demo, "--no-history", "--quiet"],
                       env=env, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"validate failed on the demo (exit {r.returncode})")


def timed(f, demo):
    t = time.perf_counter()
    f(demo)
    return time.perf_counter() - t


def main():
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        demo = os.path.join(tmp, "demo")
        shutil.copytree(os.path.join(ROOT, "fixtures", "demo"), demo)
        a, b = [], []
        for i in range(RUNS):
            if i % 2 == 0:
                a.append(timed(direct, demo))
                b.append(timed(validate, demo))
            else:
                b.append(timed(validate, demo))
                a.append(timed(direct, demo))
        ma, mb = statistics.median(a), statistics.median(b)
        overhead = (mb / ma - 1) * 100
        print(f"demo, median of {RUNS} alternating runs:")
        print(f"  commands run directly : {ma:6.2f} s")
        print(f"  devops-agent validate : {mb:6.2f} s")
        print(f"  overhead              : {overhead:+6.1f} %")
        ok = overhead <= 5.0
        print("target met" if ok else "target NOT met (at most +5 %)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
