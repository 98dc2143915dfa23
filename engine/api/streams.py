"""Moving container output and client input over hijacked connections and chunked bodies."""
from __future__ import annotations

from typing import AsyncIterator

import trio

from engine.api.framing import HEADER, frame
from engine.api.http import RawConnection
from engine.containers.io import IoSession
from engine.containers.logs import Rendered


def encode(tty: bool, stream: int, data: bytes) -> bytes:
    return data if tty else frame(stream, data)


async def pump_session(conn: RawConnection, session: IoSession) -> None:
    """Client bytes → stdin (closed at the client's EOF); output → client until it ends."""
    async def from_client() -> None:
        while True:
            data = await conn.receive_some()
            if not data:
                break
            assert session.write_stdin is not None
            try:
                await session.write_stdin(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return  # the process closed its stdin
        if session.close_stdin is not None:
            try:
                await session.close_stdin()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    try:
        async with trio.open_nursery() as nursery:
            if session.write_stdin is not None:
                nursery.start_soon(from_client)
            try:
                for stream, data in session.initial:
                    await conn.send_all(encode(session.tty, stream, data))
                async with session.output:
                    async for stream, data in session.output:
                        await conn.send_all(encode(session.tty, stream, data))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the client went away: the session just ends
            nursery.cancel_scope.cancel()
    finally:
        await session.output.aclose()
    await conn.close_write()


async def framed(batches: AsyncIterator[Rendered], tty: bool) -> AsyncIterator[bytes]:
    """Log batches → one body chunk each (a tty stream is raw, others multiplexed)."""
    try:
        pack = HEADER.pack
        async for sids, datas in batches:
            if tty:
                yield b"".join(datas)
            else:  # `frame` for every line, without a Python-level step per line
                parts: list[bytes] = [b""] * (2 * len(datas))
                parts[0::2] = map(pack, sids, map(len, datas))
                parts[1::2] = datas
                yield b"".join(parts)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
