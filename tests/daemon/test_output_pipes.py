"""Container output pipes are large, and the pump takes what they hold in big chunks."""
from __future__ import annotations

import fcntl
import os

import trio

from engine.containers.io import PIPE_SIZE, cloexec_pipe, fd_stream, read_chunks


def test_output_pipe_holds_a_fast_writers_burst_and_is_read_in_large_chunks():
    r, w = cloexec_pipe()
    try:
        assert fcntl.fcntl(w, fcntl.F_GETPIPE_SZ) == PIPE_SIZE  # we run as root (CI too)
        burst = b"".join(b"%d\n" % i for i in range(100_000))  # 589 KiB: more than 64 KiB
        assert os.write(w, burst) == len(burst)  # no reader yet, and the write did not block
    finally:
        os.close(w)
    chunks: list[bytes] = []

    async def pump() -> None:
        async with fd_stream(r) as stream:
            await read_chunks(stream, chunks.append)

    trio.run(pump)
    assert b"".join(chunks) == burst and len(chunks) == 1
