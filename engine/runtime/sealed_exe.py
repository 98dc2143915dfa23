"""The zygote runs from a read-only view of the interpreter (the CVE-2019-5736 class).

Every runtime process between fork and execve is visible in the container's PID namespace, and
its /proc/<pid>/exe is the binary the zygote runs. A container that may open it (one with
CAP_SYS_PTRACE; without it the zygote's non-dumpable flag already refuses) could otherwise open
the host's interpreter for writing and replace it for everyone.

So the daemon does not run the zygote in the forked copy of itself: the fork takes a detached
bind mount of the interpreter file (open_tree(OPEN_TREE_CLONE), no path anywhere, gone with the
last process using it), makes that mount read-only (mount_setattr) and execs the interpreter
through it (execveat(AT_EMPTY_PATH)). /proc/<pid>/exe of the zygote and of every child it
forks then names a file on a read-only mount: opening it for writing fails with EROFS (and with
ETXTBSY while it runs), whatever capabilities the opener holds. The kernel keeps the mount alive
as long as a process maps the file, and nothing is left on the host.

argv[0] stays the daemon's `sys.executable`, so the new interpreter finds its prefix (pyenv,
Debian, a venv's symlink with its pyvenv.cfg) exactly as the daemon did; `-I -S` keeps it from
reading PYTHON* variables or user site directories, and the daemon's sys.path is handed over
explicitly.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.runtime import syscalls as sc

# The new interpreter's first statements: the daemon's import path, then the zygote.
_BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
         "from engine.runtime import zygote; zygote.main_after_exec(int(sys.argv[2]), "
         "int(sys.argv[3]))")


def import_path(path: list[str], cwd: str) -> list[str]:
    """The daemon's sys.path with "" (its working directory) made absolute, and the directory
    holding the `engine` package first, so the zygote imports the very same code."""
    ours = str(Path(__file__).resolve().parents[2])
    out = [ours]
    for entry in path:
        entry = entry or cwd
        if entry not in out:
            out.append(entry)
    return out


def zygote_argv(executable: str, path: list[str], sock_fd: int, daemon_pid: int) -> list[str]:
    return [executable, "-I", "-S", "-c", _BOOT, json.dumps(path), str(sock_fd),
            str(daemon_pid)]


def sealed_interpreter(executable: str) -> int:
    """An O_PATH fd of `executable` (symlinks resolved) on a detached read-only mount."""
    fd = sc.open_tree(os.path.realpath(executable))
    try:
        sc.mount_setattr(fd, sc.MOUNT_ATTR_RDONLY)
    except OSError:
        os.close(fd)
        raise
    return fd


def exec_zygote(sock_fd: int, daemon_pid: int) -> None:
    """In the freshly forked child: become the zygote through the read-only interpreter.

    Returns only by raising OSError (an old kernel without open_tree/mount_setattr, or a
    seccomp filter around the daemon that forbids them); then the caller decides."""
    fd = sealed_interpreter(sys.executable)
    try:
        os.set_inheritable(sock_fd, True)
        argv = zygote_argv(sys.executable, import_path(sys.path, os.getcwd()), sock_fd,
                           daemon_pid)
        sc.execveat(fd, argv, dict(os.environ))
    finally:
        os.close(fd)
        os.set_inheritable(sock_fd, False)
