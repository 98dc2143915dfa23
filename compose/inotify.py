"""Linux inotify through ctypes: the one kernel facility both the warm server's code watch
(compose/cli/warm_watch.py) and `pycompose watch` (compose/orchestrator/inotify.py) stand on.
No dependency: a watcher library would add a compiled wheel for these few calls."""
from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterator

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_ISDIR = 0x40000000
# every change to a directory's entries or to the directory itself
DIRECTORY_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
                  | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len, then the name


class Inotify:
    """One non-blocking, close-on-exec inotify instance."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd = fd

    def add_watch(self, directory: str, mask: int = DIRECTORY_MASK) -> int | None:
        """The watch descriptor; None when the directory is gone (or no longer one)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise OSError(err, f"cannot watch {directory}: {os.strerror(err)}")
        return wd

    def rm_watch(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)

    def events(self) -> Iterator[tuple[int, int, str]]:
        """(wd, mask, name) of every event waiting now; never blocks."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size:offset + _EVENT.size + length]
                offset += _EVENT.size + length
                yield wd, mask, os.fsdecode(raw.rstrip(b"\0"))

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
