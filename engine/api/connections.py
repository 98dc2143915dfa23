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
from itertools import islice
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
class Admission:
    evict: tuple[int, ...] = ()
    refused: str | None = None   # the one-line reason, when refused
    per_peer: bool = False       # the peer's own limit was reached (else, if any, the total)


def plan_admission(peer: Peer, own_open: int, total_open: int, own_idle: Iterable[int],
                   all_idle: Iterable[int], limits: Limits) -> Admission:
    """Which idle connections to close so that one more from `peer` fits, or why it cannot.

    `own_open` / `total_open` count the open connections of the peer / of everyone;
    `own_idle` / `all_idle` are idle connection ids, oldest first (read lazily: only as many
    as must close)."""
    evict: list[int] = []
    over_peer = own_open + 1 - limits.per_peer
    if over_peer > 0:
        evict = list(islice(own_idle, over_peer))
        if len(evict) < over_peer:
            return Admission(refused=f"too many connections from {peer}: "
                                     f"{own_open} open, {limits.per_peer} allowed",
                             per_peer=True)
    over_total = total_open + 1 - len(evict) - limits.total
    if over_total > 0:
        chosen = set(evict)
        others = list(islice((i for i in all_idle if i not in chosen), over_total))
        if len(others) < over_total:
            return Admission(refused=f"too many API connections: {total_open} open, "
                                     f"{limits.total} allowed")
        evict.extend(others)
    return Admission(tuple(evict), per_peer=over_peer > 0)


@dataclass(eq=False)
class Connection:
    """One open connection's record, in `table` until released."""
    id: int
    peer: Peer
    table: ConnectionTable
    evicted: bool = False
    idle_scope: trio.CancelScope | None = None

    async def receive_idle(self, receive: Callable[[], Awaitable[bytes]]) -> bytes:
        """Wait for the first bytes of the next request; b"" if the client closed or the
        connection was closed to make room for another."""
        if self.evicted:
            return b""
        with trio.CancelScope() as scope:
            self.idle_scope = scope
            self.table._set_idle(self, True)
            try:
                return await receive()
            finally:
                self.idle_scope = None
                self.table._set_idle(self, False)
        return b""


class ConnectionTable:
    """Open connections, with per-peer counts and idle ones in the order they became idle,
    so that admitting one costs the same with 10 or 100,000 open."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._open: dict[int, Connection] = {}
        self._live_per_peer: dict[Peer, int] = {}     # open and not evicted
        self._live = 0
        self._idle: dict[int, Connection] = {}         # insertion order: oldest idle first
        self._idle_per_peer: dict[Peer, dict[int, Connection]] = {}
        self._next = 0
        self.closed = trio.Event()   # set (and replaced) whenever a connection closes

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, peer: Peer) -> tuple[Connection | None, Admission]:
        """Record a new connection from `peer`, closing idle ones to make room (the plan says
        which); None when it cannot be let in (the plan says why)."""
        plan = plan_admission(peer, self._live_per_peer.get(peer, 0), self._live,
                              iter(self._idle_per_peer.get(peer, {})), iter(self._idle),
                              self.limits)
        if plan.refused:
            return None, plan
        for cid in plan.evict:
            self._evict(self._open[cid])
        self._next += 1
        conn = Connection(self._next, peer, self)
        self._open[conn.id] = conn
        self._count(peer, +1)
        return conn, plan

    def evict_oldest_idle(self, count: int) -> int:
        """Close up to `count` idle connections, oldest first (the fds ran out); how many."""
        victims = list(islice(self._idle.values(), count))
        for conn in victims:
            self._evict(conn)
        return len(victims)

    def release(self, conn: Connection) -> None:
        if self._open.pop(conn.id, None) is None:
            return
        self._set_idle(conn, False)
        if not conn.evicted:
            self._count(conn.peer, -1)
        self.closed.set()
        self.closed = trio.Event()

    def _count(self, peer: Peer, delta: int) -> None:
        self._live += delta
        left = self._live_per_peer.get(peer, 0) + delta
        if left:
            self._live_per_peer[peer] = left
        else:
            self._live_per_peer.pop(peer, None)

    def _set_idle(self, conn: Connection, idle: bool) -> None:
        own = self._idle_per_peer.setdefault(conn.peer, {})
        if idle and not conn.evicted:
            self._idle[conn.id] = own[conn.id] = conn
        else:
            self._idle.pop(conn.id, None)
            own.pop(conn.id, None)
        if not own:
            del self._idle_per_peer[conn.peer]

    def _evict(self, conn: Connection) -> None:
        """An evicted connection no longer counts (its fd is about to go) and is never idle
        again; if bytes of a request arrived meanwhile, that request is still served."""
        conn.evicted = True
        self._count(conn.peer, -1)
        self._set_idle(conn, False)
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
