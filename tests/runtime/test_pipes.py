"""engine.runtime.pipes.pump: every byte to the sink, EOF (and a pty's EIO) ends it, the fd
stays open for its owner, and any other read error is raised, not taken for EOF."""
from __future__ import annotations

import os
import pty

import pytest
import trio

from engine.runtime.pipes import pump


async def _pump_all(fd: int) -> list[bytes]:
    chunks: list[bytes] = []
    with trio.fail_after(10):
        await pump(fd, chunks.append)
    return chunks


def test_a_writer_that_closes_late_is_read_whole_and_the_fd_stays_open():
    r, w = os.pipe()
    payload = os.urandom(300_000)   # more than a pipe holds: the pump must wait for room

    async def main() -> list[bytes]:
        async def write() -> None:
            view = memoryview(payload)
            while view:
                await trio.lowlevel.wait_writable(w)
                view = view[os.write(w, view):]
            os.close(w)

        os.set_blocking(w, False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            return await _pump_all(r)

    try:
        chunks = trio.run(main)
        assert b"".join(chunks) == payload
        assert len(chunks) > 1
        os.fstat(r)   # still ours: the pump never closes what it reads
    finally:
        os.close(r)


def test_a_pty_masters_eio_after_its_slave_closes_ends_the_pump():
    master, slave = pty.openpty()
    try:
        os.write(slave, b"from the terminal\n")
        os.close(slave)
        slave = -1
        out = b"".join(trio.run(_pump_all, master))
        assert out.replace(b"\r\n", b"\n") == b"from the terminal\n"
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_another_read_error_is_raised(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)   # read(2) on a directory: EISDIR, not an EOF
    try:
        with pytest.raises(IsADirectoryError):
            trio.run(_pump_all, fd)
    finally:
        os.close(fd)
