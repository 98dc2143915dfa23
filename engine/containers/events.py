"""Docker-style events (`GET /events`): a bounded history plus live subscribers."""
from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from engine.containers.store import ContainerRecord

HISTORY = 1000


def event(kind: str, action: str, actor_id: str, attributes: dict[str, str],
          now_ns: int | None = None) -> dict[str, Any]:
    ns = time.time_ns() if now_ns is None else now_ns
    ev: dict[str, Any] = {"Type": kind, "Action": action,
                          "Actor": {"ID": actor_id, "Attributes": attributes},
                          "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
    if kind == "container":  # the legacy top-level fields docker-py and old clients read
        ev.update(status=action, id=actor_id, **({"from": attributes["image"]}
                                                 if "image" in attributes else {}))
    return ev


def container_event(rec: ContainerRecord, action: str, **extra: str) -> dict[str, Any]:
    """An event about a container: its labels, image and name are the actor's attributes."""
    attrs = {**rec.config.labels, "image": rec.config.image, "name": rec.name, **extra}
    return event("container", action, rec.id, attrs)


def matches(ev: dict, filters: dict[str, list[str]]) -> bool:
    attrs = ev["Actor"]["Attributes"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and ev["Type"] not in values:
            return False
        if key in ("event", "action") and not any(
                ev["Action"] == v or ev["Action"].startswith(v + ":") for v in values):
            return False
        if key == "container" and not any(
                ev["Actor"]["ID"].startswith(v) or attrs.get("name") == v for v in values):
            return False
        if key == "image" and attrs.get("image") not in values:
            return False
        if key == "label":
            for flt in values:
                k, eq, v = flt.partition("=")
                if k not in attrs or (eq and attrs[k] != v):
                    return False
    return True


class EventBus:
    def __init__(self) -> None:
        self._history: collections.deque[dict] = collections.deque(maxlen=HISTORY)
        self._subscribers: set[trio.MemorySendChannel[dict]] = set()

    def emit(self, ev: dict) -> None:
        self._history.append(ev)
        for send in list(self._subscribers):
            try:
                send.send_nowait(ev)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                # a subscriber that stopped reading loses events rather than stalling the engine
                if isinstance(send, trio.MemorySendChannel):
                    self._subscribers.discard(send)
                    send.close()

    def history(self, since_ns: int | None, until_ns: int | None) -> list[dict]:
        return [e for e in self._history
                if (since_ns is None or e["timeNano"] >= since_ns)
                and (until_ns is None or e["timeNano"] <= until_ns)]

    def listeners(self) -> int:
        """Subscribers (/info's NEventsListener); one that left is counted until the next
        event finds it gone."""
        return len(self._subscribers)

    def subscribe(self) -> trio.MemoryReceiveChannel[dict]:
        send, receive = trio.open_memory_channel[dict](1000)
        self._subscribers.add(send)
        return receive
