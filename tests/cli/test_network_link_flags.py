"""The engine CLI's flags for IPAM ranges (`network create --ip-range/--aux-address`) and for
`container create|run --mac-address/--link`: the bodies they make, and the flag errors (pure)."""
from __future__ import annotations

import pytest

from engine.client.cli.container_config import ContainerFlags, create_body as container_body
from engine.client.cli.network import create_body as network_body
from engine.client.cli.parse import FlagError


def run_body(**kw) -> dict:
    return container_body(ContainerFlags(image="busybox", **kw), {}, "/work", lambda p: "")


def test_range_and_auxiliary_addresses_go_in_the_subnets_ipam_config():
    body = network_body("n", "bridge", "10.9.0.0/24", None, False, {},
                        ip_range="10.9.0.64/26", aux_addresses=["router=10.9.0.2", "nas=10.9.0.3"])
    assert body["IPAM"] == {"Driver": "default", "Config": [{
        "Subnet": "10.9.0.0/24", "IPRange": "10.9.0.64/26",
        "AuxiliaryAddresses": {"router": "10.9.0.2", "nas": "10.9.0.3"}}]}
    # without them the body is as before
    assert "IPRange" not in network_body("n", "bridge", "10.9.0.0/24", None, False,
                                         {})["IPAM"]["Config"][0]


@pytest.mark.parametrize("kw,flag,why", [
    ({"subnet": None, "ip_range": "10.9.0.64/26"}, "--ip-range", "no matching subnet"),
    ({"ip_range": "10.8.0.0/26"}, "--ip-range", "no matching subnet"),
    ({"ip_range": "10.9.0.65/26"}, "--ip-range", "host bits set"),
    ({"aux_addresses": ["10.9.0.2"]}, "--aux-address", "expected name=address"),
    ({"aux_addresses": ["r=ten"]}, "--aux-address", "not an IP address"),
    ({"aux_addresses": ["r=10.8.0.2"]}, "--aux-address", "no matching subnet"),
    ({"subnet": None, "aux_addresses": ["r=10.9.0.2"]}, "--aux-address", "no matching subnet"),
])
def test_bad_ranges_and_auxiliary_addresses_are_flag_errors(kw, flag, why):
    args = {"subnet": "10.9.0.0/24", **kw}
    subnet = args.pop("subnet")
    with pytest.raises(FlagError) as err:
        network_body("n", "bridge", subnet, None, False, {}, **args)
    assert f"for {flag}" in err.value.message and why in err.value.message
    assert err.value.exit_code == 125


def test_mac_address_and_links_reach_config_and_host_config():
    body = run_body(mac_address="92:d0:c6:0a:29:33", links=("db:database", "cache"))
    assert body["MacAddress"] == "92:d0:c6:0a:29:33"
    assert body["HostConfig"]["Links"] == ["db:database", "cache"]
    plain = run_body()
    assert "MacAddress" not in plain and "Links" not in plain["HostConfig"]
    assert run_body(mac_address="92-D0-C6-0A-29-33")["MacAddress"] == "92-D0-C6-0A-29-33"


@pytest.mark.parametrize("kw,flag", [
    ({"mac_address": "92:d0:c6:0a:29"}, "--mac-address"),
    ({"mac_address": "92:d0-c6:0a:29:33"}, "--mac-address"),
    ({"mac_address": "zz:d0:c6:0a:29:33"}, "--mac-address"),
    ({"links": ("a:b:c",)}, "--link"),
    ({"links": (":alias",)}, "--link"),
    ({"links": ("db:",)}, "--link"),
])
def test_bad_mac_addresses_and_links_are_flag_errors(kw, flag):
    with pytest.raises(FlagError) as err:
        run_body(**kw)
    assert f"for {flag}" in err.value.message and err.value.exit_code == 125
