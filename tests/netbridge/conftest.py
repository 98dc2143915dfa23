"""Fixtures for netbridge integration tests: a NetworkManager whose DNS servers run in a trio
loop on a background thread, and "containers" that are plain network namespaces.

Everything a test makes (namespaces, links, rules, processes) is removed in `finally`, and the
fixture asserts that no pc* link and no pycompose-tagged rule appeared that was not there before.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from netbridge import firewall, netlink
from netbridge.manager import NetworkManager

POOL = "10.231.0.0/16"   # test-only pool: never collides with a real engine's 10.201/16


@dataclass
class Netns:
    """A network namespace standing in for a container."""
    name: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def set_resolver(self, address: str) -> None:
        d = Path("/etc/netns") / self.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text(f"nameserver {address}\n")

    def run(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *args], capture_output=True,
                              text=True, timeout=timeout)

    def spawn(self, *args: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)
        self.procs.append(p)
        return p

    def destroy(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()   # by pid: ip netns exec execs the program, so this is the server itself
            p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)


@dataclass
class Footprint:
    """Names of host objects our managers made, so leftovers can be checked precisely even
    while other engineers' engines create pc* links and pycompose rules on the same host."""
    links: set[str] = field(default_factory=set)
    rule_words: set[str] = field(default_factory=set)

    def record(self, m: NetworkManager) -> None:
        """Wrap `m` so every bridge, veth and chain it makes is remembered."""
        self.rule_words.update({m.chains.forward, m.chains.postrouting, m.chains.dnat})
        create, connect, publish = m.create, m.connect, m.publish

        def rec_create(*a, **kw):
            net = create(*a, **kw)
            self.links.add(net.bridge)
            self.rule_words.update({net.bridge, firewall.network_chain(net.id)})
            return net

        def rec_connect(*a, **kw):
            ep = connect(*a, **kw)
            self.links.add(ep.host_veth)
            return ep

        def rec_publish(container_id, *a, **kw):
            self.rule_words.add(firewall.port_chain(container_id))
            return publish(container_id, *a, **kw)

        m.create, m.connect, m.publish = rec_create, rec_connect, rec_publish

    def leftovers(self) -> tuple[set[str], list[str]]:
        links = {link.name for link in netlink.list_host_links("pc")} & self.links
        rules = [ln for ln in firewall.tagged_lines()
                 if any(w in ln.split() for w in self.rule_words)]
        return links, rules


FOOTPRINT = Footprint()


class ManagerHarness:
    """A NetworkManager plus the trio loop (on its own thread) that runs its DNS servers."""

    def __init__(self, state_dir: Path, resolv_conf: str | Path = "/etc/resolv.conf") -> None:
        self.manager = NetworkManager(state_dir, POOL, resolv_conf=resolv_conf)
        FOOTPRINT.record(self.manager)
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("manager serve() did not start")
        if self._error:
            raise self._error

    def _main(self) -> None:
        async def run() -> None:
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.manager.serve)
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        try:
            trio.run(run)
        except BaseException as exc:  # surfaced to the test thread
            self._error = exc
            self._ready.set()

    def stop(self) -> None:
        if self._token is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)
        self.manager.close()

    def teardown(self) -> None:
        """Remove everything the manager made (as the engine would on `down`)."""
        try:
            self.manager.purge()
        finally:
            self.stop()


def _netns_names() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


@pytest.fixture
def clean_host():
    """Asserts that the test leaves none of its links, namespaces or pycompose rules behind."""
    FOOTPRINT.links.clear()
    FOOTPRINT.rule_words.clear()
    yield
    links, rules = FOOTPRINT.leftovers()
    assert links == set(), "pc* links left behind"
    assert rules == [], "pycompose rules left behind"


@pytest.fixture
def harness(tmp_path, clean_host):
    """A manager on the test pool using the host's resolvers."""
    h = ManagerHarness(tmp_path / "state")
    try:
        yield h
    finally:
        h.teardown()


@pytest.fixture
def make_netns():
    made: list[Netns] = []

    def make() -> Netns:
        ns = Netns("pc-test-" + secrets.token_hex(4))
        subprocess.run(["ip", "netns", "add", ns.name], check=True)
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            ns.destroy()
    assert {ns.name for ns in made} & _netns_names() == set(), "netns left behind"
