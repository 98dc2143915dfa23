"""A head start for `up`: the project's networks are created in a thread while the CLI still
imports trio and the executor.

Creating a bridge network is the slowest call of a small `up` (0.13-0.43 s in the daemon: a
bridge plus iptables round trips) and the containers cannot be created before it, while the
CLI spends 0.1-0.25 s importing trio and the executor before its first engine call. Starting the
network work as soon as the project is loaded overlaps the two. The executor then takes each
network's outcome from here instead of asking the engine again (`Orchestrator.ensure_networks`),
so each network is inspected and created once, and errors surface at the same place as before.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from compose.orchestrator import networks
from compose.orchestrator.project_view import ProjectSpec
from engine.errors import NotFound

CREATED, PRESENT = "created", "present"


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
