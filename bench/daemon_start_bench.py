#!/usr/bin/env python3
"""Daemon start: spawn of `python3 -m engine.daemon` until /_ping answers, and until its zygote
serves (its comm turns "pc-zygote", after the exec and imports of engine/runtime/sealed_exe).

    python3 bench/daemon_start_bench.py [--rounds 7] [--tree DIR]

`--tree` runs the daemon of another checkout (e.g. an older commit extracted with git archive)
so both can be measured in turns on a shared machine. Own temp root, socket and address pool
per round; the daemon is stopped by PID and its root removed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.daemon import stop_daemon, unmount_below  # noqa: E402


def ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def zygote_serving(daemon_pid: int) -> bool:
    try:
        children = Path(f"/proc/{daemon_pid}/task/{daemon_pid}/children").read_text().split()
        return any(Path(f"/proc/{c}/comm").read_text().strip() == "pc-zygote"
                   for c in children)
    except OSError:
        return False


def one_round(tree: Path, n: int) -> tuple[float, float | None]:
    tmp = Path(tempfile.mkdtemp(prefix="pcbench-start-"))
    env = dict(os.environ, PYCOMPOSE_ROOT=str(tmp / "root"),
               PYCOMPOSE_HOST=f"unix://{tmp}/engine.sock",
               PYCOMPOSE_ADDRESS_POOL=f"10.237.{n * 8 % 256}.0/21", PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = zygote = None
    try:
        deadline = t0 + 60
        while time.perf_counter() < deadline and (ready is None or zygote is None):
            now = time.perf_counter() - t0
            if zygote is None and zygote_serving(proc.pid):
                zygote = now
            if ready is None and ping(tmp / "engine.sock"):
                ready = now
            if ready is not None and now > ready + 2:
                break  # an older tree has no named zygote
            time.sleep(0.002)
        if ready is None:
            raise RuntimeError("the daemon did not answer /_ping within 60 s")
        return ready * 1000, zygote * 1000 if zygote is not None else None
    finally:
        stop_daemon(proc.pid)
        unmount_below(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    if os.geteuid() != 0:
        print("daemon_start_bench needs root")
        return 1
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tree", type=Path, default=REPO)
    args = ap.parse_args()
    pings, zygotes = [], []
    for n in range(args.rounds):
        p, z = one_round(args.tree.resolve(), n)
        pings.append(p)
        if z is not None:
            zygotes.append(z)
    print(f"{args.tree}: load {os.getloadavg()[0]:.1f}, {args.rounds} rounds, median (min-max) ms")
    print(f"  spawn -> /_ping answers      {statistics.median(pings):7.1f}  "
          f"({min(pings):.1f}-{max(pings):.1f})")
    if zygotes:
        print(f"  spawn -> zygote serving      {statistics.median(zygotes):7.1f}  "
              f"({min(zygotes):.1f}-{max(zygotes):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
