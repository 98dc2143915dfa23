"""Writing file content with holes: runs of zeros are seeked over, never written, so a sparse
file in a layer (or one stored dense in its tar) stays sparse on disk."""
from __future__ import annotations

import os

from engine.errors import BadParameter
from engine.images.decompress import CHUNK

HOLE_BLOCK = 4096
_ZERO_BLOCK = bytes(HOLE_BLOCK)


def copy_sparse(source, fd: int, offset: int, length: int, shown: str) -> int:
    """Copy `length` bytes from `source` to `fd` at `offset`, seeking over every all-zero
    4 KiB block instead of writing it: a file of zeros in a layer stays a hole on disk.
    Returns the end of the last byte written."""
    end, written = offset + length, 0
    while offset < end:
        data = source.read(min(CHUNK, end - offset))
        if not data:
            raise BadParameter(f"broken layer tarball: {shown!r} is truncated")
        if len(data) < HOLE_BLOCK or data.find(_ZERO_BLOCK) < 0:
            os.pwrite(fd, data, offset)        # no zero block at all: the common case
            written = offset + len(data)
        else:
            written = _write_non_zero(fd, data, offset) or written
        offset += len(data)
    return written


def _write_non_zero(fd: int, data: bytes, offset: int) -> int:
    """Write the blocks of `data` that are not all zeros; the end of the last one (0: none)."""
    view = memoryview(data)
    start, written = None, 0                   # first byte of the pending non-zero run
    for pos in range(0, len(data), HOLE_BLOCK):
        size = min(HOLE_BLOCK, len(data) - pos)
        zero = data.startswith(_ZERO_BLOCK if size == HOLE_BLOCK else bytes(size), pos)
        if zero:
            if start is not None:
                os.pwrite(fd, view[start:pos], offset + start)
                start, written = None, offset + pos
        elif start is None:
            start = pos
    if start is not None:
        os.pwrite(fd, view[start:], offset + start)
        written = offset + len(data)
    return written
