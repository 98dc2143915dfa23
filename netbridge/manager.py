"""NetworkManager: the facade the engine daemon uses (docs/contracts.md, netbridge section).

Lifetime of kernel objects: a network's bridge, its iptables chains and rules, veths and held
port sockets exist only while a daemon runs. A graceful stop (`stop()`) removes all of them but
keeps the persisted networks (ids, names, subnets, labels); the next start's `cleanup()`
re-creates bridges and rules before containers may start (the daemon runs it in the background
while the API already answers: measured 0.26-0.45 s for three networks, one iptables round
trip for all of them on a host with ~2000 rules, and ~0.3 s for the stop. Lazily on first use
would move that cost into the first container start, and the DNS servers need the gateway
addresses anyway).
Docker keeps docker0 while it is stopped; we deliberately do not, so a stopped engine (and
every test engine) leaves the host as it found it. `ip_forward` is the one exception: it is
host-global and other engines or Docker may rely on it, so it is switched on and never back.
After a crash the state file's `live` flag says objects may remain, and `cleanup()` finds them
from the recorded networks, endpoints and ports; after a graceful stop with no networks recorded
it costs nothing (no iptables, no pyroute2).

Synchronous methods do blocking netlink/iptables work: the daemon calls them from worker threads
(`trio.to_thread.run_sync`). A dead container's teardown (`release()`) and the API's network rm
(`remove(background=True)`) finish their kernel work on background threads (teardown.py);
`settle()` waits for it, and so does everything that depends on it. `serve()` runs in the
daemon's trio loop and hosts one DNS server per network; networks created while it runs get their
server before `create()` returns (when called from a worker thread) or moments later (when called
on the trio thread).

netbridge imports nothing of the engine: errors are its own (errors.py, mapped by the engine at
engine/netboundary.py) and step timing comes in as a `StepTimer` (steps.py).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

import trio

from . import firewall, ipam, netlink
from .dns import NameTable
from .dnsserving import DnsServing
from .errors import Conflict, InvalidRequest, NotFound
from .ports import PortBinding, PortReservation, PortSpec, parse_port_spec, reserve
from .recovery import Recovery
from .rules import Base, PortRulesInstall, RuleBook
from .steps import StepTimer, untimed
from .store import Endpoint, Network, State, Store
from .teardown import Teardown

log = logging.getLogger(__name__)

DEFAULT_NETWORK = "bridge"
# Docker's own networks besides the bridge: `host` and `none` are network modes, not networks
PREDEFINED = ("host", "none")

__all__ = ["NetworkManager", "Network", "Endpoint", "PortBinding", "PortSpec"]


def check_network_name(name: str) -> None:
    """Docker takes any name that is not blank (spaces too: nothing host-visible derives from
    it); a control character would break the one-line messages and listings that show it."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("invalid network name: name is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest(f"invalid network name {name!r}: control characters are not allowed")
    if "/" in name:
        # clients put the name in the URL path unescaped (/networks/a/b/connect): such a
        # network could be made but never named again
        raise InvalidRequest(f"invalid network name {name!r}: '/' is not allowed")
    if name in PREDEFINED:
        raise InvalidRequest(f"operation is not permitted on predefined {name} network")


class NetworkManager(Recovery, Teardown, DnsServing):
    def __init__(self, state_dir: Path, address_pool: str, *,
                 resolv_conf: str | Path = "/etc/resolv.conf", dns_port: int = 53,
                 step: StepTimer = untimed) -> None:
        self._step = step
        self._store = Store(Path(state_dir))
        self._pool = address_pool
        ipam.parse_network(address_pool, "address pool")
        instance = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:6]
        self.chains = firewall.Chains.for_instance(instance)
        self._resolv_conf = resolv_conf
        self._dns_port = dns_port
        self._lock = threading.RLock()
        # Kernel work finishing on background threads (release(), remove()): link deletions
        # and firewall removals. Whatever depends on them waits (_settle) on this condition.
        self._released = threading.Condition(self._lock)
        self._pending_links = 0
        # (network id, address) of veths release() is still deleting: the address (and the MAC
        # made from it) is not handed out again until the old port has left the bridge
        self._dying: set[tuple[str, str]] = set()
        self._pending_rules = 0
        self._state: State = self._store.load()
        self._tables: dict[str, NameTable] = {}
        for ep in self._state.endpoints:
            self._table(ep.network_id).add(ep.container_id, ep.dns_names(), ep.ip)
        self._reservations: dict[str, list[PortReservation]] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._dns_nursery: trio.Nursery | None = None
        self._dns_scopes: dict[str, trio.CancelScope] = {}
        self._dns_ready: set[str] = set()
        # ABSENT at start unless `live`: it is cleared only after the base rules were removed
        self._rules = RuleBook(self.chains, Base.UNKNOWN if self._state.live else Base.ABSENT)

    # --- networks ---------------------------------------------------------------------------

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, aux_addresses: Mapping[str, str] | None = None,
               internal: bool = False, labels: dict | None = None) -> Network:
        request = ipam.AddressRequest(subnet, gateway, ip_range, dict(aux_addresses or {}))
        net = self._create(name, request, internal, labels)
        with self._step("netbridge.dns_start"):
            self._dns_changed(wait=True)
        return net

    def _create(self, name: str, request: ipam.AddressRequest, internal: bool,
                labels: dict | None) -> Network:
        check_network_name(name)
        with self._lock:
            # a bridge still being deleted holds its subnet's route, and a removal of the base
            # chains may be running: wait, so everything below sees what a synchronous
            # network rm would have left
            with self._step("netbridge.create_settle"):
                self._settle()
            if any(n.name == name for n in self._state.networks.values()):
                raise Conflict(f"network with name {name} already exists")
            used = [n.subnet for n in self._state.networks.values()]
            with self._step("netbridge.host_routes"):
                host = netlink.host_routes_and_addresses()
            plan = ipam.plan_addresses(request, self._pool, used, host)
            net_id = secrets.token_hex(32)
            # host-visible names come from the id, never from the user's name (which may
            # hold spaces or be longer than an interface name)
            net = Network(id=net_id, name=name, bridge="pcbr" + net_id[:11],
                          subnet=plan.subnet, gateway=plan.gateway, internal=internal,
                          labels=dict(labels or {}),
                          created=datetime.now(timezone.utc).isoformat(),
                          ip_range=plan.ip_range, aux_addresses=dict(plan.aux_addresses),
                          user_subnet=request.subnet is not None)
            self._materialize(net)
            self._state.networks[net.id] = net
            self._save()
        return net

    def _materialize(self, net: Network, *, undo_on_failure: bool = True) -> None:
        """Bridge + rules for `net` (idempotent); on failure of a new network nothing is left."""
        self._mark_live()
        try:
            with self._step("netbridge.bridge_up"):
                self._bridge_up(net)
            with self._step("netbridge.install_network_rules"):
                self._rules.install(self._rules.network_rules(net))
        except BaseException:
            if not undo_on_failure:
                raise
            try:
                self._unmaterialize(net)
                if not self._state.networks:
                    self._rules.remove_base()
            except Exception:  # the original failure is the one worth reporting
                log.exception("cleanup after failed network set-up of %s", net.name)
            raise

    def _bridge_up(self, net: Network) -> None:
        netlink.ensure_bridge(net.bridge, net.gateway, net.prefixlen)
        if not net.internal:
            netlink.set_sysctl("net.ipv4.ip_forward", "1")
            # lets DNAT'd 127.0.0.1 traffic leave through the bridge (published ports)
            netlink.set_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1")

    def _unmaterialize(self, net: Network, *, with_base: bool = False) -> None:
        rules = self._rules.network_rules(net)
        if with_base:
            rules = self._rules.base_rules() + rules
            self._rules.base = Base.UNKNOWN
        # the bridge goes while iptables-restore runs: each is ~30 ms, mostly waiting for the
        # kernel (nft commit, RCU grace period on unregister); the rules name the bridge only
        # as a string, so the order does not matter
        failed: list[BaseException] = []

        def delete_bridge() -> None:
            try:
                netlink.delete_link(net.bridge)
            except BaseException as exc:   # re-raised on the calling thread
                failed.append(exc)

        worker = threading.Thread(target=delete_bridge, name=f"rm {net.bridge}")
        worker.start()
        try:
            self._rules.uninstall(rules)
        finally:
            worker.join()
        if with_base:
            self._rules.base = Base.ABSENT
        if failed:
            raise failed[0]

    def get(self, name_or_id: str) -> Network:
        """A network by name, id or unique id prefix; the default `bridge` is made on demand."""
        with self._lock:
            net = self._find(name_or_id)
            if net is None and name_or_id == DEFAULT_NETWORK:
                try:
                    net = self._create(DEFAULT_NETWORK, ipam.AddressRequest(), False, None)
                except Conflict:   # made meanwhile by another thread
                    net = self._find(name_or_id)
                # the caller may hold our lock: never wait for the trio thread here
                self._dns_changed(wait=False)
            if net is None:
                raise NotFound(f"network {name_or_id} not found")
            return net

    def _find(self, key: str) -> Network | None:
        nets = self._state.networks
        if key in nets:
            return nets[key]
        for n in nets.values():
            if n.name == key:
                return n
        matches = [n for n in nets.values() if key and n.id.startswith(key)]
        if len(matches) > 1:
            raise InvalidRequest(f"network id prefix {key} is ambiguous")
        return matches[0] if matches else None

    def list(self) -> list[Network]:
        with self._lock:
            return sorted(self._state.networks.values(), key=lambda n: n.created)

    def remove(self, name_or_id: str, *, background: bool = False) -> None:
        """Remove a network: its bridge, rules (and the base rules with the last network).

        With `background` (the API's network rm) the network is forgotten now and its rules
        and bridge go on a background thread. Both are kernel waits, not work: an nft commit
        that deletes waits for an RCU grace period (~20-30 ms for the network's and base
        chains), unregistering the bridge for
        several (40-50 ms). Nothing after this depends on them: the bridge and chain names are
        unique to this network id, and create(), publish(), remove(), cleanup() and stop()
        wait for pending removals first. `live` stays set until they are done (a crash
        meanwhile is cleaned at the next start). Should the rules removal fail, the network is
        recorded again (a later rm or the daemon's stop retries) and the error logged (raised
        without `background`).
        """
        with self._lock:
            self._settle(links=False)   # one base-chain removal at a time
            net = self._find(name_or_id)
            if net is None:
                raise NotFound(f"network {name_or_id} not found")
            if self._state.endpoints_of(net.id):
                raise Conflict(f"error while removing network: network {net.name} id {net.id} "
                               f"has active endpoints")
            last = len(self._state.networks) == 1 and not self._state.ports
            rules = self._rules.network_rules(net)
            if last:   # one iptables-restore for both
                rules = self._rules.base_rules() + rules
                self._rules.base = Base.UNKNOWN
            del self._state.networks[net.id]
            self._tables.pop(net.id, None)
            self._pending_rules += 1
            self._save()
        if background:
            threading.Thread(target=self._finish_remove, args=(net, rules, last), daemon=True,
                             name=f"rm {net.bridge}").start()
        else:
            try:
                self._finish_remove(net, rules, last, raise_errors=True)
            finally:
                self.settle()
        self._dns_changed(wait=False)

    def endpoints(self, network: str | None = None) -> list[Endpoint]:
        with self._lock:
            if network is None:
                return list(self._state.endpoints)
            return self._state.endpoints_of(self.get(network).id)

    # --- endpoints --------------------------------------------------------------------------

    def connect(self, network: str, container_id: str, netns_path: str, *, container_name: str,
                aliases: Iterable[str] = (), ip: str | None = None, mac: str | None = None,
                ifname: str = "eth0", publish: Iterable[PortSpec] = ()) -> Endpoint:
        """Wire the container's netns to `network`.

        `mac`: the container side's MAC address (else one derived from its IP address, as
        Docker). `publish`: ports to publish on this endpoint as publish() would, when it is
        the container's first one on a non-internal network and nothing is published yet
        (else they are ignored: call publish() afterwards, ports() tells). Their
        iptables-restore then runs while the veth is made (~5 ms less on a start's path); all
        or nothing.
        """
        specs = list(publish)
        chosen_mac = ipam.valid_mac(mac) if mac else None
        with self._lock:
            if specs:
                self._settle(links=False)   # as publish(): a base-chain removal may run
            net = self.get(network)
            if any(e.network_id == net.id for e in self._state.endpoints_for(container_id)):
                raise Conflict(f"container {container_name} is already connected to network "
                               f"{net.name}")
            if net.internal or container_id in self._state.ports or any(
                    not self._state.networks[e.network_id].internal
                    for e in self._state.endpoints_for(container_id)):
                specs = []
            net, address = self._allocate(network, net, ip)
            ep = Endpoint(network_id=net.id, container_id=container_id,
                          container_name=container_name, aliases=tuple(aliases), ip=address,
                          mac=chosen_mac or ipam.mac_for(address),
                          gateway="" if net.internal else net.gateway,
                          dns_server=net.gateway, prefixlen=net.prefixlen, ifname=ifname,
                          host_veth="pcv" + secrets.token_hex(6), netns_path=netns_path)
            self._attach(net, ep, specs)
            self._table(net.id).add(container_id, ep.dns_names(), ep.ip)
            return ep

    def _allocate(self, network: str, net: Network, ip: str | None) -> tuple[Network, str]:
        """An address on `net` (caller holds our lock) whose last holder's veth is gone."""
        while True:
            taken = [e.ip for e in self._state.endpoints_of(net.id)]
            address = ipam.allocate_address(net.subnet, net.gateway, taken, ip,
                                            ip_range=net.ip_range,
                                            reserved=net.aux_addresses.values())
            if (net.id, address) not in self._dying:
                return net, address
            # its last holder's veth is still being deleted (release()): the bridge may
            # still send that MAC's frames there; the wait gives up our lock meanwhile
            self._released.wait()
            net = self.get(network)

    def _attach(self, net: Network, ep: Endpoint, specs: list[PortSpec]) -> None:
        """The veth (and the ports, in parallel), then the state; all or nothing."""
        cid = ep.container_id
        held: list[PortReservation] = []
        ports = PortRulesInstall(self._rules, cid, ep.ip, specs, held,
                                 step=self._step) if specs else None
        try:
            with self._step("netbridge.connect_veth"):
                netlink.connect_veth(net.bridge, ep.host_veth, ep.netns_path, ep.ifname, ep.ip,
                                     ep.prefixlen, ep.gateway or None, ep.mac)
        except BaseException:
            if ports is not None:
                ports.undo()
            raise
        if ports is not None:
            try:
                ports.finish()
            except BaseException:
                netlink.delete_link(ep.host_veth)
                raise
            self._reservations.setdefault(cid, []).extend(held)
            self._state.ports[cid] = ports.bindings
        self._state.endpoints.append(ep)
        try:
            self._save()
        except BaseException:
            self._state.endpoints.remove(ep)
            if ports is not None:
                self._state.ports.pop(cid, None)
                self._reservations.pop(cid, None)
                ports.undo()
            netlink.delete_link(ep.host_veth)
            raise

    def disconnect(self, network: str, container_id: str) -> None:
        with self._lock:
            net = self._find(network)
            if net is None:
                raise NotFound(f"network {network} not found")
            ep = next((e for e in self._state.endpoints_for(container_id)
                       if e.network_id == net.id), None)
            if ep is None:
                raise NotFound(f"container {container_id[:12]} is not connected to network "
                               f"{net.name}")
            self._drop_endpoint(ep)
            self._save()

    def _drop_endpoint(self, ep: Endpoint) -> None:
        self._table(ep.network_id).remove(ep.container_id)
        bindings = self._state.ports.get(ep.container_id, [])
        if any(b.container_ip == ep.ip for b in bindings):
            self._unpublish(ep.container_id)
        with self._step("netbridge.delete_veth"):
            netlink.delete_link(ep.host_veth)
        self._state.endpoints.remove(ep)

    def _table(self, network_id: str) -> NameTable:
        return self._tables.setdefault(network_id, NameTable())

    # --- published ports --------------------------------------------------------------------

    def publish(self, container_id: str, bindings: Iterable[PortSpec | str]) -> list[PortBinding]:
        """Reserve host ports and DNAT them to the container's first routable endpoint.

        All or nothing: a busy port raises Conflict and nothing stays reserved or routed.
        """
        specs: list[PortSpec] = []
        for b in bindings:
            specs.extend(parse_port_spec(b) if isinstance(b, str) else [b])
        with self._lock:
            self._settle(links=False)   # a removal of the base chains may be running
            eps = [e for e in self._state.endpoints_for(container_id)
                   if not self._state.networks[e.network_id].internal]
            if not eps:
                raise InvalidRequest(f"container {container_id[:12]} has no endpoint on a "
                                   f"non-internal network to publish ports on")
            held: list[PortReservation] = []
            try:
                for spec in specs:
                    held.append(reserve(spec))
                new = [replace(r.binding, container_ip=eps[0].ip) for r in held]
                old = self._state.ports.get(container_id, [])
                all_bindings = old + new
                rules = self._rules.port_rules(container_id, all_bindings)
                with self._step("netbridge.install_port_rules"):
                    self._rules.install(rules, present=rules[:1] if old else ())
            except BaseException:
                for r in held:
                    r.close()
                raise
            self._reservations.setdefault(container_id, []).extend(held)
            self._state.ports[container_id] = all_bindings
            self._save()
            return new

    def unpublish(self, container_id: str) -> None:
        with self._lock:
            self._unpublish(container_id)
            self._save()

    def _unpublish(self, container_id: str) -> None:
        rules = self._rules.port_rules(container_id, [])
        if container_id in self._state.ports:
            with self._step("netbridge.uninstall_port_rules"):
                self._rules.uninstall(rules)
        else:   # nothing recorded: only a read can tell whether a stale chain is left
            firewall.remove(rules)
        for r in self._reservations.pop(container_id, []):
            r.close()
        self._state.ports.pop(container_id, None)

    def ports(self, container_id: str) -> list[PortBinding]:
        with self._lock:
            return list(self._state.ports.get(container_id, []))

    def close(self) -> None:
        """Release port reservations only (rules and links stay; stop() removes those too)."""
        with self._lock:
            for held in self._reservations.values():
                for r in held:
                    r.close()
            self._reservations.clear()

    def _save(self) -> None:
        self._store.save(self._state)

    def _write(self, snapshot: tuple[int, dict]) -> None:
        try:
            self._store.write(snapshot)
        except OSError as exc:   # on a background thread: nobody to raise to
            log.error("cannot write network state: %s", exc)

    def _mark_live(self) -> None:
        """Recorded before the first kernel object is made, so a crash afterwards is noticed."""
        if not self._state.live:
            self._state.live = True
            self._save()
