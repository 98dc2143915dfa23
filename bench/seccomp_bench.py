#!/usr/bin/env python3
"""What Docker's default seccomp filter costs us.

1. Compiling Docker's profile in the daemon: cold (first container with a capability set) and
   cached (every later start).
2. Installing the program in a process (prctl(PR_SET_SECCOMP) of the ready bytes).
3. A syscall under the filter: getppid in a tight C-level loop is not reachable from Python, so
   os.getppid() 200k times with and without the filter (Python's own overhead included: the
   difference is the filter's).
4. Start -> exit of /bin/true through engine.runtime.Runtime without a filter, with it, and with
   it plus no_new_privileges; median of 30 runs after 3 warm-ups, variants interleaved.
Needs root; leaves nothing behind.
"""
from __future__ import annotations

import base64
import ctypes
import os
import secrets
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402

from engine.runtime import cgroups, rootfs  # noqa: E402
from engine.runtime import syscalls as sc  # noqa: E402
from engine.runtime.capabilities import DOCKER_DEFAULT_MASK  # noqa: E402
from engine.runtime.runtime import Runtime  # noqa: E402
from engine.runtime.seccomp import cache  # noqa: E402
from engine.runtime.seccomp.install import PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _SockFprog  # noqa: E402,E501
from engine.runtime.spec import ContainerSpec, ProcessSpec, Resources  # noqa: E402
from tests.support.busybox import make_busybox_rootfs  # noqa: E402

RUNS, WARMUP, LOOPS = 30, 3, 200_000


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):8.3f}  ({min(samples):.3f}–{max(samples):.3f})"


def in_child(program: bytes | None) -> tuple[float, float]:
    """(install ms, ns per os.getppid) measured in a forked child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        install = 0.0
        if program is not None:
            buf = ctypes.create_string_buffer(program, len(program))
            prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            t0 = time.perf_counter()
            sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
            install = (time.perf_counter() - t0) * 1000
        getppid = os.getppid
        t0 = time.perf_counter()
        for _ in range(LOOPS):
            getppid()
        per_call = (time.perf_counter() - t0) / LOOPS * 1e9
        os.write(w, struct.pack("dd", install, per_call))
        os._exit(0)
    os.close(w)
    data = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    return struct.unpack("dd", data)


def main() -> int:
    if os.geteuid() != 0:
        print("seccomp_bench needs root")
        return 1
    cold = []
    for _ in range(5):
        cache._compiled.cache_clear()
        t0 = time.perf_counter()
        cache.filter_for("", DOCKER_DEFAULT_MASK)
        cold.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    for _ in range(10_000):
        filt = cache.filter_for("", DOCKER_DEFAULT_MASK)
    warm = (time.perf_counter() - t0) / 10_000 * 1e6
    program = base64.b64decode(filt)
    print(f"Docker's default profile, x86_64 (+ i386, x32): {len(program) // 8} BPF instructions, "
          f"{len(filt)} bytes of base64 in the spec")
    print(f"  compile, cold (ms, median of 5)        {statistics.median(cold):8.3f}")
    print(f"  compile, cached (µs per start)         {warm:8.3f}")
    # a one-instruction allow-all filter separates the kernel's fixed cost of any filter from
    # the cost of our program's length; interleaved, 15 rounds (the machine is shared: min)
    allow_all = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)
    rounds: dict[str, list[tuple[float, float]]] = {"none": [], "allow-all": [], "docker": []}
    for _ in range(15):
        for name, prog in (("none", None), ("allow-all", allow_all), ("docker", program)):
            rounds[name].append(in_child(prog))
    install = statistics.median(r[0] for r in rounds["docker"])
    print(f"  install in a process (ms, median)      {install:8.3f}")
    per_call = {k: (min(r[1] for r in v), statistics.median(r[1] for r in v))
                for k, v in rounds.items()}
    print("  os.getppid() ns, min / median: " + ", ".join(
        f"{k} {lo:.0f} / {mid:.0f}" for k, (lo, mid) in per_call.items()))

    runtime = Runtime.launch()
    tmp = Path(tempfile.mkdtemp(prefix="pcbench-"))
    driver = cgroups.detect()
    merged = tmp / "merged"
    try:
        lower = make_busybox_rootfs(tmp / "lower")
        for d in ("upper", "work", "merged"):
            (tmp / d).mkdir()
        rootfs.mount_overlay([lower], tmp / "upper", tmp / "work", merged)
        variants = {"no filter": {}, "default filter": {"seccomp_filter": filt},
                    "default filter + no_new_privileges": {"seccomp_filter": filt,
                                                           "no_new_privileges": True}}
        times: dict[str, list[float]] = {k: [] for k in variants}

        async def once(n: int, kw: dict) -> float:
            cid = secrets.token_hex(32)
            spec = ContainerSpec(id=cid, rootfs=str(merged), hostname="bench", network="none",
                                 process=ProcessSpec(args=("/bin/true",), env=("PATH=/bin",),
                                                     **kw))
            t0 = time.perf_counter()
            cg = driver.create(f"pycompose-{cid[:12]}-{n}", Resources())
            try:
                proc = await runtime.start(spec, cg)
                status = await runtime.wait(proc)
                elapsed = (time.perf_counter() - t0) * 1000
                runtime.release(proc)
            finally:
                cg.remove()
            assert status.code == 0, status
            return elapsed

        async def bench() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.serve)
                n = 0
                for i in range(WARMUP + RUNS):
                    for name, kw in variants.items():
                        n += 1
                        t = await once(n, kw)
                        if i >= WARMUP:
                            times[name].append(t)
                nursery.cancel_scope.cancel()

        trio.run(bench)
        print(f"start -> exit of /bin/true, median (min–max) ms over {RUNS} runs")
        for name, samples in times.items():
            print(f"  {name:36} {ms(samples)}")
        return 0
    finally:
        runtime.close()
        rootfs.unmount(merged)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
