#!/usr/bin/env python3
"""What the zygote costs: launch -> first answer, start -> exit of /bin/true, exec of /bin/true.

Launch: `Runtime.launch()` until the zygote answers its first request (an Exec into a pid it does
not know, which it refuses at once), i.e. the earliest a daemon could start a container. Start:
cgroup create + Runtime.start + wait. Exec: Runtime.exec + wait of /bin/true in a running
`sleep`. Median (min-max) ms; launches are repeated LAUNCHES times, the rest RUNS times after
WARMUP. Next to each wall-clock median, the CPU time the zygote and everything it forked used
(getrusage of reaped children once the zygote exited; minus one launch for start/exec), which a
loaded machine does not distort as much. Needs root; leaves nothing behind.
"""
from __future__ import annotations

import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402

from engine.errors import NotRunning  # noqa: E402
from engine.runtime import cgroups, rootfs  # noqa: E402
from engine.runtime.runtime import Process, Runtime  # noqa: E402
from engine.runtime.spec import ContainerSpec, ProcessSpec, Resources  # noqa: E402
from tests.support.busybox import make_busybox_rootfs  # noqa: E402

LAUNCHES, RUNS, WARMUP = 15, 40, 5
ENV = ("PATH=/bin",)


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.2f}  ({min(samples):.2f}-{max(samples):.2f})"


def children_cpu_ms() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (use.ru_utime + use.ru_stime) * 1000


def launch_once(spec: ContainerSpec) -> float:
    t0 = time.perf_counter()
    runtime = Runtime.launch()

    async def first_answer() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.serve)
            try:
                await runtime.exec(Process(1, -1), spec, spec.process, _NoCgroup())
            except NotRunning:
                pass
            nursery.cancel_scope.cancel()

    try:
        trio.run(first_answer)
        return (time.perf_counter() - t0) * 1000
    finally:
        runtime.close()


class _NoCgroup:
    def procs_files(self) -> list[str]:
        return []


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pcbench-"))
    merged = tmp / "merged"
    driver = cgroups.detect()
    made: list[cgroups.Cgroup] = []
    mounted = False
    try:
        lower = make_busybox_rootfs(tmp / "lower")
        for d in ("upper", "work", "merged"):
            (tmp / d).mkdir()
        rootfs.mount_overlay([lower], tmp / "upper", tmp / "work", merged)
        mounted = True

        def spec_of(*args: str) -> ContainerSpec:
            return ContainerSpec(id=secrets.token_hex(32), rootfs=str(merged), hostname="bench",
                                 network="none", process=ProcessSpec(args=args, env=ENV))

        launches, launch_cpu = [], []
        for _ in range(LAUNCHES):
            cpu0 = children_cpu_ms()
            launches.append(launch_once(spec_of("/bin/true")))
            launch_cpu.append(children_cpu_ms() - cpu0)
        starts: list[float] = []
        execs: list[float] = []
        cpu: dict[str, float] = {}

        def phase(name: str, body) -> None:
            nonlocal runtime
            cpu0 = children_cpu_ms()
            runtime = Runtime.launch()
            try:
                trio.run(body)
            finally:
                runtime.close()
            cpu[name] = (children_cpu_ms() - cpu0 - statistics.median(launch_cpu)) / (
                WARMUP + RUNS)

        runtime: Runtime

        async def bench_start() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.serve)
                for i in range(WARMUP + RUNS):
                    spec = spec_of("/bin/true")
                    t0 = time.perf_counter()
                    cg = driver.create(f"pycompose-{spec.id[:12]}-{i}", Resources())
                    made.append(cg)
                    proc = await runtime.start(spec, cg)
                    await runtime.wait(proc)
                    if i >= WARMUP:
                        starts.append((time.perf_counter() - t0) * 1000)
                    runtime.release(proc)
                nursery.cancel_scope.cancel()

        async def bench_exec() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.serve)
                spec = spec_of("sleep", "1000")
                cg = driver.create(f"pycompose-{spec.id[:12]}-x", Resources())
                made.append(cg)
                sleeper = await runtime.start(spec, cg)
                true = ProcessSpec(args=("/bin/true",), env=ENV)
                for i in range(WARMUP + RUNS):
                    t0 = time.perf_counter()
                    ex = await runtime.exec(sleeper, spec, true, cg)
                    await runtime.wait(ex)
                    if i >= WARMUP:
                        execs.append((time.perf_counter() - t0) * 1000)
                    runtime.release(ex)
                runtime.signal(sleeper, 9)
                await runtime.wait(sleeper)
                runtime.release(sleeper)
                nursery.cancel_scope.cancel()

        phase("start", bench_start)
        phase("exec", bench_exec)
        print("median (min-max) ms; CPU ms per operation")
        print(f"  launch -> zygote's first answer ({LAUNCHES}x)   {ms(launches)}   "
              f"cpu {statistics.median(launch_cpu):6.2f}")
        print(f"  start -> exit of /bin/true ({RUNS}x)         {ms(starts)}   "
              f"cpu {cpu['start']:6.2f}")
        print(f"  exec -> exit of /bin/true ({RUNS}x)          {ms(execs)}   "
              f"cpu {cpu['exec']:6.2f}")
        return 0
    finally:
        for cg in made:
            cg.remove()
        if mounted:
            rootfs.unmount(merged)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
