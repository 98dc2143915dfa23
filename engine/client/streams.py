"""Docker's stream formats: 8-byte multiplexed frames, raw tty streams, hijacked sockets, and
the newline-separated JSON of progress responses.

A multiplexed frame is `[stream, 0, 0, 0, size (uint32 big-endian)]` followed by `size` bytes;
stream 0 = stdin, 1 = stdout, 2 = stderr (3 = the engine's own error text, as Docker sends it).
Containers with a tty send their output raw, without frames: it is all "stdout".
"""
from __future__ import annotations

import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

from engine.errors import EngineError

STDIN, STDOUT, STDERR, SYSERR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxL")


def encode_frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


class FrameDecoder:
    """Incremental decoder: feed whatever bytes arrived, get the complete frames back."""

    def __init__(self, tty: bool = False) -> None:
        self.tty = tty
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.tty:
            return [(STDOUT, data)] if data else []
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            stream, size = _HEADER.unpack_from(self._buf)
            if len(self._buf) < 8 + size:
                break
            frames.append((stream, bytes(self._buf[8:8 + size])))
            del self._buf[:8 + size]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (non-zero at EOF = truncated stream)."""
        return len(self._buf)


def read_frames(read_exact, tty: bool = False, read_some=None) -> Iterator[tuple[int, bytes]]:
    """Frames from a blocking reader: `read_exact(n)` returns n bytes or fewer at EOF."""
    if tty:
        reader = read_some or read_exact
        while data := reader(65536):
            yield STDOUT, data
        return
    while True:
        header = read_exact(8)
        if len(header) < 8:
            return
        stream, size = _HEADER.unpack(header)
        data = read_exact(size) if size else b""
        yield stream, data
        if len(data) < size:
            return


class Hijacked:
    """The raw socket of an attach / exec-start connection after `101 UPGRADED`.

    Bytes the HTTP layer had already buffered past the response head come first, then the socket.
    Writing sends to the process's stdin; `close_write()` is the stdin EOF.
    """

    def __init__(self, sock: socket.socket, pending: bytes, tty: bool) -> None:
        self.sock = sock
        self.tty = tty
        self._pending = pending
        sock.settimeout(None)

    def fileno(self) -> int:
        return self.sock.fileno()

    def has_pending(self) -> bool:
        return bool(self._pending)

    def recv(self, n: int = 65536) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        try:
            return self.sock.recv(n)
        except ConnectionResetError:
            return b""

    def read_exact(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            data = self.recv(n - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def frames(self) -> Iterator[tuple[int, bytes]]:
        return read_frames(self.read_exact, self.tty, self.recv)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already gone: the process exited

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Hijacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_messages(response: Any) -> Iterator[dict]:
    """The JSON objects of a streamed progress response (pull, push, import, load, build); an
    `error` object raises EngineError after the messages before it were yielded. Closes the
    response."""
    try:
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise EngineError(f"engine sent invalid JSON: {line[:80]!r}") from None
            if not isinstance(message, dict):
                continue
            if message.get("error"):
                raise EngineError(str(message["error"]))
            yield message
    finally:
        response.close()
