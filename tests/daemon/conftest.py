"""A real engine daemon per test module (subprocess, own root/socket/pool), driven with the
docker SDK; teardown stops it with SIGTERM by PID and asserts it left nothing behind."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pool(name: str) -> str:
    return f"10.{150 + (sum(map(ord, name)) % 50)}.0.0/16"


@dataclass
class Daemon:
    base: Path
    root: Path
    sock: Path
    env: dict
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        log = open(self.base / "daemon.out", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=self.env,
                                     cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("engine died at start:\n" + self.output())
            if ping(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("engine did not answer /_ping:\n" + self.output())

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def output(self) -> str:
        text = ""
        for name in ("daemon.out", "root/engine.log"):
            p = self.base / name
            if p.exists():
                text += p.read_text(errors="replace")[-4000:]
        return text

    def client(self):
        import docker
        return docker.DockerClient(base_url=f"unix://{self.sock}", version="1.41", timeout=120)

    def created_ids(self) -> set[str]:
        log = self.root / "engine.log"
        return set(re.findall(r"created container ([0-9a-f]{12})", log.read_text())) \
            if log.exists() else set()


def ping(sock: Path) -> bool:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(str(sock))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(100)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def mounts_under(root: Path) -> list[str]:
    base = os.path.realpath(root)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == base or p.startswith(base + "/")]


def container_processes(ids: set[str]) -> list[int]:
    """PIDs whose cgroup is one of these containers' (`pycompose-<id12>`, in any hierarchy)."""
    names = {f"pycompose-{short}" for short in ids}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                text = f.read()
        except OSError:
            continue
        if any(name in text for name in names):
            found.append(int(entry))
    return found


def cgroups_of(ids: set[str]) -> list[str]:
    from engine.runtime import cgroups
    found = []
    for parent in cgroups.detect().parents():
        for short in ids:
            d = parent / f"pycompose-{short}"
            if d.exists():
                found.append(str(d))
    return found


def assert_clean(daemon: Daemon) -> None:
    assert mounts_under(daemon.root) == []
    assert container_processes(daemon.created_ids()) == []
    assert cgroups_of(daemon.created_ids()) == []


def remove_test_root(daemon: Daemon) -> None:
    """The daemon's temp dir goes, unless PYCOMPOSE_KEEP_TEST_ROOT=1 asks to keep it to look at."""
    if os.environ.get("PYCOMPOSE_KEEP_TEST_ROOT") != "1":
        shutil.rmtree(daemon.base, ignore_errors=True)


def stop_leaving_nothing(daemon: Daemon) -> None:
    """Stop a started daemon by PID; it must exit 0 and leave nothing behind. Its temp dir goes
    either way (see remove_test_root)."""
    code = daemon.stop()
    try:
        assert code == 0, daemon.output()
        assert_clean(daemon)
    finally:
        remove_test_root(daemon)


def make_daemon(tmp_path_factory, name: str) -> Daemon:
    base = tmp_path_factory.mktemp(name)
    root, sock = base / "root", base / "run" / "engine.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCOMPOSE_")}
    env.update(PYCOMPOSE_ROOT=str(root), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=_pool(name), PYTHONPATH=str(REPO))
    return Daemon(base, root, sock, env)


def import_busybox(client, base: Path) -> None:
    from tests.support.busybox import make_busybox_tar
    tar = make_busybox_tar(base / "busybox.tar")
    client.api.import_image_from_data(tar.read_bytes(), repository="busybox", tag="latest")


@contextlib.contextmanager
def module_daemon(tmp_path_factory, request):
    """An engine for one test module, with busybox imported; stopped by PID at the end, and it
    must have left nothing behind."""
    if os.geteuid() != 0:
        pytest.fail("integration tests need root")
    d = make_daemon(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])
    d.start()
    try:
        import_busybox(d.client(), d.base)
        yield d
    finally:
        stop_leaving_nothing(d)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, request):
    with module_daemon(tmp_path_factory, request) as d:
        yield d


@pytest.fixture
def canary():
    """A host directory holding `secret`, which no container may read or change (tests hand
    its path to containers as a symlink target) and no copy may write into."""
    d = Path("/tmp") / f"pc-canary-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    (d / "secret").write_text("host secret\n")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class DirFactory:
    """pytest's tmp_path_factory.mktemp below a fixed directory, for benches that start an
    engine with make_daemon outside pytest."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / name
        path.mkdir()
        return path


@pytest.fixture(scope="module")
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


def wait_for(predicate, timeout: float = 15, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
