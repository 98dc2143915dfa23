"""The recovery half of NetworkManager: what survives a daemon's exit and what a start finds.

A graceful stop() removes every kernel object (bridges, veths, chains, held ports) and keeps the
networks recorded; cleanup() at the next start re-creates them and, after a crash (the state's
`live` flag), first drops what dead containers left. purge() removes everything (tests,
uninstall).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import firewall, netlink
from .errors import Conflict, HostFailure
from .ports import PortBinding, PortSpec, reserve
from .rules import Base

if TYPE_CHECKING:
    from .store import Network

log = logging.getLogger("netbridge.manager")


class Recovery:
    """Mixin of NetworkManager (which sets _lock, _state, _rules, _reservations, _tables and
    provides _settle, _save, _drop_endpoint, _unpublish, _materialize, _bridge_up, _mark_live,
    _dns_changed, list, remove and close)."""

    def cleanup(self, alive_container_ids: set[str]) -> None:
        """After a restart: drop what dead containers left, restore what live ones need."""
        with self._lock:
            self._settle()
            state = self._state
            if not state.live and state.empty():
                return   # a graceful stop removed everything and nothing is recorded
            if state.live or state.endpoints or state.ports:
                self._clean_after_crash(alive_container_ids)
            self._restore_networks(list(state.networks.values()))
            for cid, bindings in state.ports.items():
                self._rereserve(cid, bindings)
                firewall.apply(self._rules.port_rules(cid, bindings))
            self._save()
        self._dns_changed(wait=True)

    def _restore_networks(self, nets: list[Network]) -> None:
        """Bridges and rules of recorded networks (a graceful stop, a reboot or `iptables -F`
        removed them). A failure must neither tear down a network that containers use nor stop
        the daemon from starting: it is logged per network."""
        if not nets:
            return
        try:   # one iptables round trip for all networks (each costs ~0.1 s on a busy host)
            self._mark_live()
            for net in nets:
                self._bridge_up(net)
            firewall.apply_with_base(self._rules.base_rules(),
                                     [r for net in nets for r in self._rules.network_rules(net)])
            self._rules.base = Base.INSTALLED
            return
        except Exception as exc:
            log.warning("restoring networks together failed (%s); one by one", exc)
        for net in nets:
            try:
                self._materialize(net, undo_on_failure=False)
            except Exception as exc:
                log.error("cannot restore network %s: %s", net.name, exc)

    def _clean_after_crash(self, alive_container_ids: set[str]) -> None:
        for ep in [e for e in self._state.endpoints if e.container_id not in alive_container_ids]:
            self._drop_endpoint(ep)
        for cid in [c for c in self._state.ports if c not in alive_container_ids]:
            self._unpublish(cid)
        saved = firewall.save()
        for chain in firewall.chains_jumped_from(self.chains.dnat, saved):
            cid12 = chain.removeprefix("PC-P-")
            if not any(c.startswith(cid12) for c in self._state.ports):
                rule = firewall.Rule("nat", self.chains.dnat,
                                     self._rules.port_rules(cid12, [])[0].args)
                firewall.remove([rule])
        self._delete_orphan_veths()
        if not self._state.networks and not self._state.ports:
            self._rules.remove_base()
            self._state.live = False

    def stop(self) -> None:
        """Graceful daemon exit: remove every kernel object of this instance, keep the networks.

        Bridges, veths, chains and rules go, held ports are released; endpoints and ports still
        recorded (containers the shutdown could not stop) are dropped as cleanup() would drop
        them at the next start. Networks stay in the state file for cleanup() to re-create.
        """
        with self._lock:
            self._settle()
            state = self._state
            if state.live or not state.empty():
                self._remove_kernel_objects()
            self.close()

    def _remove_kernel_objects(self) -> None:
        state = self._state
        rules = self._rules.base_rules()
        self._rules.base = Base.UNKNOWN
        for cid in state.ports:
            rules += self._rules.port_rules(cid, [])
        for net in state.networks.values():
            rules += self._rules.network_rules(net)
        failures: list[str] = []
        try:
            firewall.remove(rules)   # one iptables-save + one iptables-restore for everything
            self._rules.base = Base.ABSENT
        except Exception as exc:
            failures.append(str(exc))
        links = [e.host_veth for e in state.endpoints] + [n.bridge for n in state.networks.values()]
        for name in links:
            try:
                netlink.delete_link(name)
            except Exception as exc:
                failures.append(f"{name}: {exc}")
        state.endpoints.clear()
        state.ports.clear()
        self._tables.clear()
        state.live = bool(failures)   # the next start then cleans what is left
        self._save()
        if failures:
            raise HostFailure("network shutdown left objects behind: " + "; ".join(failures))

    def _delete_orphan_veths(self) -> None:
        """Host veth ends on our bridges that no endpoint records (a crash mid-connect)."""
        ours = {n.bridge for n in self._state.networks.values()}
        known = {e.host_veth for e in self._state.endpoints}
        bridges = {link.index for link in netlink.list_host_links("pcbr") if link.name in ours}
        for link in netlink.list_host_links("pcv"):
            if link.master in bridges and link.name not in known:
                netlink.delete_link(link.name)

    def _rereserve(self, container_id: str, bindings: list[PortBinding]) -> None:
        if container_id in self._reservations:
            return
        held = []
        for b in bindings:
            try:
                held.append(reserve(PortSpec(b.container_port, b.protocol, b.host_ip, b.host_port)))
            except Conflict as exc:  # keep routing it; only the guard is missing
                log.warning("published port stays unguarded: %s", exc)
        self._reservations[container_id] = held

    def purge(self) -> None:
        """Remove everything of this engine instance: endpoints, ports, networks, base chains.

        For tests and for an uninstall; the daemon's normal exit uses stop(), which keeps the
        networks.
        """
        # no outer lock: cleanup() may wait for the trio thread (see _dns_changed)
        self.cleanup(set())
        for net in self.list():
            self.remove(net.id)
        with self._lock:
            self._settle()
            self._rules.remove_base()
            self._state.live = False
            self._save()
        self.close()
