"""Byte plumbing between container processes and API clients.

`OutputHub` fans one container's output out to live attach subscribers (bounded channels; a
subscriber that falls behind loses chunks rather than stalling log capture). `IoSession` is what
the API layer pumps over a hijacked connection, for attach and exec alike.
"""
from __future__ import annotations

import fcntl
import logging
import os
import struct
import termios
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import trio

log = logging.getLogger("engine.containers")

STDOUT, STDERR = 1, 2
STREAM_IDS = {"stdout": STDOUT, "stderr": STDERR}
Chunk = tuple[int, bytes]


@dataclass
class IoSession:
    tty: bool
    output: trio.MemoryReceiveChannel[Chunk]
    initial: list[Chunk] = field(default_factory=list)
    write_stdin: Callable[[bytes], Awaitable[None]] | None = None
    close_stdin: Callable[[], Awaitable[None]] | None = None
    # called once if the client vanishes (its connection closed entirely, not only its stdin)
    on_client_gone: Callable[[], None] | None = None


class OutputHub:
    def __init__(self) -> None:
        self._subscribers: set[trio.MemorySendChannel[Chunk]] = set()

    def subscribe(self, size: int = 256) -> trio.MemoryReceiveChannel[Chunk]:
        send, receive = trio.open_memory_channel[Chunk](size)
        self._subscribers.add(send)
        return receive

    def publish(self, chunk: Chunk) -> None:
        for send in list(self._subscribers):
            try:
                send.send_nowait(chunk)
            except trio.WouldBlock:
                log.warning("attach client too slow: dropped %d bytes", len(chunk[1]))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.discard(send)

    def close_all(self) -> None:
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()


# Output pipes hold this much, and the pump reads up to this much at once: a container that
# writes fast runs ahead while the engine is busy, and the engine handles few large chunks.
PIPE_SIZE = 1 << 20


async def read_chunks(stream: trio.lowlevel.FdStream, on_chunk: Callable[[bytes], None]) -> None:
    """Until EOF; a pty master's EIO after the last slave closes counts as EOF."""
    while True:
        try:
            data = await stream.receive_some(PIPE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        if not data:
            return
        on_chunk(data)


def fd_stream(fd: int) -> trio.lowlevel.FdStream:
    """Wrap an fd we own (FdStream takes ownership and makes it non-blocking)."""
    return trio.lowlevel.FdStream(fd)


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def cloexec_pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:  # above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE: keep 64 KiB
        pass
    return r, w


async def stream_writer(stream: trio.lowlevel.FdStream | None, data: bytes) -> None:
    if stream is None:
        return
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
