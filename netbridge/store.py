"""Persisted netbridge state: networks, endpoints and published ports, in one JSON file.

Written atomically (temp file + rename) after every change, so allocations survive a daemon
restart or crash. The models are frozen dataclasses; the store holds them by id.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .errors import HostFailure

from .ports import PortBinding

STATE_FILE = "netbridge.json"


@dataclass(frozen=True)
class Network:
    id: str                 # 64 hex
    name: str
    bridge: str             # pcbr + 11 hex
    subnet: str
    gateway: str
    internal: bool = False
    labels: dict = field(default_factory=dict)
    created: str = ""       # RFC 3339
    ip_range: str = ""      # containers' addresses come from here ("": the whole subnet)
    aux_addresses: dict = field(default_factory=dict)   # name → address, never handed out
    # False when the engine chose the subnet: the engine then takes no static address on it (an
    # address there could clash with the next network's choice). True for records that predate
    # the field, so what they accepted before stays accepted.
    user_subnet: bool = True

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.split("/")[1])


@dataclass(frozen=True)
class Endpoint:
    network_id: str
    container_id: str
    container_name: str
    aliases: tuple[str, ...]
    ip: str
    mac: str
    gateway: str            # "" on internal networks: no default route
    prefixlen: int
    ifname: str             # inside the container: eth0, eth1, ...
    host_veth: str          # pcv + 12 hex
    netns_path: str
    dns_server: str = ""    # the network's DNS server (its gateway address, also when internal)

    def dns_names(self) -> list[str]:
        return [self.container_name, self.container_id[:12], *self.aliases]


@dataclass
class State:
    networks: dict[str, Network] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: dict[str, list[PortBinding]] = field(default_factory=dict)   # container id → bindings
    # True from before the first kernel object (bridge, rule) is made until a graceful stop has
    # removed them all again: a start that finds it False and nothing recorded has nothing to
    # clean (no iptables-save, no pyroute2), one that finds it True follows a crash
    live: bool = False

    def empty(self) -> bool:
        return not (self.networks or self.endpoints or self.ports)

    def endpoints_of(self, network_id: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.network_id == network_id]

    def endpoints_for(self, container_id: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.container_id == container_id]


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / STATE_FILE
        self._seq_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = 0
        self._written = 0

    def load(self) -> State:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return State()
        except (OSError, ValueError) as exc:
            raise HostFailure(f"cannot read network state {self.path}: {exc}") from None
        return State(
            networks={n["id"]: Network(**n) for n in raw.get("networks", [])},
            endpoints=[Endpoint(**{**e, "aliases": tuple(e["aliases"])})
                       for e in raw.get("endpoints", [])],
            ports={cid: [PortBinding(**b) for b in bs] for cid, bs in raw.get("ports", {}).items()},
            # files written before the flag existed came from daemons that never cleaned up
            live=bool(raw.get("live", True)),
        )

    def save(self, state: State) -> None:
        self.write(self.snapshot(state))

    def snapshot(self, state: State) -> tuple[int, dict]:
        """The state as file data, numbered: take it while the state cannot change (under the
        manager's lock); write() it later, possibly after the lock is gone."""
        # vars(), not asdict(): the models are flat, and asdict's deep copies were a third of
        # a connect's cost
        data = {
            "networks": [vars(n) for n in state.networks.values()],
            "endpoints": [vars(e) for e in state.endpoints],
            "ports": {cid: [vars(b) for b in bs] for cid, bs in state.ports.items()},
            "live": state.live,
        }
        with self._seq_lock:
            self._seq += 1
            return self._seq, data

    def write(self, snapshot: tuple[int, dict]) -> None:
        """Write a snapshot unless a newer one was written already (writers may finish in any
        order); one writer at a time (they share the temporary file)."""
        seq, data = snapshot
        with self._write_lock:
            if seq <= self._written:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w") as f:
                json.dump(data, f, separators=(",", ":"))
            # no fsync: it costs ~3 ms per connect; rename keeps the file whole, and what a
            # power loss could drop (the newest endpoints) is what cleanup() removes after a
            # restart anyway
            os.replace(tmp, self.path)
            self._written = seq
