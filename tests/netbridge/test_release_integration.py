"""NetworkManager.release(): the teardown of a container whose PID 1 is gone (root)."""
from __future__ import annotations

import threading
import time

import pytest

from netbridge import firewall, netlink
from netbridge.ports import PortSpec

from .test_ports_integration import free_port
from tests.support.net import port_free as _port_free

pytestmark = pytest.mark.integration


def _link_names(prefix: str = "pcv") -> set[str]:
    return {link.name for link in netlink.list_host_links(prefix)}


def test_release_forgets_at_once_and_settle_finds_everything_gone(harness, make_netns):
    m = harness.manager
    m.create("relnet")
    web, worker = make_netns(), make_netns()
    ep = m.connect("relnet", "a" * 64, web.path, container_name="web", aliases=["web"])
    other = m.connect("relnet", "b" * 64, worker.path, container_name="worker")
    port = free_port()
    m.publish("a" * 64, [PortSpec(8080, "tcp", "127.0.0.1", port)])
    chain = firewall.port_chain("a" * 64)
    assert any(chain in ln.split() for ln in firewall.tagged_lines())
    assert not _port_free(port)
    web.destroy()   # PID 1 gone: the kernel tears the netns down (and the veth with it)

    m.release("a" * 64)
    assert m.ports("a" * 64) == []
    assert [e.container_id for e in m.endpoints("relnet")] == ["b" * 64]
    m.release("a" * 64)   # twice: nothing left to do
    # the other container's veth stays until its own release (its netns lives on: only our
    # background delete removes this one)
    assert other.host_veth in _link_names()
    m.release("b" * 64)
    m.settle()
    assert not any(chain in ln.split() for ln in firewall.tagged_lines())
    assert _port_free(port)
    assert {ep.host_veth, other.host_veth} & _link_names() == set()
    bridge = m.get("relnet").bridge
    m.remove("relnet")
    assert m.list() == [] and bridge not in _link_names(prefix="pc")
    assert not m._state.live   # the last network's objects are gone: nothing to clean up


def test_a_port_is_published_again_only_after_its_old_rules_are_gone(harness, make_netns,
                                                                     monkeypatch):
    """Two teardowns at once do not wait for each other's iptables-restore; publishing the
    same host port again waits for the old rules to go (never two DNATs for one port)."""
    m = harness.manager
    m.create("relnet2")
    a, b, c = make_netns(), make_netns(), make_netns()
    m.connect("relnet2", "c" * 64, a.path, container_name="a")
    m.connect("relnet2", "d" * 64, b.path, container_name="b")
    port = free_port()
    m.publish("c" * 64, [PortSpec(80, "tcp", "127.0.0.1", port)])
    entered, go = threading.Event(), threading.Event()
    real = firewall.restore

    def slow_restore(script: str) -> None:
        if "PC-P-cccccccccccc" in script:
            entered.set()
            go.wait(10)
        real(script)

    monkeypatch.setattr(firewall, "restore", slow_restore)
    published = threading.Event()
    try:
        started = time.monotonic()
        m.release("c" * 64)           # returns while its restore is blocked
        m.release("d" * 64)
        assert time.monotonic() - started < 5
        assert entered.wait(10)
        assert m.endpoints("relnet2") == []
        m.connect("relnet2", "e" * 64, c.path, container_name="c")
        again = threading.Thread(target=lambda: (
            m.publish("e" * 64, [PortSpec(80, "tcp", "127.0.0.1", port)]), published.set()))
        again.start()
        assert not published.wait(0.3)   # the old rules are still there: it waits
    finally:
        go.set()
    again.join(10)
    assert published.is_set()
    lines = firewall.tagged_lines()
    assert not any("PC-P-cccccccccccc" in ln.split() for ln in lines)
    assert any("PC-P-eeeeeeeeeeee" in ln.split() for ln in lines)
    m.release("e" * 64)
    m.remove("relnet2")


def test_failed_port_removal_keeps_the_ports_recorded(harness, make_netns, monkeypatch):
    m = harness.manager
    m.create("relnet3")
    ns = make_netns()
    m.connect("relnet3", "e" * 64, ns.path, container_name="e")
    port = free_port()
    m.publish("e" * 64, [PortSpec(80, "tcp", "127.0.0.1", port)])

    def broken(*_a, **_kw):
        raise firewall.FirewallError("iptables-restore: simulated failure")

    monkeypatch.setattr(firewall, "restore", broken)
    monkeypatch.setattr(firewall, "remove", broken)
    m.release("e" * 64)
    m.settle()
    monkeypatch.undo()
    # still recorded (and the port still held), so a later unpublish/stop removes it
    assert [b.host_port for b in m.ports("e" * 64)] == [port]
    assert not _port_free(port)
    m.unpublish("e" * 64)
    assert _port_free(port)
    m.remove("relnet3")


def test_background_network_rm_forgets_at_once_and_finishes_before_the_next_create(harness):
    m = harness.manager
    net = m.create("bgnet")
    chain = firewall.network_chain(net.id)
    m.remove("bgnet", background=True)
    assert m.list() == []
    # a create waits for the pending removal: the freed subnet is chosen again, and the old
    # network's bridge and rules are gone by then
    again = m.create("bgnet")
    assert again.subnet == net.subnet and again.id != net.id
    assert net.bridge not in _link_names(prefix="pc")
    assert not any(chain in ln.split() for ln in firewall.tagged_lines())
    m.remove("bgnet", background=True)
    m.settle()
    assert again.bridge not in _link_names(prefix="pc")
    assert not any(m.chains.dnat in ln.split() for ln in firewall.tagged_lines())
    assert not m._state.live   # the last network took the base chains with it


def test_failed_background_network_rm_records_the_network_again(harness, monkeypatch):
    m = harness.manager
    m.create("other")                    # so the failing one is not the last network
    net = m.create("sticky")

    def broken(*_a, **_kw):
        raise firewall.FirewallError("iptables-restore: simulated failure")

    monkeypatch.setattr(firewall, "restore", broken)
    monkeypatch.setattr(firewall, "remove", broken)
    m.remove("sticky", background=True)
    m.settle()
    monkeypatch.undo()
    assert m.get("sticky").id == net.id  # back: a later rm (or the daemon's stop) retries
    m.remove("sticky")
    assert [n.name for n in m.list()] == ["other"]


def test_an_address_is_handed_out_again_only_after_its_old_veth_is_gone(harness, make_netns,
                                                                        monkeypatch):
    """The MAC is made from the address: while the old port is still on the bridge, a new
    container with the same address would share it."""
    m = harness.manager
    m.create("reuse")
    old_ns, new_ns = make_netns(), make_netns()
    old = m.connect("reuse", "f" * 64, old_ns.path, container_name="old")
    gate, deleting = threading.Event(), threading.Event()
    real = netlink.delete_link

    def slow_delete(name: str) -> bool:
        if name == old.host_veth:
            deleting.set()
            gate.wait(10)
        return real(name)

    monkeypatch.setattr(netlink, "delete_link", slow_delete)
    m.release("f" * 64)
    assert deleting.wait(10)
    done = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: (result.update(ep=m.connect(
        "reuse", "9" * 64, new_ns.path, container_name="new")), done.set()))
    t.start()
    try:
        assert not done.wait(0.3)          # the old veth still holds the address's MAC
    finally:
        gate.set()
    t.join(10)
    assert done.is_set()
    assert result["ep"].ip == old.ip and result["ep"].mac == old.mac
    assert old.host_veth not in _link_names()
    m.release("9" * 64)
    m.remove("reuse")
