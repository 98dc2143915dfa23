from __future__ import annotations

from netbridge import shapes
from netbridge.ports import PortBinding
from netbridge.store import Endpoint, Network

NET = Network(id="a" * 64, name="front", bridge="pcbraaaaaaaaaaa", subnet="10.231.0.0/24",
              gateway="10.231.0.1", labels={"k": "v"}, created="2026-01-01T00:00:00+00:00")
EP = Endpoint(network_id="a" * 64, container_id="c" * 64, container_name="web", aliases=("www",),
              ip="10.231.0.2", mac="02:42:0a:e7:00:02", gateway="10.231.0.1", prefixlen=24,
              ifname="eth0", host_veth="pcv0123456789ab", netns_path="/proc/1/ns/net",
              dns_server="10.231.0.1")


def test_network_json_has_docker_shape():
    doc = shapes.network_json(NET, [EP])
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.1"}]
    c = doc["Containers"]["c" * 64]
    assert c["Name"] == "web" and c["IPv4Address"] == "10.231.0.2/24"
    assert len(c["EndpointID"]) == 64 and doc["Labels"] == {"k": "v"}
    assert doc["Driver"] == "bridge" and doc["Scope"] == "local"
    # no driver options were given, so none are shown (docker-compose v1 compares them)
    assert doc["Options"] == {}


def test_endpoint_settings_and_ports():
    s = shapes.endpoint_settings(EP)
    assert (s["IPAddress"], s["IPPrefixLen"], s["Gateway"], s["Aliases"]) == \
        ("10.231.0.2", 24, "10.231.0.1", ["www"])
    ports = shapes.ports_json([PortBinding(80, "tcp", "", 8080, "10.231.0.2"),
                               PortBinding(80, "tcp", "127.0.0.1", 8081, "10.231.0.2")])
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                {"HostIp": "127.0.0.1", "HostPort": "8081"}]}


def test_ipam_config_shows_range_and_auxiliary_addresses_only_when_set():
    from dataclasses import replace

    ranged = replace(NET, ip_range="10.231.0.128/25", aux_addresses={"router": "10.231.0.2"})
    assert shapes.network_json(ranged, [])["IPAM"]["Config"] == [
        {"Subnet": "10.231.0.0/24", "IPRange": "10.231.0.128/25", "Gateway": "10.231.0.1",
         "AuxiliaryAddresses": {"router": "10.231.0.2"}}]
