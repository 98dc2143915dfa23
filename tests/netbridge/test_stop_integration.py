"""A manager's stop() removes every kernel object it made and keeps the networks; the next
cleanup() re-creates them. An engine start with nothing recorded costs no kernel work."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from netbridge import firewall, netlink

from .conftest import FOOTPRINT, ManagerHarness

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def test_stop_leaves_no_object_and_cleanup_restores(tmp_path, clean_host, make_netns):
    state = tmp_path / "state"
    h = ManagerHarness(state)
    try:
        net = h.manager.create("keep", labels={"a": "b"})
        ns = make_netns()
        ep = h.manager.connect("keep", "a" * 64, ns.path, container_name="web")
        port = h.manager.publish("a" * 64, ["80"])[0].host_port
        assert not _port_free(port)
        h.stop()                  # the daemon's DNS loop ends first, then:
        h.manager.stop()
        assert FOOTPRINT.leftovers() == (set(), [])
        assert netlink.list_host_links(net.bridge) == [] and _port_free(port)
        assert firewall.network_chain(net.id) not in firewall.save()
        assert netlink.netns_links(ns.path) and not [
            link for link in netlink.netns_links(ns.path) if link.name == ep.ifname]

        h = ManagerHarness(state)
        m = h.manager
        assert m.list() == [net] and m.endpoints() == []
        m.cleanup(set())
        assert [link.name for link in netlink.list_host_links(net.bridge)] == [net.bridge]
        again = m.connect("keep", "b" * 64, ns.path, container_name="web2")
        assert again.ip == ep.ip   # the freed address, in the same subnet
        r = ns.run("busybox", "ping", "-c", "1", "-W", "2", net.gateway)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        h.teardown()


def test_cleanup_with_nothing_recorded_imports_no_pyroute2_and_runs_no_iptables(tmp_path):
    code = (
        "import sys, time, subprocess\n"
        "from netbridge.manager import NetworkManager\n"
        "calls = []\n"
        "real = subprocess.run\n"
        "subprocess.run = lambda *a, **k: calls.append(a) or real(*a, **k)\n"
        f"m = NetworkManager({str(tmp_path / 'n')!r}, '10.231.0.0/16')\n"
        "t = time.perf_counter(); m.cleanup(set()); m.stop(); dt = time.perf_counter() - t\n"
        "print('pyroute2' in sys.modules, calls, dt)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split(None, 2)
    assert out[:2] == ["False", "[]"]
    assert float(out[2]) < 0.05
