"""`pycompose network create --ip-range/--aux-address` and `pycompose container run
--mac-address/--link` against a real engine: the evidence is read inside the containers."""
from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.integration


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_ip_range_and_aux_address_decide_the_containers_address(engine):
    net, first = name(), name()
    r = engine.cli("network", "create", "--subnet", "10.237.210.0/24", "--ip-range",
                   "10.237.210.64/30", "--aux-address", "router=10.237.210.65", net)
    assert r.returncode == 0, r.stderr
    try:
        config = json.loads(engine.cli("network", "inspect", net).stdout)[0]["IPAM"]["Config"][0]
        assert config["IPRange"] == "10.237.210.64/30"
        assert config["AuxiliaryAddresses"] == {"router": "10.237.210.65"}
        # addresses come from the range only, and the auxiliary .65 is skipped
        engine.cli("container", "run", "-d", "--name", first, "--network", net, "busybox",
                   "sleep", "300", check=True)
        r = engine.cli("container", "run", "--rm", "--network", net, "busybox", "sh", "-c",
                       "ip -4 -o addr show eth0 | awk '{print $4}'")
        assert r.stdout.strip() == "10.237.210.66/24", r.stderr
        r = engine.cli("container", "exec", first, "sh", "-c",
                       "ip -4 -o addr show eth0 | awk '{print $4}'")
        assert r.stdout.strip() == "10.237.210.64/24", r.stderr
    finally:
        engine.cli("container", "rm", "-f", first)
        engine.cli("network", "rm", net)
    r = engine.cli("network", "create", "--ip-range", "10.237.211.0/26", net)
    assert r.returncode == 125 and "--ip-range" in r.stderr and "subnet" in r.stderr


def test_mac_address_reaches_eth0(engine):
    r = engine.cli("container", "run", "--rm", "--mac-address", "92:d0:c6:0a:29:55", "busybox",
                   "cat", "/sys/class/net/eth0/address")
    assert r.stdout.strip() == "92:d0:c6:0a:29:55", r.stderr
    r = engine.cli("container", "run", "--rm", "--mac-address", "92:d0", "busybox", "true")
    assert r.returncode == 125 and "--mac-address" in r.stderr


def test_link_gives_the_alias_its_variables_and_a_reachable_name(engine):
    target, linker = name(), name()
    engine.cli("container", "run", "-d", "--name", target, "-e", "SECRET=s3", "busybox",
               "sleep", "300", check=True)
    try:
        r = engine.cli("container", "run", "--rm", "--name", linker, "--link", f"{target}:db",
                       "busybox", "sh", "-c", "echo $DB_NAME $DB_ENV_SECRET; "
                       "ping -c 1 -W 3 db >/dev/null && echo reached")
        assert r.stdout.split() == [f"/{linker}/db", "s3", "reached"], r.stderr
        r = engine.cli("container", "run", "--rm", "--link", "pcnosuch:db", "busybox", "true")
        assert r.returncode != 0
        assert "could not get container for pcnosuch: No such container: pcnosuch" in r.stderr
    finally:
        engine.cli("container", "rm", "-f", target)
