"""`up --wait`: every started container running, or healthy if it has a healthcheck; the one-shots
others wait on with `service_completed_successfully` must have exited 0 (shown as `Exited`, as
Compose shows them).

Each container is watched from the moment its service has been started, while the rest of the
project is still starting, so when the last service is up most of the others are known to be
ready already. What the user sees is unchanged: the "Healthy" lines, the first readiness error
and the `--wait-timeout` clock all come after the start phase, and a start phase that failed
reports its own errors only (nothing is waited for then).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from compose.orchestrator.errors import OrchestratorError
from engine.errors import PycomposeError


class Readiness:
    """`await nursery.start(r.host)`, then `watch(c)` per started container, then
    `start_phase_over(...)`, `await r.finished.wait()` and `r.raise_if_not_ready()`."""

    def __init__(self, until_ready: Callable[[Any], Awaitable[Any]], progress: Any) -> None:
        # returns once ready (a waiting.Check whose `status` is shown, e.g. "Exited" for a
        # one-shot that completed; anything else shows "Healthy"); raises PycomposeError if never
        self._until_ready = until_ready
        self._progress = progress
        self._scope = trio.CancelScope()
        self._over = trio.Event()          # the start phase is over
        self._nursery: trio.Nursery | None = None
        self._errors: list[PycomposeError] = []
        self._failed_start = False
        self._timeout: float | None = None
        self.finished = trio.Event()

    async def host(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Holds the watches (keeps taking new ones until the start phase is over)."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    task_status.started()
                    await self._over.wait()
        finally:
            self._nursery = None
            self.finished.set()

    def watch(self, container: Any) -> None:
        """Start watching a started container (a `Started`: .name, .id, .service)."""
        if self._nursery is not None and not self._scope.cancel_called:
            self._nursery.start_soon(self._one, container)

    async def _one(self, container: Any) -> None:
        try:
            outcome = await self._until_ready(container)
        except PycomposeError as e:
            self._errors.append(e)
            self._scope.cancel()      # the first error is the answer: stop the other watches
            return
        await self._over.wait()
        self._progress.done("Container", container.name,
                            getattr(outcome, "status", None) or "Healthy")

    def start_phase_over(self, *, failed: bool, timeout: float | None) -> None:
        """Failed: the start errors are the answer, stop watching. Else `timeout` (--wait-timeout)
        starts now."""
        self._failed_start = failed
        self._timeout = timeout
        if failed:
            self._scope.cancel()
        elif timeout:
            self._scope.deadline = trio.current_time() + timeout
        self._over.set()

    def raise_if_not_ready(self) -> None:
        """After `finished`: the first readiness error, or the timeout (nothing if the start
        phase failed: its own errors are reported instead)."""
        if self._failed_start:
            return
        if self._errors:
            raise self._errors[0]
        if self._scope.cancelled_caught:
            raise OrchestratorError(f"timeout waiting for the project to be ready after "
                                    f"{self._timeout:g}s")
