"""Any engine command starts the daemon when its socket does not answer; `engine stop` ends it."""
from __future__ import annotations

import shutil

import pytest

from engine.client import Client

from .conftest import Engine, engine_env, make_root, purge_networks, stop_daemon, unmount_below

pytestmark = pytest.mark.integration


def test_autostart_then_status_then_stop():
    root = make_root()
    sock = root / "engine.sock"
    eng = Engine(root / "state", sock, engine_env(root / "state", sock))
    pid = None
    try:
        r = eng.cli("engine", "status")
        assert r.returncode == 1 and "engine: down" in r.stdout
        r = eng.cli("container", "ps", "-a")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("CONTAINER ID")
        pid = Client(sock).daemon_pid()
        assert pid is not None
        assert (root / "state" / "engine.log").exists()
        r = eng.cli("engine", "status")
        assert r.returncode == 0 and f"pid:    {pid}" in r.stdout
        r = eng.cli("engine", "stop")
        assert r.returncode == 0 and f"stopped (pid {pid})" in r.stdout
        assert not Client(sock).ping()
        pid = None
    finally:
        if pid:
            stop_daemon(pid)
        unmount_below(root)
        purge_networks(root / "state")
        shutil.rmtree(root, ignore_errors=True)


def test_engine_serve_execs_the_daemon_in_the_foreground():
    import subprocess
    import time

    from .conftest import CLI

    root = make_root()
    sock = root / "engine.sock"
    eng = Engine(root / "state", sock, engine_env(root / "state", sock))
    proc = subprocess.Popen(CLI + ["engine", "serve"], env=eng.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not Client(sock).ping():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # exec, not a child process: the CLI's pid is the daemon's
        assert Client(sock).daemon_pid() == proc.pid
        r = eng.cli("engine", "stop")
        assert r.returncode == 0 and f"stopped (pid {proc.pid})" in r.stdout
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            stop_daemon(proc.pid)
            proc.wait()
        unmount_below(root)
        purge_networks(root / "state")
        shutil.rmtree(root, ignore_errors=True)


def test_autostart_replaces_a_crashed_engine():
    import os
    import signal
    import time

    root = make_root()
    sock = root / "engine.sock"
    eng = Engine(root / "state", sock, engine_env(root / "state", sock))
    pids: list[int] = []
    try:
        assert eng.cli("container", "ps").returncode == 0
        pids.append(Client(sock).daemon_pid())
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Client(sock).daemon_pid() is not None:  # the stale socket file stays behind
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sock.exists()
        r = eng.cli("container", "ps", "-a")
        assert r.returncode == 0, r.stderr
        pids.append(Client(sock).daemon_pid())
        assert pids[1] not in (None, pids[0])
    finally:
        for pid in pids[1:]:
            if pid:
                stop_daemon(pid)
        unmount_below(root)
        purge_networks(root / "state")
        shutil.rmtree(root, ignore_errors=True)
