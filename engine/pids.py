"""Whether a pid still names a process, for the daemon (whose tmp/ debris is its owner's) and
the client (`engine stop` waits for the daemon to go). Pure of engine state; cheap to import."""
from __future__ import annotations

import os


def pid_exists(pid: int) -> bool:
    """A process (a zombie included) has this pid. Signal 0 checks without sending anything;
    EPERM means it exists but belongs to someone we may not signal."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_zombie(pid: int) -> bool | None:
    """True for a zombie (exited, not reaped by its parent), False if running, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the state letter follows the command name, which may itself hold ") "
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"Z"


def pid_running(pid: int) -> bool:
    """The process has not exited: it exists and is no zombie."""
    return pid_exists(pid) and is_zombie(pid) is False
