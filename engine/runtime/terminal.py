"""Terminals from the container's own devpts instance (a pty from the host's devpts has no name
inside the container: `tty` prints "not a tty").

Called inside the container after pivot_root: /dev/ptmx is the container's `pts/ptmx`, so the
slave is /dev/pts/N *inside* and `tty` can name it. The master goes back to the daemon over
SCM_RIGHTS; the daemon relays it and treats EIO on read as end of stream.
"""
from __future__ import annotations

import fcntl
import os
import struct
import termios

from engine.runtime import syscalls as sc


def open_pty() -> tuple[int, int]:
    """(master, slave) fds, both close-on-exec (the slave is dup'ed onto 0-2 later)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, sc.TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, sc.TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        os.close(master)
        raise
    return master, slave


def make_controlling(slave: int) -> None:
    """New session with `slave` as controlling terminal and stdio."""
    os.setsid()
    fcntl.ioctl(slave, sc.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """Resize a pty (called on the master by the daemon's resize endpoint)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
