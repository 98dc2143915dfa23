#!/usr/bin/env python3
"""What resolving mount targets inside the root costs: `mounts.apply_plan` for a daemon-like
container (proc, sys, /dev with its nodes and links, the three /etc binds, a volume, a tmpfs, the
masked and read-only paths), timed in a forked child in a fresh mount namespace over a busybox
overlay, RUNS times after WARMUP. Also the user-space walk vs one openat2 per path.

Run it from two trees (say, before and after a change) to compare: it imports the engine from
the tree it lives in. Needs root; every child's mounts die with its namespace, the overlay and
temp dir are removed at the end.
"""
from __future__ import annotations

import dataclasses
import gc
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

from engine.runtime import mounts, rootfs  # noqa: E402
from engine.runtime import syscalls as sc  # noqa: E402
from engine.runtime.spec import ContainerSpec, Mount, ProcessSpec  # noqa: E402
from tests.support.busybox import make_busybox_rootfs  # noqa: E402

RUNS, WARMUP = 60, 5


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.3f}  ({min(samples):.3f}-{max(samples):.3f})"


def one_apply(root: str, spec: ContainerSpec) -> float:
    """apply_plan in a forked child with its own mount namespace; ms."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            sc.unshare(sc.CLONE_NEWNS)
            mounts.prepare_root(root)
            plan = mounts.plan_mounts(spec)
            t0 = time.perf_counter()
            mounts.apply_plan(root, plan)
            os.write(w, struct.pack("d", (time.perf_counter() - t0) * 1000))
            code = 0
        except BaseException as exc:  # a bench child reports and dies, never returns
            os.write(2, f"child: {exc}\n".encode())
        finally:
            os._exit(code)
    os.close(w)
    data = os.read(r, 8)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(data) != 8:
        raise RuntimeError("apply_plan failed in the child")
    return struct.unpack("d", data)[0]


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pcbench-"))
    merged = tmp / "merged"
    mounted = False
    try:
        lower = make_busybox_rootfs(tmp / "lower")
        for d in ("upper", "work", "merged", "vol", "etc"):
            (tmp / d).mkdir()
        for name in ("hosts", "hostname", "resolv.conf"):
            (tmp / "etc" / name).write_text("x\n")
        rootfs.mount_overlay([lower], tmp / "upper", tmp / "work", merged)
        mounted = True
        spec = ContainerSpec(
            id=secrets.token_hex(32), rootfs=str(merged), hostname="bench",
            process=ProcessSpec(args=("/bin/true",)),
            mounts=(*(Mount(f"/etc/{n}", str(tmp / "etc" / n))
                      for n in ("hosts", "hostname", "resolv.conf")),
                    Mount("/var/lib/data", str(tmp / "vol")),
                    Mount("/run/scratch", type="tmpfs", options=("size=1m",))))
        gc.freeze()   # as the zygote does: the children do not collect the parent's heap
        samples = [one_apply(str(merged), spec) for _ in range(WARMUP + RUNS)][WARMUP:]
        from engine.runtime.devices import host_devices
        privileged = dataclasses.replace(spec, privileged=True, devices=host_devices())
        priv = [one_apply(str(merged), privileged) for _ in range(WARMUP + RUNS)][WARMUP:]
        print(f"tree: {Path(__file__).resolve().parents[1]}")
        print("median (min-max) ms")
        print(f"  apply_plan, {len(mounts.plan_mounts(spec))} ops ({RUNS}x)     {ms(samples)}")
        print(f"  privileged, {len(mounts.plan_mounts(privileged))} ops ({RUNS}x)    {ms(priv)}")
        try:
            from engine.runtime import rootpath
        except ImportError:
            return 0
        root_fd = os.open(merged, os.O_PATH | os.O_DIRECTORY)
        try:
            for label, fn in (("user-space walk (secure_join)",
                               lambda: rootpath.secure_join(str(merged), "/usr/share/x")),
                              ("openat2 + close",
                               lambda: os.close(rootpath.open_in_root(
                                   root_fd, str(merged), "/etc/passwd")))):
                t0 = time.perf_counter()
                for _ in range(2000):
                    fn()
                print(f"  {label:32s} {(time.perf_counter() - t0) / 2000 * 1e6:7.1f} µs")
        finally:
            os.close(root_fd)
        return 0
    finally:
        if mounted:
            rootfs.unmount(merged)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
