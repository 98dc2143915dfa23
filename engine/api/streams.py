"""Moving container output and client input over hijacked connections and chunked bodies."""
from __future__ import annotations

import functools
from typing import AsyncIterator

import trio

from engine.api.framing import HEADER, frame
from engine.api.http import RawConnection
from engine.containers.detachkeys import DetachWatch
from engine.containers.io import IoSession
from engine.containers.logs import Rendered


def encode(tty: bool, stream: int, data: bytes) -> bytes:
    return data if tty else frame(stream, data)


CLIENT_GONE_POLL = 0.5   # seconds between checks of a half-closed client that may vanish


async def pump_session(conn: RawConnection, session: IoSession,
                       detach_keys: bytes | None = None) -> None:
    """Client bytes → stdin (closed at the client's EOF); output → client until it ends.
    A session with `on_client_gone` hears when the client vanishes, even one that had already
    ended its stdin. With `detach_keys` (a TTY session) typing them ends the session at once:
    stdin stays open and the process runs on, as after Docker's ctrl-p ctrl-q."""
    gone = session.on_client_gone
    watch = DetachWatch(detach_keys) if detach_keys else None
    detached = False

    def client_gone() -> None:
        nonlocal gone
        if gone is not None:
            gone, call = None, gone
            call()

    async def from_client(cancel: trio.CancelScope) -> None:
        nonlocal gone, detached
        while True:
            data = await conn.receive_some()
            eof = not data
            if eof:  # a begun detach sequence was input after all
                data = watch.flush() if watch is not None else b""
            elif watch is not None:
                data, detached = watch.feed(data)
            assert session.write_stdin is not None
            try:
                if data:
                    await session.write_stdin(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return  # the process closed its stdin
            if detached:
                gone = None      # the client left on purpose: the process keeps running
                cancel.cancel()
                return
            if eof:
                break
        if session.close_stdin is not None:
            try:
                await session.close_stdin()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        if gone is not None:
            while not conn.peer_gone():
                await trio.sleep(CLIENT_GONE_POLL)
            client_gone()

    try:
        async with trio.open_nursery() as nursery:
            if session.write_stdin is not None:
                nursery.start_soon(from_client, nursery.cancel_scope)
            try:
                if session.initial:  # the past output (`logs=1`): one send, not one per line
                    await conn.send_all(encode_batch(Rendered(
                        [s for s, _d in session.initial], [d for _s, d in session.initial]),
                        session.tty))
                async with session.output:
                    async for stream, data in session.output:
                        await conn.send_all(encode(session.tty, stream, data))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                client_gone()   # the client went away: the session just ends
            nursery.cancel_scope.cancel()
    finally:
        await session.output.aclose()
    await conn.close_write()


def encode_batch(batch: Rendered, tty: bool) -> bytes:
    """One batch of log lines → its bytes on the wire: raw for a tty, else one Docker frame per
    line, built without a Python-level step per line."""
    sids, datas, ends = batch
    if tty:
        return ends.join(datas) + ends if ends and datas else b"".join(datas)
    if not datas:
        return b""
    if ends and sids.count(sids[0]) == len(sids):
        encoded = _one_stream(sids[0], datas, ends)
        if encoded is not None:
            return encoded
    sizes = map(len, datas)
    if ends:
        sizes = map(len(ends).__add__, sizes)
    step = 3 if ends else 2
    parts: list[bytes] = [ends] * (step * len(datas))
    parts[0::step] = map(HEADER.pack, sids, sizes)
    parts[1::step] = datas
    return b"".join(parts)


def _one_stream(sid: int, datas: list[bytes], ends: bytes) -> bytes | None:
    """The frames of lines of one stream that each lack `ends`: the end of one line is joined
    to the next one's header, and headers come from a table by size (no struct call per line),
    so the join has two parts per line. None if a line is too long for the table."""
    table = _table(sid, ends)
    parts: list[bytes] = [ends] * (2 * len(datas) + 1)
    try:
        parts[0:-1:2] = map(table.__getitem__, map(len, datas))
    except IndexError:
        return None
    parts[0] = parts[0][len(ends):]   # the first header follows no line
    parts[1::2] = datas
    return b"".join(parts)


@functools.lru_cache(maxsize=8)
def _table(sid: int, ends: bytes) -> list[bytes]:
    return [ends + HEADER.pack(sid, n + len(ends)) for n in range(2048)]


async def framed(batches: AsyncIterator[Rendered], tty: bool) -> AsyncIterator[bytes]:
    """Log batches → one body chunk each (a tty stream is raw, others multiplexed)."""
    try:
        async for batch in batches:
            yield encode_batch(batch, tty)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
