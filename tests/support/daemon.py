"""Stopping test engines and cleaning their temp roots: by PID only, never by name."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def _gone(pid: int) -> bool:
    """True once `pid` has exited (reaped if it is our child; polled if it is not)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:  # not our child (e.g. an autostarted daemon)
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True


def stop_daemon(pid: int, timeout: float = 30) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL (and reap, if it is our child)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def unmount_below(root: Path) -> None:
    """Last-resort cleanup if a daemon left mounts in a test's temp root (it should not)."""
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in sorted((t for t in targets if t.startswith(str(root))), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
