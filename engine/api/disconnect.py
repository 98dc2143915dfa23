"""Which requests are abandoned when their client goes away before the answer.

Docker cancels a request's context when its client disconnects. Here the requests
`abandoned_on_disconnect` names run in a cancel scope that `DisconnectMonitor` cancels once
their client has closed its socket; every other request runs to its end, answered or not.
A client that only shut its writing half (it still waits for the answer) is not gone.

Abandoned (cancelling leaves nothing half-done):
- GET / HEAD: they only read.
- POST /containers/{id}/stop, /restart: what is cut is the wait for the process to exit when
  that wait has no end (`t=-1`); with a timeout the stop finishes (signal, grace period, kill),
  and once the old process is gone a restart always starts the new one (manager.stop/restart).
- POST /containers/{id}/kill: the signal is sent at once; only the wait for the exit is cut.
- POST /containers/{id}/start: only the wait for networking (at engine start) is cut; from the
  mount to PID 1 running, a start is never abandoned half-way (Supervisor.launch).

Finished anyway, because half of it would be worse than all of it: create (files, volumes, its
record), remove, pause/unpause, rename, exec create, update, prune, volume and network
create/connect/remove, image tag/remove, archive upload, shutdown. Responses streamed in
chunks (logs, events, stats, wait, image pull/load/build/push progress) are cut when their
client goes by the streaming code itself (http._send_stream), hijacked connections (attach,
exec start) by their handlers.

A deliberate difference: dockerd (moby 25+) lets stop and restart run on whatever the client
does (context.WithoutCancel); here the one part that can last forever — `t=-1` waiting for a
process that ignores its stop signal — ends with its client, so nothing starts minutes later.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import trio

from engine.api.peer import hung_up

CHECK_INTERVAL = 0.25  # seconds; a request younger than this is never looked at

_VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
_ABANDONED_POSTS = re.compile(r"^/containers/[^/]+/(?:start|stop|restart|kill)$")


def abandoned_on_disconnect(method: str, path: str) -> bool:
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and bool(_ABANDONED_POSTS.match(_VERSION_PREFIX.sub("", path, 1)))


class DisconnectMonitor:
    """One task for the whole server: every CHECK_INTERVAL it asks the kernel (poll, no read)
    whether the clients of the requests that were already running at the previous round have
    hung up, and cancels those requests.

    A watcher task per request (waiting for the socket to turn readable) costs ~0.3 ms on
    every request, measured (bench/api_server_bench.py); nearly all requests end long before
    a client could leave, and being late by a fraction of a second is harmless against a
    handler that would otherwise act minutes later. Registering costs a dict entry."""

    def __init__(self) -> None:
        self._watched: dict[trio.CancelScope, int] = {}
        self._previous: set[trio.CancelScope] = set()

    @contextmanager
    def watching(self, fd: int) -> Iterator[trio.CancelScope]:
        """A cancel scope for a request read from `fd`, cancelled if its client hangs up."""
        with trio.CancelScope() as scope:
            self._watched[scope] = fd
            try:
                yield scope
            finally:
                del self._watched[scope]

    def check(self) -> int:
        """One round: cancel the requests of clients gone since before the last round."""
        gone = 0
        for scope in self._previous:
            fd = self._watched.get(scope)
            if fd is not None and hung_up(fd):
                scope.cancel()
                gone += 1
        self._previous = set(self._watched)
        return gone

    async def run(self) -> None:
        while True:
            await trio.sleep(CHECK_INTERVAL)
            self.check()
