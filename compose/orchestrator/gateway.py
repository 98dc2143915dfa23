"""The one door to the engine: the synchronous API client, called from trio through worker
threads, with a capacity limit so a 50-service project does not open 50 connections at once.

The client keeps one connection and is not thread-safe, so each worker thread gets its own.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

DEFAULT_PARALLEL = 8


class Gateway:
    def __init__(self, client_factory: Callable[[], Any], parallel: int = DEFAULT_PARALLEL,
                 threaded: bool = True) -> None:
        self._factory = client_factory
        self._local = threading.local()
        self.parallel = max(1, parallel)
        self._limiter = None
        # threaded=False runs calls inline (tests with fake engines on the autojump clock).
        self.threaded = threaded
        self._clients: list[Any] = []
        self._lock = threading.Lock()

    def client(self) -> Any:
        """This thread's client (for blocking use outside trio, e.g. log streaming threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def dedicated(self) -> Any:
        """A client no thread shares, for one long stream (the caller closes its response)."""
        return self._factory()

    @property
    def limiter(self):
        # trio is imported on first async use only: `ps` and friends never pay for it.
        if self._limiter is None:
            import trio

            self._limiter = trio.CapacityLimiter(self.parallel)
        return self._limiter

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`client.<method>(*args, **kwargs)` off the event loop."""
        import trio

        if not self.threaded:
            await trio.lowlevel.checkpoint()
            return getattr(self.client(), method)(*args, **kwargs)
        # abandon_on_cancel: a second Ctrl-C must not wait for a 10 s stop to return; the
        # thread finishes its call on its own connection and nothing is left untracked, since
        # every container carries the project's labels.
        return await trio.to_thread.run_sync(
            lambda: getattr(self.client(), method)(*args, **kwargs), limiter=self.limiter,
            abandon_on_cancel=True)

    async def blocking(self, fn: Callable[[], Any], abandon: bool = True) -> Any:
        """Run a long blocking function (a log stream, a wait) outside the capacity limit; with
        `abandon` a cancelled caller does not wait for it."""
        import trio

        if not self.threaded:
            await trio.lowlevel.checkpoint()
            return fn()
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=abandon)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            close = getattr(client, "close", None)
            if close:
                close()
