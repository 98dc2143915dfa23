"""A warm CLI request as the server receives it (the wire format is in compose/cli/warm.py).

Requests are read from non-blocking connections, a piece at a time, so that a client that
connects and stalls holds up only itself (compose/cli/warm_server.py gives each a deadline).
"""
from __future__ import annotations

import os
import socket
import struct

from compose.cli.warm import MAGIC

MAX_REQUEST = 4 << 20


class Request:
    """One parsed command request (see the wire format in compose/cli/warm.py)."""

    def __init__(self, body: bytes) -> None:
        fields = body.split(b"\0")
        if len(fields) < 8 or fields[0] != MAGIC:
            raise ValueError("not a warm CLI request")
        self.cwd = os.fsdecode(fields[1])
        self.umask = int(fields[2], 8)
        self.exe = os.fsdecode(fields[3])
        self.pkg = os.fsdecode(fields[4])
        self.context = fields[5]
        self.limits = fields[6]
        argc = int(fields[7])
        self.argv = [os.fsdecode(a) for a in fields[8:8 + argc]]
        if len(self.argv) != argc or argc < 1:
            raise ValueError("truncated argv")
        self.env: dict[bytes, bytes] = {}
        for entry in fields[8 + argc:]:
            key, eq, value = entry.partition(b"=")
            if eq and key:
                self.env[key] = value


class PendingRequest:
    """A connection whose request is still arriving; it holds up only itself."""

    def __init__(self, conn: socket.socket, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.data = bytearray()
        self.fds: list[int] = []

    def feed(self) -> Request | None:
        """Read what has arrived: the request once complete, None while more is due; ValueError
        or OSError for a bad one, EOFError for a client that left without a word."""
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.conn, 65536, 3)
            except BlockingIOError:
                return None
            self.fds += fds
            if not data:
                if not self.data:
                    raise EOFError  # connected and left (a probe): not worth a log line
                raise ValueError("truncated request")
            self.data += data
            if len(self.data) < 4:
                continue
            (length,) = struct.unpack(">I", self.data[:4])
            if length > MAX_REQUEST:
                raise ValueError("request too large")
            if len(self.data) >= 4 + length:
                if len(self.fds) != 3:
                    raise ValueError("a request carries stdin, stdout and stderr")
                return Request(bytes(self.data[4:4 + length]))

    def close_fds(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []
