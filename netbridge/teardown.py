"""The teardown half of NetworkManager: a dead container's ports and endpoints, and a removed
network's rules and bridge, leave the state at once while their kernel objects go on background
threads; whatever depends on those waits for them (_settle).

Why: each is a kernel wait rather than work. An nft commit that deletes waits for an RCU grace
period (~15-30 ms), unregistering a veth or a bridge for several (20-50 ms); with three
containers and a network that was most of a `down -t 0`.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING


from . import firewall, netlink
from .rules import Base

if TYPE_CHECKING:
    from .ports import PortBinding, PortReservation
    from .store import Network

log = logging.getLogger("netbridge.manager")


class Teardown:
    """Mixin of NetworkManager (which sets _lock, _released (a Condition on it), _state,
    _store, _reservations, _pending_links, _pending_rules, _dying, _rules (a RuleBook), _step and
    provides _table, _save, _write, _dns_changed)."""

    def release(self, container_id: str) -> None:
        """Everything of a container whose PID 1 is gone: published ports, endpoints, DNS names.

        The state changes at once; the kernel work happens on background threads, so a
        teardown (and `rm -f`, `down`) does not wait for it, nor does one container's teardown
        queue behind another's: removing port rules is an nft commit that waits for an RCU
        grace period (~15-25 ms), deleting a veth waits for several (~20-30 ms), and with PID 1
        gone the kernel is tearing the netns (and the veths) down anyway. The host ports stay
        held until their rules are gone. publish(), create(), remove(), cleanup() and stop()
        wait for pending work first, so nothing after this can see its remains: a port is
        published again only once the old rules are gone. A failed port-rule removal records
        the ports again (stop() and cleanup() retry them) and is logged.
        """
        with self._lock:
            eps = self._state.endpoints_for(container_id)
            recorded = container_id in self._state.ports
            bindings = self._state.ports.pop(container_id, [])
            held = self._reservations.pop(container_id, [])
            if not eps and not recorded and not held:
                return
            for ep in eps:
                self._table(ep.network_id).remove(ep.container_id)
                self._state.endpoints.remove(ep)
            veths = [ep.host_veth for ep in eps]
            dying = {(ep.network_id, ep.ip) for ep in eps}
            if veths:
                self._pending_links += 1   # counted before our lock goes
                self._dying |= dying
            if recorded:
                self._pending_rules += 1
            if not veths and not recorded:
                self._save()
            # else the background jobs save the state once their kernel work is done: a state
            # file write (a rename) stalls 5-20 ms behind the journal commits of the overlay
            # syncs a `down` starts, and until then the file still lists objects that may
            # exist (a crash meanwhile: cleanup() removes what dead containers left)
        if veths:
            self._delete_links_later(veths, counted=True, save=True, dying=dying)
        if not recorded:
            for r in held:
                r.close()
            return
        threading.Thread(target=self._unpublish_released, args=(container_id, bindings, held),
                         daemon=True, name=f"unpublish {container_id[:12]}").start()

    def _unpublish_released(self, container_id: str, bindings: list[PortBinding],
                            held: list[PortReservation]) -> None:
        failed = False
        try:
            with self._step("netbridge.uninstall_port_rules"):
                self._rules.uninstall(self._rules.port_rules(container_id, []))
        except Exception as exc:
            failed = True
            log.error("removing the published ports of %s: %s (they stay recorded)",
                      container_id[:12], exc)
        finally:
            with self._released:
                if failed:
                    self._state.ports[container_id] = bindings
                    self._reservations.setdefault(container_id, []).extend(held)
                else:
                    for r in held:
                        r.close()
                snapshot = self._store.snapshot(self._state)
                self._pending_rules -= 1
                self._quiet()
            self._write(snapshot)   # without holding our lock

    def _delete_links_later(self, names: list[str], *, counted: bool = False,
                            save: bool = False,
                            dying: set[tuple[str, str]] = frozenset()) -> None:
        """Delete host links on a background thread; _settle() waits for it. `counted`: the
        caller already counted it in _pending_links (under our lock); `save`: write the state
        file afterwards; `dying`: entries of _dying to drop afterwards."""
        if not counted:
            with self._lock:
                self._pending_links += 1
        threading.Thread(target=self._delete_links, args=(names, save, dying), daemon=True,
                         name=f"rm {names[0]}").start()

    def _delete_links(self, names: list[str], save: bool = False,
                      dying: set[tuple[str, str]] = frozenset()) -> None:
        try:
            for name in names:
                try:
                    with self._step("netbridge.delete_link"):
                        netlink.delete_link(name)
                except Exception as exc:   # a restart's cleanup() deletes what is left
                    log.error("cannot delete %s: %s", name, exc)
        finally:
            with self._released:
                self._pending_links -= 1
                self._dying -= dying
                snapshot = self._store.snapshot(self._state) if save else None
                self._quiet()
            if snapshot is not None:   # written without holding our lock
                self._write(snapshot)

    def _quiet(self) -> None:
        """A background job ended (caller holds the condition): wake waiters; once nothing is
        pending and no network, endpoint or port is left, no kernel object of ours remains."""
        state = self._state
        if not self._pending_links and not self._pending_rules and state.live \
                and not state.networks and not state.ports and not state.endpoints \
                and self._rules.base is Base.ABSENT:
            state.live = False
            self._save()
        self._released.notify_all()

    def settle(self) -> None:
        """Wait until background kernel work (release(), remove()) is done."""
        with self._lock:
            self._settle()

    def _settle(self, *, links: bool = True, rules: bool = True) -> None:
        """Wait (holding our lock, which the wait gives up meanwhile) until the background
        link deletions and/or firewall removals are done."""
        while (links and self._pending_links) or (rules and self._pending_rules):
            self._released.wait()

    def _finish_remove(self, net: Network, rules: list[firewall.Rule], with_base: bool, *,
                       raise_errors: bool = False) -> None:
        failed = False
        try:
            self._delete_links_later([net.bridge])   # in parallel with the restore below
            with self._step("netbridge.uninstall_network_rules"):
                self._rules.uninstall(rules)
        except Exception as exc:
            failed = True
            if raise_errors:
                raise
            log.error("removing network %s: %s (it stays recorded)", net.name, exc)
        finally:
            with self._released:
                if failed:
                    self._state.networks[net.id] = net
                    self._state.live = True
                    self._save()
                elif with_base:
                    self._rules.base = Base.ABSENT
                self._pending_rules -= 1
                self._quiet()
        if failed:
            self._dns_changed(wait=False)
