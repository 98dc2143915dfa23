"""The zygote runs from a read-only view of the interpreter (the CVE-2019-5736 class).

Every runtime process between fork and execve is visible in the container's PID namespace, and
its /proc/<pid>/exe is the binary the zygote runs. A container that may open it (one with
CAP_SYS_PTRACE; without it the zygote's non-dumpable flag already refuses) could otherwise open
the host's interpreter for writing and replace it for everyone.

So the daemon does not run the zygote in the forked copy of itself: the fork makes a detached
overlayfs mount whose only layers are the interpreter's directory and an empty one (no upper
layer: overlayfs refuses every write, whatever the mount flags say), opens the interpreter in
it and execs that (execveat(AT_EMPTY_PATH)). /proc/<pid>/exe of the zygote and of every child
it forks then names a file no one can write through: EROFS (and ETXTBSY while it runs). The
mount is attached nowhere, nothing is left on the host, and the kernel keeps it as long as a
process runs the file. Where overlayfs cannot be made, a detached read-only bind mount of the
file (open_tree + mount_setattr) is the fallback: read-only by a mount flag only (plus ETXTBSY
while it runs), not by its file system. Where neither works (old kernels), the zygote serves
from the daemon's fork and says so on stderr.

argv[0] stays the daemon's `sys.executable`, so the new interpreter finds its prefix (pyenv,
Debian, a venv's symlink with its pyvenv.cfg) exactly as the daemon did; `-I -S` keeps it from
reading PYTHON* variables or user site directories, and the daemon's sys.path is handed over
explicitly.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
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
    """An O_PATH fd of `executable` (symlinks resolved) that no one can write through."""
    path = os.path.realpath(executable)
    try:
        return _overlay_view(path)
    except OSError:
        return _bind_view(path)


def _overlay_lowerdir(path: str) -> str:
    """One lowerdir entry: ':' separates layers and '\\' escapes, so both are escaped."""
    return path.replace("\\", "\\\\").replace(":", "\\:")


def _overlay_view(path: str) -> int:
    directory, name = os.path.split(path)
    # overlayfs wants two lower layers to run without an upper one; the empty one may go
    # as soon as the superblock exists
    scratch = "/run" if os.access("/run", os.W_OK) else None
    empty = tempfile.mkdtemp(prefix="pc-exeseal-", dir=scratch)
    try:
        ctx = sc.fsopen("overlay")
        try:
            sc.fsconfig(ctx, sc.FSCONFIG_SET_STRING, "lowerdir",
                        f"{_overlay_lowerdir(directory)}:{_overlay_lowerdir(empty)}")
            try:  # inode number mapping is of no use here and may log to dmesg
                sc.fsconfig(ctx, sc.FSCONFIG_SET_STRING, "xino", "off")
            except OSError:
                pass
            sc.fsconfig(ctx, sc.FSCONFIG_CMD_CREATE)
            mnt = sc.fsmount(ctx, sc.FSMOUNT_CLOEXEC, sc.MOUNT_ATTR_RDONLY
                             | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV)
        finally:
            os.close(ctx)
    finally:
        os.rmdir(empty)
    try:
        return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=mnt)
    finally:
        os.close(mnt)


def _bind_view(path: str) -> int:
    fd = sc.open_tree(path)
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
