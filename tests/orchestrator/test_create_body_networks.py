"""What compose sends the engine for a service's per-network settings and a network's IPv6
flag: an endpoint's mac_address, and enable_ipv6 (sent, so the engine can refuse it by name)."""
from __future__ import annotations

from compose.orchestrator import networks
from compose.orchestrator.create_body import network_mode_of

from .test_create_body import ctx, svc
from .test_executor import project


def test_a_networks_mac_address_reaches_its_endpoint_only():
    service = svc({"image": "busybox", "mac_address": "02:00:00:00:00:01",
                   "networks": {"default": None,
                                "back": {"mac_address": "92:d0:c6:0a:29:44", "priority": 5}}})
    mode, endpoints = network_mode_of(service, ctx())
    assert mode == "demo_back"
    assert endpoints["demo_back"]["MacAddress"] == "92:d0:c6:0a:29:44"
    assert "MacAddress" not in endpoints["demo_default"]


def test_enable_ipv6_is_sent_and_absent_otherwise():
    spec = project({"services": {"web": {"image": "busybox", "networks": ["six", "four"]}},
                    "networks": {"six": {"enable_ipv6": True}, "four": {}}})
    assert networks.create_body(spec, spec.networks["six"])["EnableIPv6"] is True
    assert "EnableIPv6" not in networks.create_body(spec, spec.networks["four"])
