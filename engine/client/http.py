"""A minimal HTTP/1.1 client over a unix socket: just what the engine API needs.

Why not `http.client`: importing it costs ~21 ms (it pulls in `ssl` and `email`), a third of the
CLI's start-up budget, and it cannot hand over the raw socket after a `101 Switching Protocols`
without losing bytes it has already buffered. The API needs only: request with a fixed-size or
chunked body, status line + headers, and a body framed by Content-Length, chunked encoding, or
connection close.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import BinaryIO

_CHUNK = 64 * 1024
Body = bytes | BinaryIO | Iterable[bytes] | None


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as we speak it."""


class StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered: safe to retry."""


class Reader:
    """Buffered reads from a socket; the buffer can be handed over (hijacked connections)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(_CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = 65536) -> bytes:
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                line = bytes(self.buf[: idx + 1])
                del self.buf[: idx + 1]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("header line too long")
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read_some(self, n: int) -> bytes:
        """Up to n bytes: what is buffered, else one recv; b"" at end of stream."""
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_exact(self, n: int) -> bytes:
        """Exactly n bytes, or fewer at end of stream."""
        while len(self.buf) < n:
            if not self._fill():
                break
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def take_buffer(self) -> bytes:
        data = bytes(self.buf)
        self.buf.clear()
        return data


class Response:
    """Status, lower-cased headers, and a body read incrementally according to its framing."""

    def __init__(self, conn: Connection, status: int, reason: str, headers: dict[str, str],
                 method: str) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self._chunked = False
        self._remaining: int | None = None  # None with not chunked = until close
        self._chunk_left = 0
        self.done = False
        te = headers.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self.done = True
        elif "chunked" in te:
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._remaining = int(headers["content-length"])
            except ValueError as e:
                raise ProtocolError(f"bad Content-Length {headers['content-length']!r}") from e
            self.done = self._remaining == 0
        self.keep_alive = (headers.get("connection", "").lower() != "close"
                           and (self._chunked or self._remaining is not None or self.done)
                           and not 100 <= status < 200)

    def _next_chunk_size(self) -> int:
        line = self.conn.reader.readline()
        if not line:
            raise ProtocolError("connection closed inside a chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as e:
            raise ProtocolError(f"bad chunk size line {line!r}") from e
        if size == 0:
            while self.conn.reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers: ignored
        return size

    def read_some(self, n: int = _CHUNK) -> bytes:
        """Up to n body bytes as they arrive; b"" at the end of the body."""
        if self.done:
            return b""
        reader = self.conn.reader
        if self._chunked:
            if self._chunk_left == 0:
                self._chunk_left = self._next_chunk_size()
                if self._chunk_left == 0:
                    self._finish()
                    return b""
            data = reader.read_some(min(n, self._chunk_left))
            if not data:
                raise ProtocolError("connection closed inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                reader.readline()  # the CRLF after each chunk
            return data
        if self._remaining is not None:
            data = reader.read_some(min(n, self._remaining))
            if not data:
                raise ProtocolError("connection closed before the end of the body")
            self._remaining -= len(data)
            if self._remaining == 0:
                self._finish()
            return data
        data = reader.read_some(n)
        if not data:
            self._finish()
        return data

    def read_exact(self, n: int) -> bytes:
        """Exactly n body bytes, or fewer at the end of the body."""
        parts = []
        while n > 0:
            data = self.read_some(n)
            if not data:
                break
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def read(self) -> bytes:
        parts = []
        while data := self.read_some():
            parts.append(data)
        return b"".join(parts)

    def iter_chunks(self) -> Iterator[bytes]:
        while data := self.read_some():
            yield data

    def iter_lines(self) -> Iterator[bytes]:
        pending = b""
        for data in self.iter_chunks():
            pending += data
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending

    def _finish(self) -> None:
        self.done = True
        self.conn.response_done(self)

    def close(self) -> None:
        """Stop reading; a half-read body makes the connection unusable, so it is closed."""
        if not self.done:
            self.done = True
            self.conn.close()


class Connection:
    """One unix-socket connection; requests on it are sequential (HTTP/1.1 keep-alive)."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reader: Reader | None = None
        self.busy = False    # a response body is still being read
        self.reused = False  # at least one exchange completed on this socket

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader = Reader(sock)
        self.reused = False

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
                self.reader = None
                self.busy = False

    def response_done(self, response: Response) -> None:
        self.busy = False
        self.reused = True
        if not response.keep_alive:
            self.close()

    def request(self, method: str, target: str, headers: dict[str, str], body: Body = None,
                expect_upgrade: bool = False) -> Response:
        if self.sock is None:
            self.connect()
        assert self.sock is not None and self.reader is not None
        was_reused = self.reused
        head = [f"{method} {target} HTTP/1.1", "Host: docker"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        body_bytes: bytes | None = None
        stream: Iterable[bytes] | None = None
        if body is None:
            if method in ("POST", "PUT"):
                head.append("Content-Length: 0")
        elif isinstance(body, (bytes, bytearray)):
            body_bytes = bytes(body)
            head.append(f"Content-Length: {len(body_bytes)}")
        else:
            size = _fixed_size(body)
            if size is not None:
                head.append(f"Content-Length: {size}")
                stream = _file_chunks(body)  # type: ignore[arg-type]
            else:
                head.append("Transfer-Encoding: chunked")
                stream = _chunked(_file_chunks(body) if hasattr(body, "read") else body)  # type: ignore[arg-type]
        try:
            self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                              + (body_bytes or b""))
            if stream is not None:
                for piece in stream:
                    self.sock.sendall(piece)
            status_line = self.reader.readline()
        except (BrokenPipeError, ConnectionResetError) as e:
            self.close()
            if was_reused:
                raise StaleConnection(str(e)) from e
            raise
        if not status_line:
            self.close()
            if was_reused:
                raise StaleConnection("server closed the kept-alive connection")
            raise ProtocolError("server closed the connection without answering")
        parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self.close()
            raise ProtocolError(f"bad status line {status_line!r}")
        headers_in: dict[str, str] = {}
        while True:
            line = self.reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                self.close()
                raise ProtocolError("connection closed inside the response headers")
            name, _, value = line.decode("latin-1").partition(":")
            headers_in[name.strip().lower()] = value.strip()
        self.busy = True
        response = Response(self, int(parts[1]), parts[2] if len(parts) > 2 else "", headers_in,
                            method)
        if response.status == 101 and expect_upgrade:
            return response  # the caller takes the socket
        if response.done:
            self.response_done(response)
        return response


def _fixed_size(body: object) -> int | None:
    """Size of a regular file from its current position, else None (pipes, iterators)."""
    import os
    import stat

    try:
        fd = body.fileno()  # type: ignore[attr-defined]
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        return st.st_size - body.tell()  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def _file_chunks(body: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    if hasattr(body, "read"):
        while data := body.read(_CHUNK):  # type: ignore[union-attr]
            yield data
    else:
        for data in body:
            if data:
                yield data


def _chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    for data in pieces:
        if data:
            yield b"%x\r\n" % len(data) + data + b"\r\n"
    yield b"0\r\n\r\n"
