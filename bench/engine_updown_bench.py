#!/usr/bin/env python3
"""The engine side of `up -d` and `down -t 0` for the bench stack (issue #5): per-request wall
times as the CLI sees them, and the daemon's own step times.

    python3 bench/engine_updown_bench.py [--rounds 5]

Starts its own engine (temporary state root, socket and address pool 10.238.0.0/16, with
PYCOMPOSE_STEP_TIMES=1 so engine.log gets one line per timed step), imports a busybox image as
bench/busybox:latest, then per round runs `up -d` (until http://127.0.0.1:18080/ answers) and
`down -t 0` through the real CLI code in a child interpreter whose engine client records every
request (method, path, start, end). CLI import time is reported apart ("first request at"), so
the numbers show what the daemon costs. Prints medians over the rounds, with the load average.
The stack's published port is moved to 18281 (other benchmarks on this machine use 18080).

Environment: PCBENCH_TIMELINE=1 prints every round's request timeline; PCBENCH_KEEPLOG=FILE
keeps the engine's log (with its step lines) in FILE.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from run_bench import start_busybox_engine, stop_engine  # noqa: E402
import compose_bench  # noqa: E402
STACK = REPO / "bench" / "bench-stack.yaml"
POOL = "10.238.0.0/16"
# the stack's published port, moved: other engineers' benchmarks use 18080 on this machine
PORT = 18281
URL = f"http://127.0.0.1:{PORT}/"

# The child: the real CLI, with Client's request path wrapped to record each call's wall time
# (a JSON answer is read completely before the call returns, so that is the daemon's time plus
# one unix-socket round trip).
DRIVER = r"""
import json, os, sys, threading, time
t0 = time.perf_counter()
from engine.client import api
calls = []
lock = threading.Lock()
def wrap(name):
    inner = getattr(api.Client, name)
    def timed(self, method, path, *a, **kw):
        start = time.perf_counter()
        try:
            return inner(self, method, path, *a, **kw)
        finally:
            end = time.perf_counter()
            with lock:
                calls.append((method, path, start - t0, end - t0, threading.current_thread().name))
    setattr(api.Client, name, timed)
wrap("_json"); wrap("_discard")
from compose.cli.main import main
code = main(sys.argv[1:])
with open(os.environ["PCBENCH_CALLS"], "w") as f:
    json.dump({"calls": calls, "total": time.perf_counter() - t0}, f)
sys.exit(code)
"""

_ID = re.compile(r"/[0-9a-f]{12,64}|/bench[-_][\w.-]+")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def http_ready(deadline: float) -> bool:
    return compose_bench.http_ready(URL, deadline)


def run_cli(env: dict, cwd: Path, calls_file: Path, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", DRIVER, "-p", "bench", *args], env=dict(
        env, PCBENCH_CALLS=str(calls_file)), cwd=cwd, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.decode()[-800:]}")
    return elapsed, json.loads(calls_file.read_text())


def summarize(rounds: list[dict], label: str) -> None:
    per: dict[str, list[float]] = defaultdict(list)
    first: list[float] = []
    span: list[float] = []
    for data in rounds:
        calls = sorted(data["calls"], key=lambda c: c[2])
        if not calls:
            continue
        first.append(calls[0][2])
        span.append(max(c[3] for c in calls) - calls[0][2])
        seen: dict[str, int] = defaultdict(int)
        for method, path, start, end, _thread in calls:
            key = f"{method} {_ID.sub('/<x>', path.split('?')[0])}"
            seen[key] += 1
            per[f"{key} #{seen[key]}"].append((end - start) * 1000)
    print(f"\n{label}: first request at {statistics.median(first) * 1000:.0f} ms after start "
          f"(CLI imports), requests span {statistics.median(span) * 1000:.0f} ms (median)")
    for key, values in per.items():
        print(f"  {key:<52} {statistics.median(values):7.1f} ms  (min {min(values):.1f})")
    if os.environ.get("PCBENCH_TIMELINE"):
        for data in rounds:
            print("  timeline (ms from the first request):")
            calls = sorted(data["calls"], key=lambda c: c[2])
            for method, path, start, end, thread in calls:
                print(f"    {(start - calls[0][2]) * 1000:6.1f} {(end - calls[0][2]) * 1000:6.1f}"
                      f"  {method} {path[:60]}  [{thread}]")


def step_times(log_text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for m in re.finditer(r"step (\S+) ([\d.]+) ms", log_text):
        out[m.group(1)].append(float(m.group(2)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = max(1, parser.parse_args().rounds)
    if os.geteuid() != 0:
        print("engine_updown_bench: needs root (it starts an engine)")
        return 1

    load_before = _load()
    root = Path(tempfile.mkdtemp(prefix="pcudbench-", dir="/tmp"))
    sock = root / "engine.sock"
    env = dict(os.environ, PYCOMPOSE_ROOT=str(root / "state"), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=POOL, NO_COLOR="1", PYCOMPOSE_STEP_TIMES="1",
               PYTHONPATH=str(REPO))
    (root / "state").mkdir()
    proc = start_busybox_engine(root, env)
    if proc is None:
        shutil.rmtree(root, ignore_errors=True)
        return 1
    ups, downs, up_totals, down_totals, http_after = [], [], [], [], []
    try:
        work = root / "work"
        work.mkdir()
        (work / "compose.yaml").write_text(
            STACK.resolve().read_text().replace("127.0.0.1:18080:", f"127.0.0.1:{PORT}:"))
        calls_file = root / "calls.json"
        for i in range(rounds + 1):   # round 0 warms the daemon (first network, imports)
            start = time.perf_counter()
            up_cli, up = run_cli(env, work, calls_file, "up", "-d")
            if not http_ready(start + 10):
                raise RuntimeError("no HTTP answer")
            up_total = time.perf_counter() - start
            time.sleep(0.3)
            down_total, down = run_cli(env, work, calls_file, "down", "-t", "0")
            if i:
                ups.append(up)
                downs.append(down)
                up_totals.append(up_total)
                http_after.append(up_total - up_cli)
                down_totals.append(down_total)
            time.sleep(0.3)
    finally:
        stop_engine(proc)
        engine_log = (root / "state" / "engine.log").read_text() \
            if (root / "state" / "engine.log").exists() else ""
        if os.environ.get("PCBENCH_KEEPLOG"):
            Path(os.environ["PCBENCH_KEEPLOG"]).write_text(engine_log)
        from tests.support.daemon import unmount_below

        unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average before {load_before}, after {_load()}; {rounds} round(s)")
    print(f"up -d → HTTP answer: median {statistics.median(up_totals):.3f} s "
          f"(min {min(up_totals):.3f}); down -t 0: median {statistics.median(down_totals):.3f} s "
          f"(min {min(down_totals):.3f})  [both include CLI start-up]")
    print(f"HTTP answer {statistics.median(http_after) * 1000:.0f} ms after up's CLI exited; "
          "main() returned " + ", ".join(
              f"{label} {statistics.median([d['total'] - max(c[3] for c in d['calls']) for d in data]) * 1000:.0f} ms"
              for label, data in (("up", ups), ("down", downs))) + " after its last response")
    summarize(ups, "up -d")
    summarize(downs, "down -t 0")
    steps = step_times(engine_log)
    if steps:
        print("\ndaemon steps (PYCOMPOSE_STEP_TIMES, all rounds incl. warm-up):")
        for name, values in sorted(steps.items()):
            print(f"  {name:<40} {statistics.median(values):7.2f} ms  "
                  f"(n={len(values)}, max {max(values):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
