"""The nursery that hosts the engine's per-container background tasks (supervisors, attach
forwarders, exec watchers): a task's failure is logged and ends only that task."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import trio

log = logging.getLogger("engine.containers")


class TaskHost:
    def __init__(self) -> None:
        self._nursery: trio.Nursery | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts the tasks; runs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run `fn(*args)` in the background; its failure is logged, never allowed to take the
        daemon down."""
        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception:
                log.exception("background task %s failed", getattr(fn, "__name__", fn))

        assert self._nursery is not None, "TaskHost.run has not started"
        self._nursery.start_soon(guarded)
