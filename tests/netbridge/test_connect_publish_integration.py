"""connect(..., publish=...): the first endpoint publishes the container's ports while its veth
is made; all or nothing, and only where publish() would have put them (root)."""
from __future__ import annotations

import socket

import pytest

from netbridge.errors import Conflict
from netbridge import firewall, netlink
from netbridge.ports import PortSpec

from .test_networks_integration import start_httpd
from .test_ports_integration import free_port, http_get

pytestmark = pytest.mark.integration


def _veths_on(bridge: str) -> set[str]:
    """Host veth ends enslaved to `bridge` (other engineers' links come and go meanwhile)."""
    index = {link.name: link.index for link in netlink.list_host_links("pcbr")}[bridge]
    return {link.name for link in netlink.list_host_links("pcv") if link.master == index}


def test_connect_publishes_on_the_new_endpoint(harness, make_netns, tmp_path):
    m = harness.manager
    m.create("cp")
    ns = make_netns()
    port = free_port()
    ep = m.connect("cp", "a" * 64, ns.path, container_name="web",
                   publish=[PortSpec(8080, "tcp", "127.0.0.1", port), PortSpec(8080)])
    fixed, picked = m.ports("a" * 64)
    assert (fixed.host_port, fixed.container_ip) == (port, ep.ip)
    assert picked.host_port not in (0, port) and picked.container_ip == ep.ip
    start_httpd(ns, tmp_path, "published")
    assert http_get("127.0.0.1", port) == "published"
    assert http_get("127.0.0.1", picked.host_port) == "published"
    m.release("a" * 64)
    m.settle()
    assert firewall.port_chain("a" * 64) not in firewall.save()
    with socket.socket() as s:   # the reservation is gone too
        s.bind(("127.0.0.1", port))
    m.remove("cp")


def test_a_busy_port_fails_the_connect_and_leaves_nothing(harness, make_netns):
    m = harness.manager
    net = m.create("cpbusy")
    ns = make_netns()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        with pytest.raises(Conflict):
            m.connect("cpbusy", "b" * 64, ns.path, container_name="web",
                      publish=[PortSpec(80, "tcp", "127.0.0.1", taken)])
    assert m.endpoints("cpbusy") == [] and m.ports("b" * 64) == []
    assert _veths_on(net.bridge) == set()
    assert firewall.port_chain("b" * 64) not in firewall.save()
    m.remove("cpbusy")


def test_a_failed_rules_install_removes_the_veth_and_frees_the_port(harness, make_netns,
                                                                  monkeypatch):
    m = harness.manager
    net = m.create("cpfail")
    ns = make_netns()
    port = free_port()

    def broken(*_a, **_kw):
        raise firewall.FirewallError("iptables-restore: simulated failure")

    monkeypatch.setattr(firewall, "restore", broken)
    monkeypatch.setattr(firewall, "apply_with_base", broken)
    with pytest.raises(firewall.FirewallError):
        m.connect("cpfail", "c" * 64, ns.path, container_name="web",
                  publish=[PortSpec(80, "tcp", "127.0.0.1", port)])
    monkeypatch.undo()
    assert m.endpoints("cpfail") == [] and m.ports("c" * 64) == []
    assert _veths_on(net.bridge) == set()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    m.remove("cpfail")


def test_internal_network_or_a_second_endpoint_leaves_publishing_to_publish(harness,
                                                                            make_netns):
    m = harness.manager
    m.create("cpint", internal=True)
    m.create("cpext")
    ns = make_netns()
    spec = PortSpec(80, "tcp", "127.0.0.1", free_port())
    m.connect("cpint", "d" * 64, ns.path, container_name="x", publish=[spec])
    assert m.ports("d" * 64) == []              # internal: nothing to publish on
    ep = m.connect("cpext", "d" * 64, ns.path, container_name="x", ifname="eth1")
    assert [b.container_ip for b in m.publish("d" * 64, [spec])] == [ep.ip]
    m.release("d" * 64)
    m.remove("cpint")
    m.remove("cpext")
