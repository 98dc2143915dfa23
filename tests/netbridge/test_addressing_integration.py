"""Chosen MAC addresses, IP ranges, auxiliary addresses and names with spaces, on real bridges,
veths and namespaces (root). What the kernel shows inside the namespace is the evidence."""
from __future__ import annotations

import json
import socket

import pytest

from netbridge import dns
from netbridge.errors import Conflict, InvalidRequest

pytestmark = pytest.mark.integration


def link_of(ns, ifname: str = "eth0") -> dict:
    out = ns.run("ip", "-j", "addr", "show", "dev", ifname)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def ipv4_of(ns, ifname: str = "eth0") -> str:
    return next(a["local"] for a in link_of(ns, ifname)["addr_info"] if a["family"] == "inet")


def test_a_chosen_mac_is_the_container_side_address(harness, make_netns):
    m = harness.manager
    m.create("macs")
    ns, other = make_netns(), make_netns()
    ep = m.connect("macs", "a" * 64, ns.path, container_name="a", mac="92:D0:C6:0A:29:33")
    auto = m.connect("macs", "b" * 64, other.path, container_name="b")
    assert ep.mac == "92:d0:c6:0a:29:33"
    assert link_of(ns)["address"] == "92:d0:c6:0a:29:33"
    # without one, the MAC still follows the address (02:42 + the IPv4 octets)
    assert link_of(other)["address"] == auto.mac == "02:42:" + ":".join(
        f"{int(o):02x}" for o in auto.ip.split("."))
    # and the neighbour really learns the chosen one
    assert other.run("busybox", "ping", "-c", "1", "-W", "3", ep.ip).returncode == 0
    neigh = json.loads(other.run("ip", "-j", "neigh", "show", ep.ip).stdout)
    assert neigh and neigh[0]["lladdr"] == "92:d0:c6:0a:29:33"


def test_a_bad_mac_is_refused_before_anything_is_made(harness, make_netns):
    m = harness.manager
    m.create("macs")
    ns = make_netns()
    with pytest.raises(InvalidRequest, match="MAC address 01:00:5e:00:00:01"):
        m.connect("macs", "a" * 64, ns.path, container_name="a", mac="01:00:5e:00:00:01")
    assert m.endpoints() == []
    assert ns.run("ip", "link", "show", "eth0").returncode != 0


def test_addresses_come_from_the_range_and_skip_auxiliary_ones(harness, make_netns):
    m = harness.manager
    net = m.create("ranged", subnet="10.231.77.0/24", ip_range="10.231.77.128/30",
                   aux_addresses={"router": "10.231.77.129"})
    assert (net.ip_range, net.aux_addresses) == ("10.231.77.128/30", {"router": "10.231.77.129"})
    spaces = [make_netns() for _ in range(4)]
    got = [ipv4_of(ns) for i, ns in enumerate(spaces[:3])
           if m.connect("ranged", f"{i}" * 64, ns.path, container_name=f"c{i}")]
    assert got == ["10.231.77.128", "10.231.77.130", "10.231.77.131"]
    with pytest.raises(Conflict, match="no free address left in ip-range 10.231.77.128/30"):
        m.connect("ranged", "9" * 64, spaces[3].path, container_name="c9")
    # a static address outside the range but inside the subnet is Docker's rule too
    ep = m.connect("ranged", "9" * 64, spaces[3].path, container_name="c9", ip="10.231.77.20")
    assert ipv4_of(spaces[3]) == ep.ip == "10.231.77.20"
    assert spaces[3].run("busybox", "ping", "-c", "1", "-W", "3", "10.231.77.128").returncode == 0


def test_a_network_named_with_spaces_works_end_to_end(harness, make_netns):
    m = harness.manager
    net = m.create("my test net")
    assert net.bridge.startswith("pcbr") and " " not in net.bridge and len(net.bridge) <= 15
    assert m.get("my test net").id == net.id
    web, client = make_netns(), make_netns()
    ep = m.connect("my test net", "a" * 64, web.path, container_name="web")
    m.connect(net.id, "b" * 64, client.path, container_name="client")
    # the network's DNS server answers for containers on it, from inside the other container
    client.set_resolver(net.gateway)
    assert client.run("busybox", "ping", "-c", "1", "-W", "3", "web").returncode == 0
    assert ep.ip in client.run("busybox", "nslookup", "web").stdout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(dns.build_query(7, "web"), (net.gateway, 53))
        assert dns.parse_message(s.recv(4096)).addresses() == [ep.ip]
    m.disconnect("my test net", "a" * 64)
    m.disconnect("my test net", "b" * 64)
    m.remove("my test net")
    assert m.list() == []
