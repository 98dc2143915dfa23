"""Wake-ups for `up`'s waits: the engine's events for the project's containers, read on a thread.

A waiter (a `depends_on` condition, `--wait`) re-inspects its container when an event about it
arrives (start, die, health_status: healthy, ...) instead of at its next poll, so a one-shot that
exits or a dependency that turns healthy is noticed within a millisecond or two rather than up
to a poll interval later. Polling stays underneath as the safety net: a waiter that finds no
event stream (an engine without /events, a stream that ended) polls exactly as before.

No event is lost between a waiter's inspect and its wait: the waiter arms its wake-up *before*
it inspects, and the engine emits an event only after saving the state that inspect reports.
"""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import trio

from compose.orchestrator import labels as L


class ContainerChanges:
    """One event subscription (`GET /events` filtered to the project's containers) shared by
    every waiter of one `up`. `run` reads it until cancelled; `arm` hands out wake-ups."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        # open_stream() -> a response with iter_lines() and close(), subscribed when it returns
        self._open = open_stream
        self._armed: dict[str, trio.Event] = {}
        self._response: Any = None
        self._closed = False
        self.live = False

    @classmethod
    def for_project(cls, client_factory: Callable[[], Any], project: str) -> ContainerChanges:
        def open_stream() -> Any:
            client = client_factory()
            # `since` now: what happened before this `up` wakes nobody (an engine may replay
            # its whole event history to a subscriber that gives no `since`)
            return client.request("GET", "/events", {
                "since": f"{time.time():.9f}",
                "filters": {"type": ["container"], "label": [f"{L.PROJECT}={project}"]}})
        return cls(open_stream)

    def arm(self, cid: str) -> trio.Event | None:
        """The event set at the next change of container `cid` (None: no stream, poll)."""
        if not self.live:
            return None
        return self._armed.setdefault(cid, trio.Event())

    def _wake(self, cid: str) -> None:
        event = self._armed.pop(cid, None)
        if event is not None:
            event.set()

    def _subscribed(self) -> None:
        self.live = True

    def _ended(self) -> None:
        """The stream is gone: every armed waiter re-inspects now, then polls."""
        self.live = False
        armed, self._armed = self._armed, {}
        for event in armed.values():
            event.set()

    async def run(self) -> None:
        """Read the stream until cancelled (then the socket is shut down, which ends the read
        on the thread) or until it ends (then waiters fall back to polling)."""
        token = trio.lowlevel.current_trio_token()

        def soon(fn: Callable[..., None], *args: Any) -> bool:
            try:
                token.run_sync_soon(fn, *args)
                return True
            except trio.RunFinishedError:
                return False

        def read() -> None:
            try:
                response = self._open()
            except Exception:   # noqa: BLE001 - no stream: the waiters poll
                return
            self._response = response
            try:
                # _abort sets _closed before it looks for the response: one of us sees the other
                if self._closed or not soon(self._subscribed):
                    return
                for line in response.iter_lines():
                    cid = _container_of(line)
                    if cid and not soon(self._wake, cid):
                        return
            except Exception:   # noqa: BLE001 - a cut stream (our shutdown, or the engine)
                pass
            finally:
                response.close()
                soon(self._ended)

        try:
            await trio.to_thread.run_sync(read, abandon_on_cancel=True)
        finally:
            self._abort()

    def _abort(self) -> None:
        """Unblock the reading thread: shut its socket down (closing is the thread's job)."""
        self._closed = True
        sock = getattr(getattr(self._response, "conn", None), "sock", None)
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _container_of(line: bytes) -> str | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    actor = event.get("Actor") if isinstance(event, dict) else None
    cid = actor.get("ID") if isinstance(actor, dict) else None
    return cid if isinstance(cid, str) else None
