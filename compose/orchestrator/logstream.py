"""Reading a container's log stream in bulk.

The engine may send one multiplexed frame per line; handling frames one by one (a read, a
format and a write each) costs more than everything else in an attached `up`. So we read the
response in large chunks, decode every complete frame in a chunk at once, and hand the caller one
block of bytes per chunk.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

_HEADER = struct.Struct(">BxxxL")


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


def log_chunks(client: Any, cid: str, *, follow: bool, timestamps: bool = False,
               tail: str | None = None, since: float | None = None,
               until: float | None = None) -> Iterator[bytes]:
    """The container's output as large blocks of bytes (frames decoded, tty raw)."""
    response = client.request("GET", f"/containers/{cid}/logs", {
        "follow": follow or None, "stdout": True, "stderr": True,
        "timestamps": timestamps or None, "tail": tail, "since": since, "until": until})
    try:
        ctype = response.headers.get("content-type", "")
        if "raw-stream" in ctype:
            yield from response.iter_chunks()
            return
        decoder = BulkFrameDecoder()
        for data in response.iter_chunks():
            block = decoder.feed(data)
            if block:
                yield block
    finally:
        response.close()
