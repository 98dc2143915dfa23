from __future__ import annotations

import pytest

from engine.errors import BadParameter, Conflict
from netbridge import ipam


def test_first_free_24_of_pool():
    c = ipam.choose_subnet("10.231.0.0/16", [], [])
    assert (c.subnet, c.gateway, c.prefixlen) == ("10.231.0.0/24", "10.231.0.1", 24)


def test_skips_our_networks_and_host_routes():
    used = ["10.231.0.0/24"]
    host = ["10.231.1.128/25", "192.0.2.0/24", "10.231.2.7/32"]
    assert ipam.choose_subnet("10.231.0.0/16", used, host).subnet == "10.231.3.0/24"


def test_host_prefix_covering_the_whole_pool_exhausts_it():
    with pytest.raises(Conflict, match="exhausted"):
        ipam.choose_subnet("10.231.0.0/16", [], ["10.0.0.0/8"])


def test_pool_smaller_than_a_24_is_refused():
    with pytest.raises(BadParameter):
        ipam.choose_subnet("10.231.0.0/25", [], [])


def test_bad_pool_text():
    with pytest.raises(BadParameter, match="address pool"):
        ipam.choose_subnet("10.231.0.1/16", [], [])


def test_explicit_subnet_and_gateway():
    c = ipam.validate_subnet("172.30.5.0/24", "172.30.5.254", [])
    assert (c.subnet, c.gateway) == ("172.30.5.0/24", "172.30.5.254")
    assert ipam.validate_subnet("172.30.6.0/24", None, []).gateway == "172.30.6.1"


@pytest.mark.parametrize("gw", ["172.30.6.1", "172.30.5.0", "172.30.5.255", "nonsense"])
def test_gateway_outside_or_unusable_is_refused(gw):
    with pytest.raises(BadParameter):
        ipam.validate_subnet("172.30.5.0/24", gw, [])


def test_overlapping_subnets_are_refused():
    with pytest.raises(Conflict, match="overlaps the subnet 172.30.0.0/16"):
        ipam.validate_subnet("172.30.5.0/24", None, ["172.30.0.0/16"])
    with pytest.raises(Conflict, match="on the host"):
        ipam.validate_subnet("192.0.2.0/25", None, [], ["192.0.2.0/24", "0.0.0.0/0"])


def test_non_network_address_is_refused():
    with pytest.raises(BadParameter, match="invalid subnet"):
        ipam.validate_subnet("172.30.5.1/24", None, [])


def test_addresses_start_after_gateway_and_fill_holes():
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", []) == "10.231.0.2"
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", ["10.231.0.2", "10.231.0.4"]) \
        == "10.231.0.3"


def test_requested_address_must_be_inside_and_free():
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.0.50") == "10.231.0.50"
    with pytest.raises(BadParameter, match="not a usable address"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.1.50")
    with pytest.raises(Conflict, match="already in use"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", ["10.231.0.50"], "10.231.0.50")
    with pytest.raises(Conflict, match="gateway"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.0.1")


def test_small_subnet_runs_out():
    with pytest.raises(Conflict, match="no free address"):
        ipam.allocate_address("10.231.0.0/30", "10.231.0.1", ["10.231.0.2"])


def test_mac_follows_address():
    assert ipam.mac_for("10.231.0.2") == "02:42:0a:e7:00:02"
