#!/usr/bin/env python3
"""Readiness detection: time from an app's listen() to the tool seeing it ready.

devops-agent (`startup`, readiness = port accepting + /health 2xx) against wait-on
(`wait-on http-get://127.0.0.1:PORT/health`, its default 250 ms interval, as users run it) and
a shell curl loop (`until curl -sf URL; do sleep 0.1; done`, CURL_SLEEP to change), on the
same Node app, which starts listening after a random 300-900 ms delay and records the
wall-clock moment of listen(). Rounds are interleaved (each round runs the three tools, in a
rotating order, so machine load affects all alike); reports medians, ratios and the load.
Target: devops-agent's median at most 15 ms and at least 10x lower than wait-on's.
"""
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DEVOPS_AGENT_BIN", os.path.join(ROOT, "target", "release", "devops-agent"))
RUNS = int(os.environ.get("RUNS", "15"))
CURL_SLEEP = os.environ.get("CURL_SLEEP", "0.1")

APP = r"""
const http = require("node:http");
const fs = require("node:fs");
const { performance } = require("node:perf_hooks");
const port = Number(process.env.PORT);
const delay = Number(process.env.DELAY_MS);
setTimeout(() => {
  const server = http.createServer((req, res) => { res.writeHead(200); res.end("ok"); });
  server.listen(port, () => {
    fs.writeFileSync(process.env.LISTEN_FILE, String(performance.timeOrigin + performance.now()));
  });
  process.on("SIGTERM", () => process.exit(0));
}, delay);
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_ms(path):
    for _ in range(500):
        try:
            return float(open(path).read())
        except (OSError, ValueError):
            time.sleep(0.01)
    raise SystemExit("the app never recorded its listen()")


def rfc3339_ms(text):
    # 2026-11-27T06:35:36.105Z
    from datetime import datetime, timezone
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return dt.timestamp() * 1000.0


def run_devops_agent(work, delay):
    listen_file = os.path.join(work, "listen.txt")
    if os.path.exists(listen_file):
        os.remove(listen_file)
    events = os.path.join(work, "events.jsonl")
    env = dict(os.environ, DELAY_MS=str(delay), LISTEN_FILE=listen_file)
    subprocess.run([BIN, "startup", "--project", work, "--events", events, "--quiet"],
                   env=env, stdout=subprocess.DEVNULL, check=False)
    ready = None
    for line in open(events):
        e = json.loads(line)
        if e["event"] == "service_ready":
            ready = rfc3339_ms(e["ready_at"])
    if ready is None:
        raise SystemExit("devops-agent did not report the app ready")
    return ready - listen_ms(listen_file)


def run_wait_on(work, wait_on, delay):
    listen_file = os.path.join(work, "listen.txt")
    if os.path.exists(listen_file):
        os.remove(listen_file)
    port = free_port()
    env = dict(os.environ, DELAY_MS=str(delay), LISTEN_FILE=listen_file, PORT=str(port))
    app = subprocess.Popen(["node", os.path.join(work, "app.js")], env=env)
    try:
        subprocess.run([wait_on, "-t", "10000", f"http-get://127.0.0.1:{port}/health"], check=True)
        seen = time.time() * 1000.0
    finally:
        app.terminate()
        app.wait()
    return seen - listen_ms(listen_file)


def run_curl_loop(work, delay):
    listen_file = os.path.join(work, "listen.txt")
    if os.path.exists(listen_file):
        os.remove(listen_file)
    port = free_port()
    env = dict(os.environ, DELAY_MS=str(delay), LISTEN_FILE=listen_file, PORT=str(port))
    app = subprocess.Popen(["node", os.path.join(work, "app.js")], env=env)
    loop = (f"until curl -sf -o /dev/null http://127.0.0.1:{port}/health; "
            f"do sleep {CURL_SLEEP}; done")
    try:
        subprocess.run(["sh", "-c", loop], check=True, timeout=10)
        seen = time.time() * 1000.0
    finally:
        app.terminate()
        app.wait()
    return seen - listen_ms(listen_file)


def stats(name, values):
    return (f"  {name:<22}: {statistics.median(values):7.1f} ms  "
            f"(min {min(values):.1f}, max {max(values):.1f})")


def main():
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as work:
        open(os.path.join(work, "app.js"), "w").write(APP)
        open(os.path.join(work, "devops-agent.toml"), "w").write(
            '[services.app]\ndev = "node app.js"\nhealth = "/health"\n\n'
            '[startup]\nstability = "10ms"\nhealth_samples = 1\n')
        subprocess.run(["npm", "install", "--prefix", work, "--no-audit", "--no-fund",
                        "--loglevel=error", "wait-on@8"], check=True, stdout=subprocess.DEVNULL)
        wait_on = os.path.join(work, "node_modules", ".bin", "wait-on")
        tools = {
            "devops-agent startup": lambda d: run_devops_agent(work, d),
            "wait-on (default)": lambda d: run_wait_on(work, wait_on, d),
            f"curl loop (sleep {CURL_SLEEP})": lambda d: run_curl_loop(work, d),
        }
        names = list(tools)
        results = {n: [] for n in names}
        rng = random.Random(7)
        load_before = os.getloadavg()
        for i in range(RUNS):
            delay = rng.randint(300, 900)
            order = names[i % 3:] + names[:i % 3]
            for name in order:
                results[name].append(tools[name](delay))
        load_after = os.getloadavg()
        ours = results[names[0]]
        a = statistics.median(ours)
        print(f"listen() -> ready seen, median over {RUNS} interleaved rounds "
              f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
              f"{os.cpu_count()} cores):")
        for name in names:
            print(stats(name, results[name]))
        ratios = {n: statistics.median(results[n]) / max(a, 0.1) for n in names[1:]}
        for name, ratio in ratios.items():
            print(f"  ratio vs {name:<13}: {ratio:7.1f}x")
        ok = a <= 15 and ratios[names[1]] >= 10
        print("target met" if ok else "target NOT met (median <= 15 ms and >= 10x below wait-on)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
