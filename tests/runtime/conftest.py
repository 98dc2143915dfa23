"""Fixtures for runtime tests: a busybox lower layer, and a `Box` that makes real containers.

Everything a Box creates (overlay mounts, cgroups, the zygote and its containers, temp dirs)
is torn down in the fixture's finalizer, also when the test fails.
"""
from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable

import pytest
import trio

from engine.runtime import cgroups, pipes, rootfs
from engine.runtime.runtime import ExitStatus, Runtime, Stdio
from engine.runtime.spec import ContainerSpec, Mount, ProcessSpec, Resources, User
from tests.support.busybox import make_busybox_rootfs

ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root")


def _wait_for_idle_trio_workers(timeout: float = 15) -> None:
    """An earlier test module's trio.to_thread (tests/netbridge runs first in one pytest
    process) leaves trio's cached worker threads behind; they exit after 10 s idle, and the
    zygote may only be forked while this is the process's only thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        others = [t for t in threading.enumerate() if t is not threading.current_thread()]
        if not others or not all(t.name.startswith("Trio thread") for t in others):
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def busybox_lower(tmp_path_factory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


class Box:
    """Makes containers over one busybox lower layer; remembers what to clean up."""

    def __init__(self, lower: Path, tmp: Path) -> None:
        self.lower = lower
        self.tmp = tmp
        self._runtime: Runtime | None = None
        self.driver = cgroups.detect()
        self.mounts: list[Path] = []
        self.cgroups: list[cgroups.Cgroup] = []

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:  # lazily: tests may change os.environ first
            _wait_for_idle_trio_workers()
            self._runtime = Runtime.launch()
        return self._runtime

    def rootfs(self, lowers: list[Path] | None = None) -> tuple[Path, Path]:
        """A fresh overlay; returns (merged, upper)."""
        d = self.tmp / secrets.token_hex(4)
        for name in ("upper", "work", "merged"):
            (d / name).mkdir(parents=True)
        rootfs.mount_overlay(lowers or [self.lower], d / "upper", d / "work", d / "merged")
        self.mounts.append(d / "merged")
        return d / "merged", d / "upper"

    def spec(self, *args: str, env: tuple[str, ...] = ENV, user: User = User(),
             cwd: str = "/", tty: bool = False, merged: Path | None = None,
             process_kw: dict | None = None, **kw) -> ContainerSpec:
        if merged is None:
            merged, _ = self.rootfs()
        kw.setdefault("network", "none")
        return ContainerSpec(id=secrets.token_hex(32), rootfs=str(merged),
                             hostname=kw.pop("hostname", "box"),
                             process=ProcessSpec(args=args, env=env, cwd=cwd, user=user, tty=tty,
                                                 **(process_kw or {})), **kw)

    def cgroup(self, spec: ContainerSpec) -> cgroups.Cgroup:
        cg = self.driver.create(f"pycompose-{spec.id[:12]}-1", spec.resources)
        self.cgroups.append(cg)
        return cg

    def run(self, fn: Callable[[Runtime], Awaitable]) -> object:
        """trio.run(fn(runtime)) with the runtime's reader task alive."""
        runtime = self.runtime

        async def main():
            result: list = []
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.serve)
                try:
                    result.append(await fn(runtime))
                except Exception as e:  # re-raised bare, not inside an ExceptionGroup
                    result.append(e)
                finally:
                    nursery.cancel_scope.cancel()
            if isinstance(result[0], Exception):
                raise result[0]
            return result[0]

        return trio.run(main)

    async def capture(self, runtime: Runtime, spec: ContainerSpec,
                      cg: cgroups.Cgroup | None = None, **start_kw) -> tuple[ExitStatus, str]:
        """Run spec to completion (`start_kw` go to `runtime.start`); (status, stdout+stderr)."""
        proc, r = await start_piped(runtime, spec, cg or self.cgroup(spec), **start_kw)
        try:
            output = await read_all(r)
            status = await runtime.wait(proc)
            runtime.release(proc)
        finally:
            os.close(r)
        return status, output

    def output(self, *args: str, **kw) -> tuple[ExitStatus, str]:
        spec = self.spec(*args, **kw)
        return self.run(lambda rt: self.capture(rt, spec))

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        errors = []
        for cg in self.cgroups:
            try:
                cg.remove()
            except Exception as e:  # keep cleaning
                errors.append(e)
        for m in reversed(self.mounts):
            rootfs.unmount(m)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise errors[0]


async def start_piped(runtime: Runtime, spec: ContainerSpec, cg: cgroups.Cgroup, **start_kw):
    """Start `spec` with its stdout and stderr on one pipe (`start_kw` go to `runtime.start`):
    (the process, the pipe's read end, which the caller closes). Our write end is closed either
    way, so EOF comes when the container's side is gone."""
    r, w = os.pipe()
    try:
        proc = await runtime.start(spec, cg, Stdio(stdout=w, stderr=w), **start_kw)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return proc, r


async def read_all(fd: int) -> str:
    """Everything until EOF (a pty master's EIO included), read as the engine reads it."""
    chunks: list[bytes] = []
    await pipes.pump(fd, chunks.append)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture
def box(busybox_lower, tmp_path_factory):
    b = Box(busybox_lower, tmp_path_factory.mktemp("box"))
    try:
        yield b
    finally:
        b.close()


__all__ = ["Box", "ENV", "Mount", "Resources", "User", "read_all", "start_piped"]
