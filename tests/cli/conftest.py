"""An engine daemon per test module, in its own state root, socket and address pool, and a
helper to run the real `pycompose` CLI against it in a subprocess."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.busybox import make_busybox_tar
from tests.support.daemon import stop_daemon, unmount_below  # noqa: F401 (used by test modules too)

CLI = [sys.executable, "-m", "compose.cli.main"]
# a pool of our own so parallel test modules of other engineers never collide with ours
ADDRESS_POOL = "10.237.0.0/16"


@dataclass
class Engine:
    root: Path
    socket: Path
    env: dict[str, str]
    pid: int | None = None

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(CLI + list(args), env=self.env, input=input,
                                capture_output=True, timeout=timeout)
        out = subprocess.CompletedProcess(result.args, result.returncode,
                                          result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"{args} exited {out.returncode}: {out.stderr}")
        return out


def engine_env(root: Path, socket: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYCOMPOSE_ROOT=str(root), PYCOMPOSE_HOST=f"unix://{socket}",
               PYCOMPOSE_ADDRESS_POOL=ADDRESS_POOL, NO_COLOR="1")
    env.pop("PYCOMPOSE_DEBUG", None)
    return env






def purge_networks(state_root: Path) -> None:
    """Remove the bridges and firewall rules a stopped daemon left (its default network
    outlives it, like docker0), so a temp-root engine leaves nothing on the host."""
    if not (state_root / "network").exists():
        return
    from netbridge.manager import NetworkManager

    manager = NetworkManager(state_root / "network", ADDRESS_POOL)
    try:
        manager.cleanup(set())
        for net in manager.list():
            manager.remove(net.id)
    finally:
        manager.close()


def make_root() -> Path:
    # short: unix socket paths are limited to 107 bytes
    return Path(tempfile.mkdtemp(prefix="pccli-", dir="/tmp"))


@pytest.fixture(scope="module")
def engine():
    root = make_root()
    sock = root / "engine.sock"
    env = engine_env(root / "state", sock)
    (root / "state").mkdir()
    log = open(root / "daemon.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    eng = Engine(root / "state", sock, env, proc.pid)
    try:
        from engine.client import Client

        deadline = time.monotonic() + 20
        client = Client(sock)
        while not client.ping():
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (root / "daemon.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"engine did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.05)
        tar = make_busybox_tar(root / "busybox.tar")
        eng.cli("image", "import", str(tar), "busybox:latest", check=True)
        yield eng
    finally:
        stop_daemon(proc.pid)
        proc.wait()
        log.close()
        unmount_below(root)
        purge_networks(root / "state")
        shutil.rmtree(root, ignore_errors=True)
