"""Relaying a hijacked attach/exec connection to the local terminal or pipes.

Non-tty streams are demultiplexed to our stdout/stderr as they arrive; with a tty the local
terminal is put in raw mode (restored in `finally`) so every key, Ctrl-C included, reaches the
container's pty, and the window size follows ours (resize now and on SIGWINCH).
"""
from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from engine.client.streams import STDERR, FrameDecoder, Hijacked


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


def write_stream(stream: int, data: bytes) -> None:
    write_all(2 if stream >= STDERR else 1, data)


@contextmanager
def raw_terminal(fd: int, enabled: bool) -> Iterator[None]:
    """Raw mode on `fd` when it is a terminal and `enabled`; always restored."""
    if not enabled or not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except (termios.error, OSError):
            pass   # the terminal is gone (closed window: SIGHUP); nothing left to restore


def terminal_size() -> tuple[int, int] | None:
    """(rows, columns) of our terminal, if any of stdin/stdout/stderr is one."""
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
            return size.lines, size.columns
        except OSError:
            continue
    return None


@contextmanager
def follow_window_size(resize: Callable[[int, int], None], enabled: bool) -> Iterator[None]:
    """Send our window size now and on every SIGWINCH while inside the block."""
    if not enabled or terminal_size() is None:
        yield
        return

    def send(*_: object) -> None:
        size = terminal_size()
        if size:
            try:
                resize(*size)
            except Exception:  # noqa: BLE001 - a lost resize must not end the session
                pass

    send()
    previous = signal.signal(signal.SIGWINCH, send)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextmanager
def proxy_signals(kill: Callable[[str], None], signals: tuple[int, ...]) -> Iterator[None]:
    """Forward these signals, received by the CLI, to the container (docker's --sig-proxy)."""
    previous = {}

    def forward(signum: int, _frame: object) -> None:
        try:
            kill(signal.Signals(signum).name)
        except Exception:  # noqa: BLE001 - the container may be gone already
            pass

    for sig in signals:
        previous[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def relay(hijacked: Hijacked, *, stdin: bool) -> None:
    """Copy the connection's output to stdout/stderr (and our stdin to it, if `stdin`) until the
    engine closes the stream, i.e. the process has exited."""
    decoder = FrameDecoder(tty=hijacked.tty)
    in_fd = sys.stdin.fileno() if stdin else -1
    watch = [hijacked.sock] + ([in_fd] if stdin else [])
    # output buffered in the HTTP layer before the hijack comes first
    while hijacked.has_pending():
        for stream, data in decoder.feed(hijacked.recv()):
            write_stream(stream, data)
    while True:
        readable, _, _ = select.select(watch, [], [])
        if in_fd in readable:
            try:
                data = os.read(in_fd, 65536)
            except OSError:
                data = b""
            if data:
                try:
                    hijacked.send(data)
                except OSError:
                    watch.remove(in_fd)  # the process closed its stdin
            else:
                watch.remove(in_fd)
                hijacked.close_write()
        if hijacked.sock in readable:
            data = hijacked.recv()
            if not data:
                return
            for stream, chunk in decoder.feed(data):
                write_stream(stream, chunk)
