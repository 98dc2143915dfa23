"""Reading our end of a process's output pipe (or pty master) under trio, to its end.

The fd stays the caller's: it is only made non-blocking, never closed here, so a caller that
also passes it elsewhere (or closes it in its own `finally`) keeps control of its lifetime.
"""
from __future__ import annotations

import errno
import os
from typing import Callable

import trio

# One read takes what a default pipe holds and more: few wake-ups for a chatty process.
CHUNK = 65536


async def pump(fd: int, sink: Callable[[bytes], None]) -> None:
    """Hand every chunk read from `fd` to `sink` until EOF. A pty master's EIO once the last
    slave side is closed is how a terminal says EOF, so it ends the pump too."""
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(fd)
            continue
        except OSError as e:
            if e.errno == errno.EIO:
                return
            raise
        if not data:
            return
        sink(data)

