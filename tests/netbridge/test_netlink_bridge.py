"""Bridge creation and the host route/address dump over raw rtnetlink (root, real links)."""
from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from netbridge import netlink

pytestmark = pytest.mark.integration


def ip_json(*args: str):
    return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, text=True,
                                     check=True).stdout)


def test_bridge_is_made_once_addressed_up_and_dumped():
    name = "pcbrt" + secrets.token_hex(4)
    try:
        netlink.ensure_bridge(name, "10.231.254.1", 24)
        netlink.ensure_bridge(name, "10.231.254.1", 24)    # idempotent: EEXIST is fine
        (link,) = ip_json("-d", "addr", "show", "dev", name)
        assert link["linkinfo"]["info_kind"] == "bridge" and "UP" in link["flags"]
        assert [(a["local"], a["prefixlen"]) for a in link["addr_info"]
                if a["family"] == "inet"] == [("10.231.254.1", 24)]
        prefixes = netlink.host_routes_and_addresses()
        assert "10.231.254.0/24" in prefixes and "10.231.254.1/24" in prefixes
        routes = {r["dst"] for r in ip_json("-4", "route", "show", "table", "main")
                  if r["dst"] != "default" and "/" in r["dst"]}
        assert routes <= set(prefixes)
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_a_non_bridge_with_the_name_is_refused():
    name = "pcbrt" + secrets.token_hex(4)
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                    "pcvt" + secrets.token_hex(4)], check=True)   # deleting one end drops both
    try:
        with pytest.raises(netlink.NetlinkFailure, match="non-bridge"):
            netlink.ensure_bridge(name, "10.231.253.1", 24)
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
