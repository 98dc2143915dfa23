#!/usr/bin/env python3
"""What `explain` costs (#14.1: under 100 ms for a running container), against a daemon in a
temp root, through the API socket (the engine answers in-process: /proc, cgroup files and the
writable layer are read in one worker thread, nothing is exec'd):
1. a running busybox container, idle (one process, a few changes);
2. the same with 20 processes and 2,000 added files in its writable layer;
3. a running container while 10 others run (their namespaces are compared for "joined from");
4. a stopped container.
Median and max of several rounds. Usage: bench/explain_bench.py. Needs root; stops its daemon
and removes its root.
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.client import Client  # noqa: E402
from tests.daemon.conftest import DirFactory, import_busybox, make_daemon  # noqa: E402

ROUNDS = 15
TARGET_MS = 100.0


def timed_ms(fn, rounds: int = ROUNDS) -> tuple[float, float]:
    fn()   # warm: first call imports nothing new, but fills the page cache
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="pcexplainbench-"))
    daemon = make_daemon(DirFactory(base), "explainbench")
    daemon.start()
    made = []
    try:
        docker = daemon.client()
        import_busybox(docker, daemon.base)
        api = Client(daemon.sock)
        idle = docker.containers.run("busybox", ["sleep", "600"], detach=True,
                                     ports={"80/tcp": None})
        busy = docker.containers.run(
            "busybox", ["sh", "-c", "mkdir /many; i=0; while [ $i -lt 2000 ]; do "
                        "echo $i > /many/f$i; i=$((i+1)); done; j=0; while [ $j -lt 19 ]; "
                        "do sleep 600 & j=$((j+1)); done; sleep 600"], detach=True)
        stopped = docker.containers.create("busybox", ["true"])
        made += [idle, busy, stopped]
        deadline = time.monotonic() + 60
        while len(busy.top()["Processes"] or []) < 20:
            assert time.monotonic() < deadline, "busy container did not fork its 20 processes"
            time.sleep(0.1)
        results = {
            "running, idle": timed_ms(lambda: api.explain(idle.id)),
            "running, 20 procs + 2,000 files": timed_ms(lambda: api.explain(busy.id)),
            "stopped": timed_ms(lambda: api.explain(stopped.id)),
        }
        made += [docker.containers.run("busybox", ["sleep", "600"], detach=True)
                 for _ in range(10)]
        results["running, idle, 10 others running"] = timed_ms(lambda: api.explain(idle.id))
        print(f"{'explain over the API socket':40s} {'median ms':>10s} {'max ms':>10s}")
        for name, (median, worst) in results.items():
            print(f"{name:40s} {median:10.1f} {worst:10.1f}")
        slow = [n for n, (median, _) in results.items() if median > TARGET_MS]
        print(f"target: median under {TARGET_MS:.0f} ms: {'FAILED for ' + ', '.join(slow) if slow else 'met'}")
        api.close()
        return 1 if slow else 0
    finally:
        for c in made:
            try:
                c.remove(force=True)
            except Exception:   # noqa: BLE001 - the daemon's stop removes the rest
                pass
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
