#!/usr/bin/env python3
"""Start -> exit of `/bin/true` through `engine.runtime.Runtime`, next to `runc run`.

Ours: cgroup create + Runtime.start + wait (the overlay is mounted once beforehand, as runc's
rootfs is a plain directory), and the same plus cgroup removal. runc: `runc run` of the same
busybox rootfs with the config `runc spec` writes (pid, mount, ipc, uts and network namespaces,
masked paths; no network set-up), so both make the same namespaces. Median of 30 runs after
3 warm-ups, variants interleaved. Needs root; leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402

from engine.runtime import cgroups, rootfs  # noqa: E402
from engine.runtime.runtime import Runtime  # noqa: E402
from engine.runtime.spec import ContainerSpec, ProcessSpec, Resources  # noqa: E402
from tests.support.busybox import make_busybox_rootfs  # noqa: E402

RUNS, WARMUP = 30, 3
RUNC = shutil.which("runc") or ("/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else None)


def runc_bundle(tmp: Path, lower: Path) -> Path:
    bundle = tmp / "bundle"
    bundle.mkdir()
    subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(lower), "readonly": False}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.2f}  ({min(samples):.2f}–{max(samples):.2f})"


def main() -> int:
    if os.geteuid() != 0:
        print("runtime_bench needs root")
        return 1
    runtime = Runtime.launch()  # before trio, as the daemon does
    tmp = Path(tempfile.mkdtemp(prefix="pcbench-"))
    driver = cgroups.detect()
    merged = tmp / "merged"
    try:
        lower = make_busybox_rootfs(tmp / "lower")
        for d in ("upper", "work", "merged"):
            (tmp / d).mkdir()
        rootfs.mount_overlay([lower], tmp / "upper", tmp / "work", merged)
        bundle = runc_bundle(tmp, lower) if RUNC else None
        core: list[float] = []
        full: list[float] = []
        runc: list[float] = []

        async def ours(n: int) -> tuple[float, float]:
            cid = secrets.token_hex(32)
            spec = ContainerSpec(id=cid, rootfs=str(merged), hostname="bench", network="none",
                                 process=ProcessSpec(args=("/bin/true",), env=("PATH=/bin",)))
            t0 = time.perf_counter()
            cg = driver.create(f"pycompose-{cid[:12]}-{n}", Resources())
            proc = await runtime.start(spec, cg)
            status = await runtime.wait(proc)
            t1 = time.perf_counter()
            runtime.release(proc)
            cg.remove()
            t2 = time.perf_counter()
            assert status.code == 0, status
            return (t1 - t0) * 1000, (t2 - t0) * 1000

        async def bench() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.serve)
                for i in range(WARMUP + RUNS):
                    a, b = await ours(i)
                    if bundle is not None:
                        t0 = time.perf_counter()
                        subprocess.run([RUNC, "--root", str(tmp / "runc-state"), "run",
                                        "--bundle", str(bundle), f"pcbench{i}"], check=True,
                                       stdout=subprocess.DEVNULL)
                        r = (time.perf_counter() - t0) * 1000
                    if i >= WARMUP:
                        core.append(a)
                        full.append(b)
                        if bundle is not None:
                            runc.append(r)
                nursery.cancel_scope.cancel()

        trio.run(bench)
        print(f"start -> exit of /bin/true, median (min–max) ms over {RUNS} runs")
        print(f"  pycompose Runtime (cgroup create + start + wait)  {ms(core)}")
        print(f"  pycompose Runtime (+ cgroup removal)              {ms(full)}")
        if runc:
            print(f"  runc run (same rootfs, `runc spec` config)       {ms(runc)}")
            ratio = statistics.median(core) / statistics.median(runc)
            print(f"  ratio pycompose / runc: {ratio:.2f}x (goal <= 2x)")
        else:
            print("  runc not installed: no comparison")
        return 0
    finally:
        runtime.close()
        rootfs.unmount(merged)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
