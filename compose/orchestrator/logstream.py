"""Reading a container's log stream in bulk.

The engine sends one multiplexed frame per line (as Docker does); handling frames one by one
(a header unpack, a slice and an append each) cost more than everything else in an attached `up`.
So the response is read in large chunks and each chunk becomes a list of complete lines in a
few C-level passes: when every frame holds exactly one line (the usual case), cutting the chunk
at its newlines gives `header + line` pieces, and one unpack of all their headers proves it;
anything else (partial lines, a header that contains a newline byte, binary output) takes the
frame-by-frame path.
"""
from __future__ import annotations

import itertools
import operator
import struct
from collections.abc import Iterator
from typing import Any

_HEADER = struct.Struct(">BxxxL")
# A frame header read as one big-endian u64 is `stream << 56 | size`; a one-line frame's size
# is its line plus the newline.
_ONE_LINE = frozenset({(1 << 56) + 1, (2 << 56) + 1})
_HEAD, _PAYLOAD = slice(0, 8), slice(8, None)
# The newline ending one stdout line and the header of the next, by the next line's size.
_STDOUT_HEADS = [b"\n" + _HEADER.pack(1, n + 1) for n in range(4096)]


def _strip_cr(lines: list[bytes]) -> list[bytes]:
    # Tty output ends lines with CRLF; the CR would garble the next prefix.
    return [p[:-1] if p.endswith(b"\r") else p for p in lines]


class BulkFrameDecoder:
    """Feed raw bytes; get back the payload of every complete frame, concatenated (stdout and
    stderr alike: a log view interleaves them anyway)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        view = memoryview(buf)
        parts = []
        pos, end = 0, len(buf)
        unpack = _HEADER.unpack_from
        while end - pos >= 8:
            _stream, size = unpack(buf, pos)
            if end - pos - 8 < size:
                break
            parts.append(view[pos + 8:pos + 8 + size])
            pos += 8 + size
        self._buf = buf[pos:]
        return b"".join(parts)


class FrameLines:
    """Multiplexed frames → complete lines (without their newline), stdout and stderr alike; a
    line split over several frames, or not yet ended, waits for the rest."""

    __slots__ = ("_frames", "_rest")

    def __init__(self) -> None:
        self._frames = BulkFrameDecoder()
        self._rest = b""   # the start of a line whose newline has not come yet

    def feed(self, data: bytes) -> list[bytes]:
        frames = self._frames
        if frames._buf:
            data, frames._buf = frames._buf + data, b""
        if not self._rest:
            cut = data.rfind(b"\n") + 1
            if cut:
                lines = _one_line_frames(data[:cut] if cut < len(data) else data)
                if lines is not None:
                    frames._buf = data[cut:]
                    return _strip_cr(lines) if b"\r" in data else lines
        return self._split(frames.feed(data))

    def _split(self, payload: bytes) -> list[bytes]:
        if self._rest:
            payload = self._rest + payload
        lines = payload.split(b"\n")
        self._rest = lines.pop()
        return _strip_cr(lines) if b"\r" in payload else lines

    def flush(self) -> list[bytes]:
        """At the end of the stream: what is left (whole frames the bulk path kept back, and the
        unfinished last line)."""
        lines = self._split(self._frames.feed(b"")) if self._frames._buf else []
        rest, self._rest = self._rest, b""
        return lines + [rest] if rest else lines


def _one_line_frames(data: bytes) -> list[bytes] | None:
    """`data` (ending with a newline) as frames of one line each → the lines; None if it is
    anything else. Cut at the newlines, every piece must be an 8-byte header whose size is the
    rest of the piece plus its newline: then the pieces are exactly the frames, in order.
    Stdout lines are proven by rebuilding their frames from a table (one comparison); others
    by one unpack of all the headers."""
    pieces = data.split(b"\n")
    pieces.pop()
    lines = list(map(operator.getitem, pieces, itertools.repeat(_PAYLOAD)))
    parts = [b"\n"] * (2 * len(lines) + 1)
    try:
        parts[0:-1:2] = map(_STDOUT_HEADS.__getitem__, map(len, lines))
    except IndexError:   # a line longer than the table
        pass
    else:
        parts[0] = parts[0][1:]
        parts[1::2] = lines
        if b"".join(parts) == data:
            return lines
    heads = b"".join(map(operator.getitem, pieces, itertools.repeat(_HEAD)))
    if len(heads) != 8 * len(pieces):
        return None
    sizes = struct.unpack(f">{len(pieces)}Q", heads)
    if not set(map(operator.sub, sizes, map(len, lines))) <= _ONE_LINE:
        return None
    return lines


def log_lines(client: Any, cid: str, *, follow: bool, timestamps: bool = False,
              tail: str | None = None, since: float | None = None,
              until: float | None = None) -> Iterator[list[bytes]]:
    """The container's output as lists of complete lines (frames decoded, tty raw); the last
    list holds the unfinished last line, if the output did not end with a newline."""
    response = client.request("GET", f"/containers/{cid}/logs", {
        "follow": follow or None, "stdout": True, "stderr": True,
        "timestamps": timestamps or None, "tail": tail, "since": since, "until": until})
    try:
        decoder = FrameLines()
        if "raw-stream" in response.headers.get("content-type", ""):
            feed = decoder._split
        else:
            feed = decoder.feed
        for data in response.iter_chunks():
            lines = feed(data)
            if lines:
                yield lines
        rest = decoder.flush()
        if rest:
            yield rest
    finally:
        response.close()

