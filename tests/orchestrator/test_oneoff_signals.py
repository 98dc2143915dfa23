"""`run --rm` goes with its client (issue #16, item 9): SIGTERM or SIGHUP to `pycompose run` stops
and removes the one-off; a client killed outright (SIGKILL) is noticed by the engine, which stops
the container (it was created with AutoRemove, so it is removed too). Both the in-process CLI
(PYCOMPOSE_WARM=0) and the warm path (a worker the client forwards signals to)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from .test_compose_integration import containers, write

pytestmark = pytest.mark.integration

SERVICE = """
services:
  job:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""
CLI = [sys.executable, "-m", "compose.cli.main"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def env_for(engine, warm: bool) -> dict[str, str]:
    env = dict(engine.env, PYCOMPOSE_WARM="1" if warm else "0", PYCOMPOSE_WARM_TRACE="1")
    if warm:
        # a first command starts the warm server in the background; wait for its socket
        subprocess.run(CLI + ["version"], env=env, capture_output=True, timeout=60)
        wait_for(lambda: os.path.exists(f"{engine.socket}.cli"), 30, "the warm server")
    return env


def start_run(engine, project, warm: bool, stdin) -> subprocess.Popen:
    write(project, SERVICE)
    proc = subprocess.Popen(CLI + ["run", "--rm", "-T", "job"], cwd=project,
                            env=env_for(engine, warm), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(c["State"]["Status"] == "running"
                             for c in containers(engine, project.name).values()),
                 60, "the one-off to run")
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signalled_run_rm_stops_and_removes_its_one_off(engine, project, warm, signum):
    proc = start_run(engine, project, warm, subprocess.PIPE)
    try:
        assert proc.poll() is None
        os.kill(proc.pid, signum)
        _out, err = proc.communicate(timeout=30)
        assert (b"warm worker" in err) is warm, err
        # 128+signal in-process; the warm client dies by the worker's way out (exit 128+signal)
        assert proc.returncode == 128 + signum, err
        assert containers(engine, project.name) == {}
    finally:
        stop(proc)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("stdin", ["open", "ended"])
def test_a_killed_run_rm_client_is_noticed_by_the_engine(engine, project, warm, stdin):
    """SIGKILL leaves the CLI no chance: the engine sees the attach connection close (also after
    the client had ended its stdin, `ended`) and stops the auto-remove one-off."""
    proc = start_run(engine, project, warm,
                     subprocess.PIPE if stdin == "open" else subprocess.DEVNULL)
    try:
        time.sleep(0.3)   # `ended`: the client's stdin EOF has reached the engine
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        wait_for(lambda: containers(engine, project.name) == {}, 15,
                 "the engine to stop and remove the one-off")
    finally:
        stop(proc)


def test_run_rm_keeps_its_exit_code_with_the_engine_removing_it(engine, project):
    write(project, SERVICE)
    r = engine.cli("run", "--rm", "-T", "job", "sh", "-c", "echo out; exit 5", cwd=project,
                   input=b"")
    assert r.returncode == 5, r.stderr
    assert r.stdout == "out\n"
    assert containers(engine, project.name) == {}


def test_a_detached_run_rm_is_removed_by_the_engine_when_it_exits(engine, project):
    write(project, SERVICE)
    r = engine.cli("run", "-d", "--rm", "job", "sh", "-c", "sleep 0.5", cwd=project)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: containers(engine, project.name) == {}, 15, "the auto-removal")


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_closing_the_terminal_of_a_run_rm_removes_its_one_off(engine, project, warm):
    """The real case: `run --rm` on a terminal (a tty one-off) whose window is closed. The kernel
    hangs up the terminal (SIGHUP) and its output now fails."""
    from tests.support.terminal import Terminal

    write(project, SERVICE)
    term = Terminal(CLI + ["run", "--rm", "job"], env_for(engine, warm), cwd=str(project))
    try:
        wait_for(lambda: any(c["State"]["Status"] == "running" and c["Config"]["Tty"]
                             for c in containers(engine, project.name).values()),
                 60, "the one-off to run on a tty")
        os.close(term.fd)                       # the window closes
        term.fd = os.open(os.devnull, os.O_RDONLY)   # (for term.close below)
        wait_for(lambda: containers(engine, project.name) == {}, 30,
                 "the one-off to go with its terminal")
        assert term.exit_code(timeout=30) != 0
    finally:
        term.close()


def test_run_rm_of_a_missing_command_exits_127_and_leaves_nothing(engine, project):
    """The AutoRemove one-off never ran (the engine removes it only after an exit): run removes
    it, and the wait issued before the start does not hang."""
    write(project, SERVICE)
    r = engine.cli("run", "--rm", "-T", "job", "no-such-command", cwd=project, input=b"",
                   timeout=60)
    assert r.returncode == 127, r.stderr
    assert "Traceback" not in r.stderr
    assert containers(engine, project.name) == {}
