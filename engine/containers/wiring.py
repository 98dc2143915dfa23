"""The network wiring of containers (a collaborator of ContainerManager): which network mode a
start gets, the before_exec hook that connects PID 1's netns (engine.containers.networking does
the netbridge calls), the teardown, network connect/disconnect of a container, and the
NetworkSettings shapes. Without a network backend every container gets no network."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Protocol, Sequence

import trio

from engine.containers import networking
from engine.containers.model import ContainerConfig, ContainerState, parse_create
from engine.containers.running import RunningTable
from engine.containers.store import ContainerRecord, ContainerStore
from engine.errors import BadParameter, Conflict


class NetworkBackend(Protocol):
    """What the wiring asks of netbridge's NetworkManager (behind the engine's boundary)."""
    container_links: Callable[[str], dict[str, str]]

    def connect(self, network: str, container_id: str, netns: str, **options: Any) -> Any: ...
    def disconnect(self, network: str, container_id: str) -> None: ...
    def release(self, container_id: str) -> None: ...
    def endpoints(self) -> Iterable[Any]: ...
    def list(self) -> Sequence[Any]: ...
    def ports(self, container_id: str) -> Sequence[Any]: ...
    def publish(self, container_id: str, specs: Sequence[Any]) -> Any: ...


Hook = Callable[[int, dict], Awaitable[None]]


class NetworkWiring:
    def __init__(self, networks: NetworkBackend | None, store: ContainerStore,
                 table: RunningTable) -> None:
        self.networks = networks
        self.store = store      # networking's functions read records through it
        self._table = table
        # set by the daemon once netbridge recovered; starts that need a network wait for it
        self.networks_ready = trio.Event()
        if networks is None:
            self.networks_ready.set()
        else:   # the resolver asks for a container's link aliases
            networks.container_links = lambda cid: networking.dns_links(self, cid)

    def mode(self, rec: ContainerRecord) -> str:
        """The runtime's network for a start: host, none, another container's netns, or a
        private netns the hook wires."""
        mode = rec.config.network_mode
        if mode in ("host", "none"):
            return mode
        if mode.startswith("container:"):
            other = self.store.get(mode[len("container:"):])
            run = self._table.get(other.id)
            if run is None or other.state.status is not ContainerState.RUNNING:
                raise Conflict(f"cannot join network of a non running container: {other.short_id}")
            return f"ns:/proc/{run.process.pid}/ns/net"
        if self.networks is None:
            return "none"
        return "private"

    def hook(self, rec: ContainerRecord) -> Hook | None:
        """before_exec for a private netns: veths, ports, /etc files."""
        if self.networks is None:
            return None
        return lambda pid, out: networking.connect_container(self, rec, pid, out)

    def link_env(self, rec: ContainerRecord) -> tuple[str, ...]:
        """Worker thread, before a start: the variables of `rec`'s legacy links (fails the
        start when a target is missing or stopped)."""
        return networking.link_environment(self, rec) if self._wired(rec) else ()

    def disconnect_all(self, cid: str) -> None:
        """Teardown or a failed start (worker thread): every endpoint and port of `cid`."""
        if self.networks is not None:
            networking.disconnect_container(self, cid)

    def _wired(self, rec: ContainerRecord) -> bool:
        mode = rec.config.network_mode
        return self.networks is not None and mode not in ("host", "none") \
            and not mode.startswith("container:")

    def networks_json(self, rec: ContainerRecord) -> dict:
        """NetworkSettings.Networks of inspect and list."""
        if self._wired(rec):
            return networking.networks_json(self, rec)
        mode = rec.config.network_mode
        name = "bridge" if mode == "default" else mode
        if mode.startswith("container:"):
            return {}
        return {name: {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                       "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                       "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                       "MacAddress": "", "DriverOpts": None}}

    def published(self, rec: ContainerRecord) -> list[dict]:
        """The Ports of list: live bindings, else what the config asks for."""
        if self.networks is None:
            return [{"PrivatePort": b.container_port, "Type": b.protocol}
                    for b in rec.config.port_bindings]
        return networking.published_ports(self, rec)

    # --- network connect / disconnect -------------------------------------------------------
    def check_create(self, cfg: ContainerConfig) -> None:
        """What a create is refused for on the networking side, before anything is written: a
        legacy link to no container, a static address where Docker takes none."""
        networking.check_link_targets(self.store, cfg.body, cfg.network_mode)
        if cfg.network_mode in ("host", "none") or cfg.network_mode.startswith("container:"):
            return   # no endpoint of its own (a MacAddress or links there are refused apart)
        for name, endpoint in (cfg.endpoints or {}).items():
            networking.check_static_address(self, name, endpoint)

    async def connect(self, ref: str, network: str, endpoint: dict) -> None:
        """Record the network in the container's EndpointsConfig; wire it now if running."""
        nets = self._backend()
        rec = self.store.get(ref)   # an unknown container is named before its settings
        networking.check_static_address(self, network, endpoint)
        async with self.store.lock(rec.id):
            body = dict(rec.config.body)
            nc = dict(body.get("NetworkingConfig") or {})
            ec = dict(nc.get("EndpointsConfig") or {})
            ec[network] = endpoint or {}
            nc["EndpointsConfig"] = ec
            body["NetworkingConfig"] = nc
            new_cfg = parse_create(body)
            run = self._table.get(rec.id)
            if run is not None and self._wired(rec):
                count = sum(1 for ep in nets.endpoints() if ep.container_id == rec.id)
                await trio.to_thread.run_sync(lambda: nets.connect(
                    network, rec.id, f"/proc/{run.process.pid}/ns/net", container_name=rec.name,
                    aliases=networking._aliases(endpoint or {}),
                    ip=networking._ip(endpoint or {}), mac=networking._mac(endpoint or {}),
                    ifname=f"eth{count}"))
            rec.config = new_cfg
            self.store.save_config(rec)

    async def disconnect(self, ref: str, network: str) -> None:
        nets = self._backend()
        rec = self.store.get(ref)
        async with self.store.lock(rec.id):
            body = dict(rec.config.body)
            nc = dict(body.get("NetworkingConfig") or {})
            ec = {k: v for k, v in (nc.get("EndpointsConfig") or {}).items() if k != network}
            nc["EndpointsConfig"] = ec
            body["NetworkingConfig"] = nc
            if rec.id in self._table:
                await trio.to_thread.run_sync(nets.disconnect, network, rec.id)
            rec.config = parse_create(body)
            self.store.save_config(rec)

    def _backend(self) -> NetworkBackend:
        if self.networks is None:
            raise BadParameter("networking is not available in this engine")
        return self.networks
