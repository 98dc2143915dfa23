"""A real engine daemon per test module (own state root, socket and address pool) and a helper
running the real `pycompose` CLI in a project directory against it."""
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
from tests.support.daemon import stop_daemon as _stop, stop_daemon as stop_foreign, unmount_below as _unmount_below  # noqa: E501

CLI = [sys.executable, "-m", "compose.cli.main"]
ADDRESS_POOL = "10.238.0.0/16"   # ours alone: other modules' tests may run at the same time


@dataclass
class Engine:
    root: Path
    socket: Path
    env: dict[str, str]

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 60,
            check: bool = False, input: bytes | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run(CLI + list(args), env=self.env, cwd=cwd, capture_output=True,
                           timeout=timeout, input=input)
        out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                          r.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"{args} exited {out.returncode}:\n{out.stderr}")
        return out

    def client(self):
        from engine.client import Client

        return Client(self.socket)




def daemons_for(state_root: Path) -> list[int]:
    """Engine daemons serving `state_root`, found by their environment (PID-exact, never by
    name): `pycompose` autostarts a new daemon when a test's daemon dies, and that one must
    go too."""
    wanted = f"PYCOMPOSE_ROOT={state_root}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if wanted in env and b"engine.daemon" in cmdline:
            pids.append(int(entry.name))
    return pids




def _remove_everything(env: dict[str, str]) -> None:
    """Containers and networks are kept across daemon restarts (as Docker does), so a test
    that failed before its `down` would leave bridges behind: remove them through the API.
    If the daemon died during the test, a new one (autostarted on the same root) recovers
    the state and removes it."""
    from engine.client import Client

    try:
        with Client.from_env(autostart=True, env=env, timeout=30) as client:
            for c in client.containers(all=True):
                try:
                    client.remove_container(c["Id"], force=True, volumes=True)
                except Exception:   # noqa: BLE001 - best effort, the next one may still go
                    pass
            for n in client.networks():
                if n.get("Name") not in ("bridge", "host", "none"):
                    try:
                        client.remove_network(n["Name"])
                    except Exception:   # noqa: BLE001
                        pass
    except Exception:   # noqa: BLE001 - the daemon is gone: nothing to ask it
        pass




@pytest.fixture(scope="module")
def engine():
    from tests.support.busybox import make_busybox_tar

    root = Path(tempfile.mkdtemp(prefix="pcorc-", dir="/tmp"))
    sock = root / "engine.sock"
    env = dict(os.environ)
    env.update(PYCOMPOSE_ROOT=str(root / "state"), PYCOMPOSE_HOST=f"unix://{sock}",
               PYCOMPOSE_ADDRESS_POOL=ADDRESS_POOL, NO_COLOR="1")
    env.pop("PYCOMPOSE_DEBUG", None)
    (root / "state").mkdir()
    log = open(root / "daemon.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.daemon"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    eng = Engine(root / "state", sock, env)
    try:
        from engine.client import Client

        client = Client(sock)
        deadline = time.monotonic() + 20
        while not client.ping():
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (root / "daemon.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"engine did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.05)
        tar = make_busybox_tar(root / "busybox.tar")
        with open(tar, "rb") as f:
            client.import_image(f, repo="busybox", tag="latest")
        client.close()
        yield eng
    finally:
        _remove_everything(env)
        _stop(proc.pid)
        for pid in daemons_for(root / "state"):
            stop_foreign(pid)
        log.close()
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def project(engine, tmp_path, request):
    """A project directory with a unique project name; `down -v -t 0` runs in any case."""
    name = "pc" + request.node.name.replace("test_", "")[:12].replace("_", "").lower()
    directory = tmp_path / name
    directory.mkdir()
    yield directory
    engine.cli("-p", name, "down", "-v", "-t", "0", "--remove-orphans", cwd=directory)
