"""The DNS half of NetworkManager: one embedded DNS server per network, run in the daemon's
trio loop (serve()), started and stopped as networks come and go."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import trio

from .dns import DnsServer, NameTable, host_resolvers

if TYPE_CHECKING:
    from .store import Network

log = logging.getLogger("netbridge.manager")


class DnsServing:
    """Mixin of NetworkManager (which sets _token, _dns_nursery, _dns_scopes, _dns_ready,
    _state, _resolv_conf, _dns_port and provides _table/_find)."""

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every network's DNS server until cancelled."""
        async with trio.open_nursery() as nursery:
            self._dns_nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            try:
                await self._reconcile_dns()
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._token = None
                self._dns_nursery = None
                self._dns_scopes.clear()
                self._dns_ready.clear()

    async def _reconcile_dns(self) -> None:
        nursery = self._dns_nursery
        if nursery is None:
            return
        # no self._lock here: this runs on the trio thread, possibly while a worker thread that
        # holds the lock waits for this very reconcile (create() → _dns_changed()); copying the
        # dict is atomic under the GIL
        wanted = dict(self._state.networks)
        for net_id in list(self._dns_scopes):
            if net_id not in wanted:
                self._dns_scopes.pop(net_id).cancel()
                self._dns_ready.discard(net_id)
        for net_id, net in wanted.items():
            if net_id not in self._dns_scopes:
                self._dns_scopes[net_id] = trio.CancelScope()
                await nursery.start(self._run_dns, net, self._dns_scopes[net_id])
                self._dns_ready.add(net_id)

    async def _run_dns(self, net: Network, scope: trio.CancelScope,
                       task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        upstreams = [] if net.internal else host_resolvers(self._resolv_conf)
        server = DnsServer(net.gateway, self._table(net.id), not net.internal, upstreams,
                           self._dns_port,
                           peer_scope=lambda ip, net_id=net.id: self._peer_scope(net_id, ip))
        status = _StartOnce(task_status)
        with scope:
            try:
                await server.serve(task_status=status)
            except OSError as exc:
                log.error("DNS server for network %s on %s failed: %s", net.name, net.gateway, exc)
        status.started()  # unblocks the reconcile even when the server could not start

    def _dns_changed(self, *, wait: bool) -> None:
        """Start/stop DNS servers to match the networks.

        With `wait` (only when this thread holds no lock of ours) a worker thread blocks until
        new servers listen; otherwise the reconcile is only scheduled on the trio thread.
        """
        token = self._token
        if token is None:
            return
        try:
            trio.lowlevel.current_trio_token()
            on_trio_thread = True
        except RuntimeError:
            on_trio_thread = False
        try:
            if on_trio_thread:
                self._spawn_reconcile()
            elif wait:
                trio.from_thread.run(self._reconcile_dns, trio_token=token)
            else:
                token.run_sync_soon(self._spawn_reconcile)
        except trio.RunFinishedError:
            pass

    def _spawn_reconcile(self) -> None:
        if self._dns_nursery is not None:
            self._dns_nursery.start_soon(self._reconcile_dns)

    # set by the engine: a container id → its link aliases (alias → target name)
    container_links: Callable[[str], dict[str, str]] | None = None

    def _peer_scope(self, network_id: str, ip: str) -> tuple[list[NameTable], dict[str, str]]:
        """For the container at `ip` on `network_id`: the name tables of its other networks,
        in the order it joined them (as Docker's resolver, which answers for all of a
        container's networks), and its link aliases. Runs on the trio thread: the endpoint
        list is copied, not locked (atomic under the GIL), as _reconcile_dns does."""
        endpoints = list(self._state.endpoints)
        cid = next((e.container_id for e in endpoints
                    if e.network_id == network_id and e.ip == ip), None)
        if cid is None:
            return [], {}
        tables = [self._table(e.network_id) for e in endpoints
                  if e.container_id == cid and e.network_id != network_id]
        links = self.container_links(cid) if self.container_links is not None else {}
        return tables, links

    def dns_serving(self, name_or_id: str) -> bool:
        """True once the network's DNS server is listening."""
        net = self._find(name_or_id)
        return net is not None and net.id in self._dns_ready


class _StartOnce:
    """A task status whose started() may be called again (later calls do nothing)."""

    def __init__(self, status: trio.TaskStatus[None]) -> None:
        self._status = status
        self._done = False

    def started(self, value: None = None) -> None:
        if not self._done:
            self._done = True
            self._status.started(value)
