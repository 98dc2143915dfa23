"""Fixtures for build tests: a temp image store with a busybox base image, and a Builder that
runs RUN steps through a real runtime (zygote) and real cgroups.

The runtime's zygote is forked once per session, before any worker thread exists (trio's
thread cache keeps threads for ~10 s, so the fork waits for them to go). Everything a test
creates lives in its own temp dir; the `no_leftovers` check asserts that no overlay mount and
no pycompose cgroup of ours stays behind.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import trio

from tests.support.busybox import make_busybox_tar


@pytest.fixture(scope="session")
def runtime():
    from engine.runtime.runtime import Runtime
    deadline = time.monotonic() + 20
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    rt = Runtime.launch()
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory) -> Path:
    return make_busybox_tar(tmp_path_factory.mktemp("bbtar") / "busybox.tar")


def _cgroup_names(driver) -> set[str]:
    names = set()
    for parent in driver.parents():
        try:
            names.update(n for n in os.listdir(parent) if n.startswith("pycompose-build-"))
        except OSError:
            pass
    return names


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


class Env:
    """A store + builder in a temp root; `build()` runs one build and returns its messages."""

    def __init__(self, root: Path, runtime, busybox_tar: Path) -> None:
        from engine.build.builder import Builder
        from engine.images.store import ImageStore
        from engine.runtime import cgroups
        self.root = root
        self.runtime = runtime
        self.store = ImageStore(root / "images")
        with open(busybox_tar, "rb") as f:
            self.store.import_rootfs(f, "busybox:latest")
        self.driver = cgroups.detect()
        self.cgroups_before = _cgroup_names(self.driver)
        self.builder = Builder(self.store, runtime, self.driver, root / "build")
        self.ctx = root / "ctx"
        self.ctx.mkdir()

    def write(self, files: dict[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.ctx / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def run_trio(self, fn: Callable):
        rt = self.runtime

        async def main():
            out: list = []
            async with trio.open_nursery() as nursery:
                await nursery.start(rt.serve)
                try:
                    out.append(await fn())
                except BaseException as exc:
                    out.append(exc)
                finally:
                    nursery.cancel_scope.cancel()
            if isinstance(out[0], BaseException):
                raise out[0]
            return out[0]

        return trio.run(main)

    def build(self, dockerfile: str | None = None, **options):
        """(BuildResult, messages); raises what the builder raises (messages in .messages)."""
        from engine.build.builder import BuildOptions
        from engine.build.context import BuildContext
        if dockerfile is not None:
            self.write({"Dockerfile": dockerfile})
        self.messages: list[dict] = []
        opts = BuildOptions(**options)
        result = self.run_trio(lambda: self.builder.build(BuildContext(self.ctx), opts,
                                                          self.messages.append))
        return result, self.messages

    def output(self) -> str:
        return "".join(m.get("stream", "") for m in self.messages)

    def run_image(self, ref: str, args: tuple[str, ...] | None = None) -> tuple[int, str]:
        """Run the image's command (or `args`) in a throwaway container; (exit code, output)."""
        from engine.build.sandbox import RunRequest, Sandbox, run_process
        from engine.build.stepnet import NONE, StepNetwork
        from engine.runtime.spec import User
        image = self.store.get(ref)
        cfg = image.config
        argv = args or tuple((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
        chunks: list[bytes] = []

        async def go():
            with Sandbox(self.store.layer_paths(image), self.root / "run") as box:
                return await run_process(self.runtime, self.driver, box, RunRequest(
                    argv, tuple(cfg.get("Env") or ["PATH=/bin:/usr/bin"]),
                    cfg.get("WorkingDir") or "/", User(), (), StepNetwork(NONE)), chunks.append)

        status = self.run_trio(go)
        return status.code, b"".join(chunks).decode()

    def layer_tars(self, ref: str) -> list[bytes]:
        import json
        image = self.store.get(ref)
        refs = self.store.layer_refs(image)
        return [self.store.blob_path(r.blob).read_bytes() for r in refs] + \
            [json.dumps(self.store.history(ref)).encode()]

    def assert_clean(self) -> None:
        assert _mounts_under(self.root) == []
        assert _cgroup_names(self.driver) - self.cgroups_before == set()
        work = self.root / "build" / "work"
        assert not work.exists() or list(work.iterdir()) == []


@pytest.fixture
def env(tmp_path_factory, runtime, busybox_tar):
    root = tmp_path_factory.mktemp("buildenv")
    e = Env(root, runtime, busybox_tar)
    try:
        yield e
    finally:
        from engine.runtime import rootfs
        for target in reversed(_mounts_under(root)):
            rootfs.unmount(Path(target))
        shutil.rmtree(root, ignore_errors=True)
