"""The API server's open connections and their limits.

Every connection holds a file descriptor; a client that opens thousands and leaves them idle
would otherwise take them all (and with them the engine's ability to open a log, a pipe or a
new connection). So: at most `Limits.total` connections at once, leaving a reserve of the fd
limit for everything else, and at most `Limits.per_peer` from one client process (SO_PEERCRED).
A new connection over a limit first closes the oldest *idle* connections (waiting for their
next request, keep-alive or never used) — of its own process for the per-process limit, of
anyone for the total —; a connection busy with a request is never cut. When nothing idle is
left to close, the new connection is refused with a 503.

`plan_admission` decides (pure); `ConnectionTable` keeps the records and carries it out.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable

import trio

from engine.api.peer import Peer

MIN_RESERVE = 64       # fds kept back for what is not a connection
RESERVE_FRACTION = 8   # ... or 1/8 of the limit, whichever is more
MAX_PER_PEER = 1024


@dataclass(frozen=True)
class Limits:
    total: int
    per_peer: int

    @classmethod
    def for_fd_limit(cls, nofile: int) -> Limits:
        """Limits that leave `max(64, nofile/8)` descriptors for container pipes, logs, pidfds
        and the files handlers open."""
        total = max(8, nofile - max(MIN_RESERVE, nofile // RESERVE_FRACTION))
        return cls(total=total, per_peer=max(4, min(MAX_PER_PEER, total // 2)))


@dataclass(frozen=True)
class ConnectionView:
    """What admission looks at: who, and since when it is idle (None: busy with a request)."""
    id: int
    peer: Peer
    idle_since: float | None


@dataclass(frozen=True)
class Admission:
    evict: tuple[int, ...] = ()
    refused: str | None = None   # the one-line reason, when refused


def plan_admission(open_: Iterable[ConnectionView], peer: Peer, limits: Limits) -> Admission:
    """Which idle connections to close so that one more from `peer` fits, or why it cannot."""
    conns = list(open_)
    idle = sorted((c for c in conns if c.idle_since is not None),
                  key=lambda c: (c.idle_since, c.id))
    own = [c for c in conns if c.peer == peer]
    evict: list[int] = []
    over_peer = len(own) + 1 - limits.per_peer
    if over_peer > 0:
        own_idle = [c.id for c in idle if c.peer == peer]
        if len(own_idle) < over_peer:
            return Admission(refused=f"too many connections from {peer}: "
                                     f"{len(own)} open, {limits.per_peer} allowed")
        evict.extend(own_idle[:over_peer])
    over_total = len(conns) + 1 - len(evict) - limits.total
    if over_total > 0:
        others = [c.id for c in idle if c.id not in evict]
        if len(others) < over_total:
            return Admission(refused=f"too many API connections: {len(conns)} open, "
                                     f"{limits.total} allowed")
        evict.extend(others[:over_total])
    return Admission(tuple(evict))


@dataclass
class Connection:
    """One open connection's record; `idle_scope` is set while it waits for a request."""
    id: int
    peer: Peer
    idle_since: float | None = None
    idle_scope: trio.CancelScope | None = None
    evicted: bool = False

    def view(self) -> ConnectionView:
        return ConnectionView(self.id, self.peer, self.idle_since)

    async def receive_idle(self, receive: Callable[[], Awaitable[bytes]]) -> bytes:
        """Wait for the first bytes of the next request; b"" if the client closed or the
        connection was closed to make room for another."""
        if self.evicted:
            return b""
        with trio.CancelScope() as scope:
            self.idle_scope, self.idle_since = scope, time.monotonic()
            try:
                return await receive()
            finally:
                self.idle_scope, self.idle_since = None, None
        return b""


class ConnectionTable:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._open: dict[int, Connection] = {}
        self._next = 0
        self.closed = trio.Event()   # set (and replaced) whenever a connection closes

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, peer: Peer) -> tuple[Connection | None, str | None]:
        """Record a new connection from `peer`, closing idle ones to make room; (None, reason)
        when it cannot be let in."""
        live = (c.view() for c in self._open.values() if not c.evicted)
        plan = plan_admission(live, peer, self.limits)
        if plan.refused:
            return None, plan.refused
        for cid in plan.evict:
            self._evict(self._open[cid])
        self._next += 1
        conn = Connection(self._next, peer)
        self._open[conn.id] = conn
        return conn, None

    def evict_oldest_idle(self, count: int) -> int:
        """Close up to `count` idle connections, oldest first (the fds ran out); how many."""
        idle = sorted((c for c in self._open.values()
                       if c.idle_since is not None and not c.evicted),
                      key=lambda c: (c.idle_since, c.id))
        for conn in idle[:count]:
            self._evict(conn)
        return min(count, len(idle))

    def release(self, conn: Connection) -> None:
        self._open.pop(conn.id, None)
        self.closed.set()
        self.closed = trio.Event()

    @staticmethod
    def _evict(conn: Connection) -> None:
        conn.evicted = True
        if conn.idle_scope is not None:
            conn.idle_scope.cancel()


@dataclass
class RateLimitedLog:
    """One line per `interval` for a recurring condition (EMFILE under a connection flood),
    saying how often it happened in between — never a line (or traceback) per occurrence."""
    logger: logging.Logger
    interval: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        again = self._suppressed.pop(key, 0)
        self.logger.warning("%s%s", message,
                            f" ({again} more since the last report)" if again else "")
