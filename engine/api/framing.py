"""Docker's stream multiplexing for non-tty attach/logs/exec output (pure).

Each frame is an 8-byte header — stream id (0 stdin, 1 stdout, 2 stderr), three zero bytes, the
payload length as a big-endian u32 — followed by the payload. Tty streams are sent raw.
"""
from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data


def parse_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete frames in `buf`, and the incomplete rest to keep for the next read."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while len(buf) - pos >= HEADER.size:
        stream, length = HEADER.unpack_from(buf, pos)
        end = pos + HEADER.size + length
        if end > len(buf):
            break
        frames.append((stream, buf[pos + HEADER.size:end]))
        pos = end
    return frames, buf[pos:]
