"""Streamed progress of long engine operations (pull, push, import, load, bootstrap, build):
newline-separated JSON objects, as Docker sends them."""
from __future__ import annotations

import json
import logging
import traceback
from typing import Any, AsyncIterator, Callable

import trio

from engine.api.validate import one_line
from engine.errors import PycomposeError

log = logging.getLogger("engine.api")


def json_line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\r\n"


def error_line(message: str) -> bytes:
    """Docker's error object, for a failure after the response headers went out."""
    message = one_line(message)
    return json_line({"errorDetail": {"message": message}, "error": message})


async def progress_stream(work: Callable[[Callable[[dict], None]], Any],
                          last: Callable[[Any], list[dict]],
                          buffer: float = 1000) -> AsyncIterator[bytes]:
    """Run `work(progress)` in a thread, streaming each progress dict as a JSON line, then
    `last(result)`; an error after the headers went out becomes Docker's {"errorDetail",
    "error"} line. Progress beyond `buffer` unread messages is dropped (math.inf: never)."""
    send, receive = trio.open_memory_channel[dict](buffer)
    token = trio.lowlevel.current_trio_token()

    def progress(msg: dict) -> None:
        try:
            trio.from_thread.run_sync(send.send_nowait, msg, trio_token=token)
        except (trio.WouldBlock, trio.RunFinishedError, trio.BrokenResourceError,
                trio.ClosedResourceError):
            pass  # nobody is listening any more: the work still finishes

    result: dict[str, Any] = {}

    async def runner() -> None:
        async with send:
            try:
                result["value"] = await trio.to_thread.run_sync(work, progress)
            except PycomposeError as exc:
                result["error"] = exc.message
            except Exception as exc:  # a system task must never raise: that would end the run
                log.error("image operation failed:\n%s",
                          "".join(traceback.format_exception(exc)))
                result["error"] = f"internal error: {exc}"

    # The worker runs as a system task, not in a nursery held across our yields: a generator
    # must never yield inside a cancel scope (its consumer may close it from anywhere).
    done = trio.Event()

    async def hosted() -> None:
        try:
            await runner()
        finally:
            done.set()

    trio.lowlevel.spawn_system_task(hosted)
    async with receive:
        async for msg in receive:
            yield json_line(msg)
    await done.wait()
    if "error" in result:
        yield error_line(result["error"])
    elif "value" in result:
        for msg in last(result["value"]):
            yield json_line(msg)
