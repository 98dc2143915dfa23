"""engine.pids on real processes: a running one, a zombie (exited, not yet reaped by us, its
parent), and a reaped one."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from engine.pids import is_zombie, pid_exists, pid_running


def test_a_running_process_exists_and_runs():
    assert pid_exists(os.getpid()) and pid_running(os.getpid())
    assert is_zombie(os.getpid()) is False


def test_a_zombie_exists_but_no_longer_runs_and_a_reaped_pid_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # not reaped until wait(): until then the kernel keeps it as a zombie
        deadline = time.monotonic() + 10
        while is_zombie(child.pid) is not True and time.monotonic() < deadline:
            time.sleep(0.01)
        assert is_zombie(child.pid) is True
        assert pid_exists(child.pid)
        assert not pid_running(child.pid)
    finally:
        child.wait()
    # reaped: the pid is free (reused only once the kernel's pid counter has wrapped)
    assert not pid_exists(child.pid)
    assert is_zombie(child.pid) is None
    assert not pid_running(child.pid)


def test_a_process_we_may_not_signal_still_exists():
    """EPERM from signal 0 means the pid is taken by someone else's process: asked by a
    forked child that has given up root, about pid 1 (root's)."""
    if os.geteuid() != 0:
        assert pid_exists(1)   # already the unprivileged case
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # child: only os-level calls, then _exit, so no pytest machinery runs twice
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, b"1" if pid_exists(1) else b"0")
        finally:
            os._exit(0)
    os.close(w)
    try:
        answer = os.read(r, 1)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert answer == b"1"
