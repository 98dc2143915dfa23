#!/usr/bin/env python3
"""Memory added per running container: 50 × `sleep 3600` on the default bridge network.

Counts everything of ours: the daemon's and the zygote's proportional set size (PSS, from
/proc/PID/smaps_rollup) before and after; plus the machine-wide `MemAvailable` drop, which also
includes the containers' own `sleep` processes and the kernel's namespaces, mounts, cgroups and
veths (the figure the reference notes give for docker, ≈5 MiB a container, and podman, ≈1.2 MiB).
Goal: ≤ 1 MiB of ours added per container. Leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run_bench import purge_networks, start_engine, stop_engine  # noqa: E402
from tests.support.busybox import make_busybox_tar  # noqa: E402

COUNT = int(os.environ.get("BENCH_CONTAINERS", "50"))
POOL = "10.239.0.0/16"


def pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def our_processes(daemon_pid: int) -> list[int]:
    """The daemon and its direct children that are not containers (the zygote)."""
    pids = [daemon_pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == daemon_pid:
            pids.append(int(entry))
    return pids


def mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    from engine.client import Client

    tmp = Path(tempfile.mkdtemp(prefix="pycompose-membench-"))
    env = dict(os.environ, PYCOMPOSE_ROOT=str(tmp / "root"), PYCOMPOSE_HOST=f"unix://{tmp}/sock",
               PYCOMPOSE_ADDRESS_POOL=POOL)
    (tmp / "root").mkdir(parents=True)
    proc = start_engine(tmp, env)
    client = Client(str(tmp / "sock"))
    ids: list[str] = []
    try:
        tar = make_busybox_tar(tmp / "busybox.tar")
        with open(tar, "rb") as f:
            client.import_image(f, repo="busybox", tag="latest")
        # one container first, so one-time costs (default network, DNS server) are not counted
        warm = client.create_container({"Image": "busybox", "Cmd": ["sleep", "3600"]})["Id"]
        client.start(warm)
        ids.append(warm)
        time.sleep(1)
        helpers = our_processes(proc.pid)
        before = sum(pss_kib(p) for p in helpers)
        avail_before = mem_available_kib()
        t0 = time.perf_counter()
        for _ in range(COUNT):
            cid = client.create_container({"Image": "busybox", "Cmd": ["sleep", "3600"]})["Id"]
            client.start(cid)
            ids.append(cid)
        elapsed = time.perf_counter() - t0
        time.sleep(2)
        after = sum(pss_kib(p) for p in our_processes(proc.pid))
        avail_after = mem_available_kib()
        ours = (after - before) / COUNT / 1024
        machine = (avail_before - avail_after) / COUNT / 1024
        print(f"{COUNT} containers started in {elapsed:.2f} s ({elapsed / COUNT * 1000:.1f} ms each)")
        print(f"ours (daemon + zygote PSS): {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, "
              f"{ours:.3f} MiB per container (goal <= 1.0)")
        print(f"machine MemAvailable drop: {machine:.2f} MiB per container "
              f"(docker ≈ 5 MiB, podman ≈ 1.2 MiB in the reference notes)")
    finally:
        for cid in ids:
            try:
                client.remove_container(cid, force=True)
            except Exception as exc:  # keep cleaning up
                print(f"cleanup: {exc}", file=sys.stderr)
        client.close()
        stop_engine(proc)
        purge_networks(tmp / "root")
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
