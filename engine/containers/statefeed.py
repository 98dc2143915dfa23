"""Container state changes and who waits for them: `wait` (the API's wait, attach's stdin
waiting for a start, log follow) blocks until the next `record` or `changed` of that container.
One event per container, made on demand and replaced once set, so a waiter never misses a
change that happens after it took the event."""
from __future__ import annotations

import trio

from engine.containers.store import ContainerRecord, ContainerStore


class StateFeed:
    def __init__(self, store: ContainerStore) -> None:
        self._store = store
        self._events: dict[str, trio.Event] = {}

    def record(self, rec: ContainerRecord) -> None:
        """Persist the record's state and wake whoever waits for a change of it."""
        self._store.save_state(rec)
        self.changed(rec.id)

    def changed(self, cid: str) -> None:
        event = self._events.pop(cid, None)
        if event is not None:
            event.set()

    def event(self, cid: str) -> trio.Event:
        """The event the next change of `cid` sets (take it before looking at the state)."""
        return self._events.setdefault(cid, trio.Event())

    async def wait(self, cid: str) -> None:
        await self.event(cid).wait()
