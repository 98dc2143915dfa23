"""Our iptables rules as this process knows them (`RuleBook`), and connect()'s port rules going
in on a thread of their own (`PortRulesInstall`).

What we know of the base chains and jumps decides the cost of every change: with INSTALLED or
ABSENT, new networks and ports go in with one iptables-restore and no iptables-save (each save
reads the whole table: 20-80 ms per table on a host with ~2800 rules); UNKNOWN reads first.
"""
from __future__ import annotations

import enum
import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Iterable

from . import firewall
from .ports import PortBinding, PortReservation, PortSpec, reserve
from .steps import StepTimer, untimed

if TYPE_CHECKING:
    from .store import Network

log = logging.getLogger("netbridge.manager")


class Base(enum.Enum):
    """What this process knows of our base chains and jumps."""
    UNKNOWN = "unknown"       # read the tables before touching built-in chains
    ABSENT = "absent"
    INSTALLED = "installed"


class RuleBook:
    """Installs and removes our rules, keeping `base` true; callers serialise (the manager's
    lock, or the single background job that removes base chains)."""

    def __init__(self, chains: firewall.Chains, base: Base) -> None:
        self.chains = chains
        self.base = base

    def base_rules(self) -> list[firewall.Rule]:
        return firewall.base_rules(self.chains)

    def network_rules(self, net: Network) -> list[firewall.Rule]:
        return firewall.network_rules(self.chains, net.id, net.bridge, net.subnet, net.internal)

    def port_rules(self, container_id: str, bindings: list[PortBinding]) -> list[firewall.Rule]:
        return firewall.port_rules(self.chains, container_id, bindings)

    def install(self, rules: list[firewall.Rule], *,
                present: Iterable[firewall.Rule] = ()) -> None:
        """Add `rules`, whose chains are new or ours to empty, plus the base rules if needed.

        `present`: rules our state says are installed already (skipped by the fast path).
        When the fast path fails (someone removed our base chains), the tables are read and
        everything is re-applied, base included.
        """
        base = self.base_rules()
        if self.base is not Base.UNKNOWN:
            absent = self.base is Base.ABSENT
            try:
                firewall.restore(firewall.fresh_script(base + rules if absent else rules,
                                                       present, builtin=absent))
                self.base = Base.INSTALLED
                return
            except firewall.FirewallError as exc:
                log.info("iptables rules differ from our state (%s); re-reading them", exc)
                self.base = Base.UNKNOWN
        firewall.apply_with_base(base, rules)
        self.base = Base.INSTALLED

    def uninstall(self, rules: list[firewall.Rule]) -> None:
        """Remove rules our state says exist; when they do not (exactly), read and remove."""
        try:
            firewall.restore(firewall.drop_script(rules))
        except firewall.FirewallError as exc:
            log.info("iptables rules differ from our state (%s); re-reading them", exc)
            firewall.remove(rules)

    def remove_base(self) -> None:
        self.base = Base.UNKNOWN
        firewall.remove(self.base_rules())
        self.base = Base.ABSENT


class PortRulesInstall:
    """connect()'s publish: host ports reserved at once (a busy one raises before any kernel
    work), then the rules installed on a thread of their own while the caller makes the veth.
    The caller holds the manager's lock throughout."""

    def __init__(self, book: RuleBook, container_id: str, address: str,
                 specs: list[PortSpec], held: list[PortReservation], *,
                 step: StepTimer = untimed) -> None:
        self._book = book
        self._held = held
        self._step = step
        try:
            for spec in specs:
                held.append(reserve(spec))
        except BaseException:
            for r in held:
                r.close()
            held.clear()
            raise
        self.bindings = [replace(r.binding, container_ip=address) for r in held]
        self._rules = book.port_rules(container_id, self.bindings)
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._install, name=f"publish {container_id[:12]}")
        self._thread.start()

    def _install(self) -> None:
        try:
            with self._step("netbridge.install_port_rules"):
                self._book.install(self._rules)
        except BaseException as exc:   # re-raised by finish()
            self._failed.append(exc)

    def finish(self) -> None:
        """Wait for the rules; on failure nothing stays reserved and the error is raised."""
        self._thread.join()
        if self._failed:
            self._close()
            raise self._failed[0]

    def undo(self) -> None:
        """The connect failed: rules (if they went in) and reservations go."""
        self._thread.join()
        if not self._failed:
            try:
                self._book.uninstall(self._rules)
            except Exception as exc:   # the connect's own failure is the one to report
                log.error("removing the ports of a failed connect: %s", exc)
        self._close()

    def _close(self) -> None:
        for r in self._held:
            r.close()
