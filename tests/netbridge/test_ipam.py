from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netbridge import ipam
from netbridge.errors import Conflict, InvalidRequest


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
    with pytest.raises(InvalidRequest):
        ipam.choose_subnet("10.231.0.0/25", [], [])


def test_bad_pool_text():
    with pytest.raises(InvalidRequest, match="address pool"):
        ipam.choose_subnet("10.231.0.1/16", [], [])


def test_explicit_subnet_and_gateway():
    c = ipam.validate_subnet("172.30.5.0/24", "172.30.5.254", [])
    assert (c.subnet, c.gateway) == ("172.30.5.0/24", "172.30.5.254")
    assert ipam.validate_subnet("172.30.6.0/24", None, []).gateway == "172.30.6.1"


@pytest.mark.parametrize("gw", ["172.30.6.1", "172.30.5.0", "172.30.5.255", "nonsense"])
def test_gateway_outside_or_unusable_is_refused(gw):
    with pytest.raises(InvalidRequest):
        ipam.validate_subnet("172.30.5.0/24", gw, [])


def test_overlapping_subnets_are_refused():
    with pytest.raises(Conflict, match="overlaps the subnet 172.30.0.0/16"):
        ipam.validate_subnet("172.30.5.0/24", None, ["172.30.0.0/16"])
    with pytest.raises(Conflict, match="on the host"):
        ipam.validate_subnet("192.0.2.0/25", None, [], ["192.0.2.0/24", "0.0.0.0/0"])


def test_non_network_address_is_refused():
    with pytest.raises(InvalidRequest, match="invalid subnet"):
        ipam.validate_subnet("172.30.5.1/24", None, [])


def test_addresses_start_after_gateway_and_fill_holes():
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", []) == "10.231.0.2"
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", ["10.231.0.2", "10.231.0.4"]) \
        == "10.231.0.3"


def test_requested_address_must_be_inside_and_free():
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.0.50") == "10.231.0.50"
    with pytest.raises(InvalidRequest, match="invalid address 10.231.1.50: It does not belong "
                       "to any of this network's subnets"):
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


def test_addresses_come_only_from_the_ip_range():
    taken: list[str] = []
    for _ in range(4):
        taken.append(ipam.allocate_address("10.231.0.0/24", "10.231.0.1", taken,
                                           ip_range="10.231.0.8/30"))
    assert taken == ["10.231.0.8", "10.231.0.9", "10.231.0.10", "10.231.0.11"]
    with pytest.raises(Conflict, match="no free address left in ip-range 10.231.0.8/30"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", taken, ip_range="10.231.0.8/30")


def test_a_requested_address_may_lie_outside_the_range_but_not_outside_the_subnet():
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.0.200",
                                 ip_range="10.231.0.8/30") == "10.231.0.200"
    with pytest.raises(InvalidRequest, match="does not belong"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.5.5",
                              ip_range="10.231.0.8/30")


def test_auxiliary_addresses_are_never_handed_out():
    got = [ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], reserved=["10.231.0.2"])]
    assert got == ["10.231.0.3"]
    with pytest.raises(Conflict, match="reserved as an auxiliary address"):
        ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], "10.231.0.2",
                              reserved=["10.231.0.2"])
    # the range's first address is reserved: the next one of the range
    assert ipam.allocate_address("10.231.0.0/24", "10.231.0.1", [], ip_range="10.231.0.64/26",
                                 reserved=["10.231.0.64"]) == "10.231.0.65"


def test_plan_checks_range_and_aux_against_the_subnet():
    plan = ipam.plan_addresses(ipam.AddressRequest("10.231.0.0/24", None, "10.231.0.128/25",
                                                   {"router": "10.231.0.2"}),
                               "10.201.0.0/16", [], [])
    assert (plan.subnet, plan.gateway, plan.ip_range, dict(plan.aux_addresses)) == \
        ("10.231.0.0/24", "10.231.0.1", "10.231.0.128/25", {"router": "10.231.0.2"})
    req = ipam.AddressRequest
    with pytest.raises(InvalidRequest, match="parent subnet 10.231.0.0/24 doesn't contain "
                                             "ip-range"):
        ipam.plan_addresses(req("10.231.0.0/24", None, "10.232.0.0/25"), "10.201.0.0/16", [], [])
    with pytest.raises(InvalidRequest, match="bigger than its parent subnet"):
        ipam.plan_addresses(req("10.231.0.0/24", None, "10.231.0.0/23"), "10.201.0.0/16", [], [])
    with pytest.raises(InvalidRequest, match="invalid ip-range 10.231.0.1/25: it should be "
                                             "10.231.0.0/25"):
        ipam.plan_addresses(req("10.231.0.0/24", None, "10.231.0.1/25"), "10.201.0.0/16", [], [])
    with pytest.raises(InvalidRequest, match="invalid auxiliary address r: parent subnet"):
        ipam.plan_addresses(req("10.231.0.0/24", None, None, {"r": "10.9.9.9"}),
                            "10.201.0.0/16", [], [])
    with pytest.raises(InvalidRequest, match="--ip-range needs --subnet"):
        ipam.plan_addresses(req(None, None, "10.231.0.0/25"), "10.201.0.0/16", [], [])
    with pytest.raises(InvalidRequest, match="invalid ip-range 'ten'"):
        ipam.plan_addresses(req("10.231.0.0/24", None, "ten"), "10.201.0.0/16", [], [])


@pytest.mark.parametrize("text,want", [("02:42:AC:11:00:99", "02:42:ac:11:00:99"),
                                       ("92-d0-c6-0a-29-33", "92:d0:c6:0a:29:33")])
def test_a_chosen_mac_is_normalised(text, want):
    assert ipam.valid_mac(text) == want


@pytest.mark.parametrize("text", ["02:42:ac:11:00", "zz:42:ac:11:00:99", "01:00:5e:00:00:01",
                                  "00:00:00:00:00:00", "02:42:ac:11:00:99:aa", ""])
def test_a_bad_mac_is_refused_naming_it(text):
    with pytest.raises(InvalidRequest, match="MAC address"):
        ipam.valid_mac(text)


def _lowest_free(subnet: str, gateway: str, taken: list[str], ip_range: str,
                 reserved: list[str]) -> str | None:
    """The rule, spelled out with ipaddress objects (what allocate_address does with ints)."""
    import ipaddress
    net = ipaddress.IPv4Network(subnet)
    skip = {ipaddress.IPv4Address(a) for a in [*taken, gateway, *reserved]}
    skip |= {net.network_address, net.broadcast_address}
    pool = ipaddress.IPv4Network(ip_range) if ip_range else net
    return next((str(ip) for ip in pool if ip not in skip), None)


@given(st.sets(st.integers(1, 62), max_size=62), st.sets(st.integers(0, 63), max_size=6),
       st.sampled_from(["", "10.231.0.0/27", "10.231.0.32/27", "10.231.0.60/30"]))
def test_allocation_is_the_lowest_free_address_of_the_range(used, aux, ip_range):
    taken = [f"10.231.0.{i}" for i in used]
    reserved = [f"10.231.0.{i}" for i in aux]
    want = _lowest_free("10.231.0.0/26", "10.231.0.1", taken, ip_range, reserved)
    if want is None:
        with pytest.raises(Conflict, match="no free address"):
            ipam.allocate_address("10.231.0.0/26", "10.231.0.1", taken, ip_range=ip_range,
                                  reserved=reserved)
    else:
        assert ipam.allocate_address("10.231.0.0/26", "10.231.0.1", taken, ip_range=ip_range,
                                     reserved=reserved) == want
