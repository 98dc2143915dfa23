"""Multiplexed container output: the pure presenter (`web-1  | line`) and a batching byte sink.

Speed matters here (an attached `up` may stream hundreds of thousands of lines), so the presenter
works on bytes and on whole chunks: a chunk of N complete lines becomes one `join`, never N
formatting calls, and the sink writes to the file descriptor in large batches. Container output is
untrusted: it is copied through as bytes and never parsed as markup.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Compose's cycle: cyan, yellow, green, magenta, blue, then the intense variants of the same.
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
_RESET = b"\x1b[0m"


def colour_for(index: int) -> str:
    return _COLOURS[index % len(_COLOURS)]


@dataclass(frozen=True)
class LogStyle:
    colour: bool = True
    prefix: bool = True


class LogPresenter:
    """Formats output lines of named containers. Names are registered up front (or as they
    appear); the prefix width is the longest name seen, colours are given out in order of
    registration, so a service's colour is stable for the whole run."""

    def __init__(self, names: Iterable[str] = (), style: LogStyle = LogStyle()) -> None:
        self.style = style
        self._order: list[str] = []
        self._width = 0
        self._prefixes: dict[str, bytes] = {}
        self._plain: dict[str, bytes] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        if name in self._plain:
            return
        self._order.append(name)
        if len(name) > self._width:
            self._width = len(name)
            self._prefixes.clear()  # widths changed: rebuild lazily
        self._plain[name] = name.encode("utf-8", "replace")

    def _colour_of(self, name: str) -> str:
        return colour_for(self._order.index(name))

    def prefix(self, name: str) -> bytes:
        cached = self._prefixes.get(name)
        if cached is not None:
            return cached
        self.add(name)
        if not self.style.prefix:
            value = b""
        else:
            # Compose pads to one more than the longest name: `web-1  | line`.
            text = f"{name:<{self._width + 1}} | ".encode("utf-8", "replace")
            if self.style.colour:
                value = b"\x1b[" + self._colour_of(name).encode() + b"m" + text + _RESET
            else:
                value = text
        self._prefixes[name] = value
        return value

    def lines(self, name: str, lines: list[bytes]) -> bytes:
        """Complete lines (without their newline) of one container, formatted as one block."""
        if not lines:
            return b""
        prefix = self.prefix(name)
        if not prefix:
            return b"\n".join(lines) + b"\n"
        return prefix + (b"\n" + prefix).join(lines) + b"\n"

    def event(self, name: str, message: str) -> bytes:
        """A lifecycle line (`web-1 exited with code 1`), coloured like the container's lines."""
        self.add(name)
        text = f"{name} {message}".encode("utf-8", "replace")
        if self.style.colour:
            return b"\x1b[" + self._colour_of(name).encode() + b"m" + text + _RESET + b"\n"
        return text + b"\n"


class LineSplitter:
    """Cuts a stream of chunks into complete lines, keeping a partial last line for later."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self._rest:
            data = self._rest + data
        parts = data.split(b"\n")
        self._rest = parts.pop()
        if b"\r" in data:
            # Tty output ends lines with CRLF; the CR would garble the next prefix.
            parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
        return parts

    def flush(self) -> list[bytes]:
        rest, self._rest = self._rest, b""
        return [rest] if rest else []


class ByteSink:
    """Buffers formatted output and writes it to a file descriptor in large batches."""

    def __init__(self, fd: int, limit: int = 1 << 16) -> None:
        self.fd = fd
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if not self._parts:
            return
        view = memoryview(b"".join(self._parts))
        self._parts.clear()
        self._size = 0
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def use_colour(no_color: bool, fd: int, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR (in `environ`, the
    CLI's environment)."""
    if no_color or environ.get("NO_COLOR"):
        return False
    try:
        return os.isatty(fd)
    except OSError:
        return False
