"""Head starts: engine work begun on threads while the CLI still imports trio and the executor.

`up`: the project's networks are created early (NetworkHeadStart).

Creating a bridge network is the slowest call of a small `up` (0.13-0.43 s in the daemon: a
bridge plus iptables round trips) and the containers cannot be created before it, while the
CLI spends 0.1-0.25 s importing trio and the executor before its first engine call. Starting the
network work as soon as the project is loaded overlaps the two. The executor then takes each
network's outcome from here instead of asking the engine again (`Orchestrator.ensure_networks`),
so each network is inspected and created once, and errors surface at the same place as before.

`down -t 0`: the containers are listed and force-removed early, then the networks removed
(RemovalHeadStart): 0.1-0.25 s per container round and 0.25-0.37 s per network in the daemon,
now overlapping the imports.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from queue import Empty, SimpleQueue
from typing import Any

from compose.orchestrator import labels as L
from compose.orchestrator import networks
from compose.orchestrator.project_view import ProjectSpec
from engine.errors import NotFound

CREATED, PRESENT, REMOVED = "created", "present", "removed"


class NetworkHeadStart:
    """Ensures networks (inspect, create when missing) on its own thread and engine connection.
    External networks are left to the executor, which owns their error messages."""

    def __init__(self, gateway: Any, project: ProjectSpec, keys: Iterable[str]) -> None:
        self._gateway = gateway
        self._project = project
        self._keys = [k for k in keys
                      if k in project.networks and not project.networks[k].external]
        self._outcomes: dict[str, str | BaseException] = {}
        # daemon: a Ctrl-C'd CLI must not wait for the engine; whatever got created carries
        # the project's labels, so `down` finds it.
        self._thread = threading.Thread(target=self._run, name="pc-networks", daemon=True)

    def start(self) -> NetworkHeadStart:
        if self._keys:
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            client = self._gateway.client()
        except BaseException as e:   # noqa: BLE001 - handed to the executor, raised there
            self._outcomes.update(dict.fromkeys(self._keys, e))
            return
        for key in self._keys:
            res = self._project.networks[key]
            try:
                try:
                    client.inspect_network(res.name)
                    self._outcomes[key] = PRESENT
                    continue
                except NotFound:
                    pass
                client.create_network(networks.create_body(self._project, res))
                self._outcomes[key] = CREATED
            except BaseException as e:   # noqa: BLE001 - handed to the executor, raised there
                self._outcomes[key] = e
                # later networks are left to the executor: an engine without networks would
                # only fail them again
                return

    def outcome(self, key: str) -> str | BaseException | None:
        """CREATED, PRESENT, the error the engine gave, or None (not handled here: the
        executor does it itself). Blocks until the thread is done."""
        if self._thread.is_alive():
            self._thread.join()
        return self._outcomes.get(key)


class RemovalHeadStart:
    """`down -t 0`'s container phase on threads: list the project's containers, pick those
    `down` removes (the same pure selection the executor uses), force-remove them all at once,
    each on its own engine connection. The executor reports the outcomes."""

    def __init__(self, gateway: Any, project: ProjectSpec, *, remove_orphans: bool,
                 volumes: bool) -> None:
        self._gateway = gateway
        self._project = project
        self._remove_orphans = remove_orphans
        self._volumes = volumes
        self._existing: list[Any] | BaseException = []   # plan.Observed
        self._outcomes: dict[str, str | BaseException] = {}
        self._networks: list[tuple[str, Any]] | BaseException = []
        self._thread = threading.Thread(target=self._run, name="pc-removal", daemon=True)

    def start(self) -> RemovalHeadStart:
        self._thread.start()
        return self

    def _run(self) -> None:
        # here, not at the top: plan's import (~10 ms) must not delay `up`'s network head start
        from compose.orchestrator.plan import Observed, plan_stop, removal_rounds

        try:
            items = self._gateway.client().containers(
                all=True, filters=L.filters(self._project.name))
            self._existing = [Observed.from_summary(i) for i in items or []]
        except BaseException as e:   # noqa: BLE001 - handed to the executor, raised there
            self._existing = e
            return
        plan = plan_stop(self._existing, self._project.stop_generations(),
                         include_orphans=self._remove_orphans or not self._project.services)
        chosen = [c for r in removal_rounds(plan, 0) for c in r]
        # at most `parallel` workers (like the executor's capacity limit), each with its own
        # engine connection kept for all its removals: a thread and a connection per container
        # made `down` of 50 services slower than the executor's 8 pooled workers.
        queue: SimpleQueue[Any] = SimpleQueue()
        for c in chosen:
            queue.put(c)
        workers = [threading.Thread(target=self._remove_from, args=(queue,), daemon=True,
                                    name="pc-remove")
                   for _ in range(min(self._gateway.parallel, len(chosen)))]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        # then the networks, as the executor would (it reports these outcomes)
        try:
            self._networks = networks.remove_all(self._gateway.client(), self._project)
        except BaseException as e:   # noqa: BLE001 - handed to the executor, raised there
            self._networks = e

    def _remove_from(self, queue: SimpleQueue[Any]) -> None:
        while True:
            try:
                c = queue.get_nowait()
            except Empty:
                return
            try:
                self._gateway.client().remove_container(c.id, force=True, volumes=self._volumes)
                self._outcomes[c.id] = REMOVED
            except NotFound:
                self._outcomes[c.id] = REMOVED   # gone already: what down wanted
            except BaseException as e:   # noqa: BLE001 - handed to the executor, raised there
                self._outcomes[c.id] = e

    def existing(self) -> list[Any]:
        """The project's containers as listed at the start (blocks until the removals are
        done); raises what the listing raised."""
        self._thread.join()
        if isinstance(self._existing, BaseException):
            raise self._existing
        return self._existing

    def outcome(self, cid: str) -> str | BaseException | None:
        """REMOVED, the engine's error, or None (not handled here). Blocks like existing()."""
        self._thread.join()
        return self._outcomes.get(cid)

    def network_outcomes(self) -> list[tuple[str, Any]]:
        """What networks.remove_all returned (raises what it raised). Blocks like existing()."""
        self._thread.join()
        if isinstance(self._networks, BaseException):
            raise self._networks
        return self._networks
