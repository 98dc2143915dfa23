"""The in-memory side of started containers: one `Running` per container whose PID 1 the
supervisor started, in a `RunningTable` that execs, output and queries read (only the
supervisor adds and drops entries). Lost, by design, when the daemon dies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import trio

from engine.runtime.spec import ContainerSpec

if TYPE_CHECKING:
    from engine.runtime.cgroups import Cgroup
    from engine.runtime.runtime import Process


@dataclass
class Running:
    """One started container: its PID 1, cgroup, spec and the parent ends of its stdio."""
    process: Process
    cgroup: Cgroup
    spec: ContainerSpec
    started: float                # trio clock
    stdin: trio.lowlevel.FdStream | None = None
    pty: trio.lowlevel.FdStream | None = None
    outputs: list[tuple[str, trio.lowlevel.FdStream]] = field(default_factory=list)
    stop_requested: bool = False
    exited: trio.Event = field(default_factory=trio.Event)    # PID 1 gone
    finished: trio.Event = field(default_factory=trio.Event)  # teardown + state recorded
    health_scope: trio.CancelScope | None = None
    networks: dict[str, dict] = field(default_factory=dict)


class RunningTable:
    """Container id → its `Running`, for the containers whose PID 1 lives."""

    def __init__(self) -> None:
        self._by_id: dict[str, Running] = {}

    def get(self, cid: str) -> Running | None:
        return self._by_id.get(cid)

    def __contains__(self, cid: object) -> bool:
        return cid in self._by_id

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._by_id))

    def add(self, cid: str, run: Running) -> None:
        self._by_id[cid] = run

    def drop(self, cid: str) -> None:
        self._by_id.pop(cid, None)
