"""Published ports and egress on real namespaces (root)."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from netbridge.errors import Conflict, InvalidRequest
from netbridge import firewall
from netbridge.ports import PortSpec

from .test_networks_integration import start_httpd, wait_listening, wget

pytestmark = pytest.mark.integration

UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {port}))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo:" + data, peer)
"""


def host_address() -> str:
    """The host's own non-loopback IPv4 address (no packet is sent)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m and not line.split()[1].startswith("pc"):
            return m.group(1)
    pytest.fail("the host has no global IPv4 address")


def http_get(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as r:
        return r.read().decode()


def udp_roundtrip(host: str, port: int, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(payload, (host, port))
        return s.recv(2048)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_published_tcp_and_udp_reach_the_namespace(harness, make_netns, tmp_path):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    ep = m.connect("pub", "a" * 64, ns.path, container_name="web")
    start_httpd(ns, tmp_path, "published")
    ns.spawn(sys.executable, "-c", UDP_ECHO.format(port=5353))
    wait_listening(ns, 5353, "u")
    fixed = free_port()
    bound = m.publish("a" * 64, [f"{fixed}:8080", "8080", PortSpec(5353, "udp")])
    assert [b.container_ip for b in bound] == [ep.ip] * 3
    assert bound[0].host_port == fixed
    picked, udp = bound[1].host_port, bound[2].host_port
    assert picked not in (0, fixed) and udp != 0
    for addr in ("127.0.0.1", host_address()):
        assert http_get(addr, fixed) == "published"
        assert http_get(addr, picked) == "published"
        assert udp_roundtrip(addr, udp, b"ping") == b"echo:ping"
    assert m.ports("a" * 64) == bound
    m.unpublish("a" * 64)
    assert firewall.port_chain("a" * 64) not in firewall.save()
    with pytest.raises(OSError):
        http_get("127.0.0.1", fixed)
    with socket.socket() as s:   # the reservation is gone too
        s.bind(("0.0.0.0", fixed))


def test_published_port_on_one_host_address_only(harness, make_netns, tmp_path):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    m.connect("pub", "a" * 64, ns.path, container_name="web")
    start_httpd(ns, tmp_path, "local only")
    (b,) = m.publish("a" * 64, ["127.0.0.1::8080"])
    assert b.host_ip == "127.0.0.1"
    assert http_get("127.0.0.1", b.host_port) == "local only"
    with pytest.raises(OSError):
        http_get(host_address(), b.host_port)


def test_busy_host_port_is_a_clear_error_and_leaves_nothing(harness, make_netns):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    m.connect("pub", "a" * 64, ns.path, container_name="web")
    before = firewall.save()
    first = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        with pytest.raises(Conflict, match=f"host port 0.0.0.0:{busy}/tcp is already in use"):
            m.publish("a" * 64, [f"{first}:80", f"{busy}:81"])
    assert m.ports("a" * 64) == []
    assert firewall.port_chain("a" * 64) not in firewall.save()
    def ours(text=None):
        words = {m.chains.dnat, firewall.port_chain("a" * 64)}
        return {ln for ln in firewall.tagged_lines(text) if words & set(ln.split())}
    assert ours() == ours(before)
    with socket.socket() as s:   # the first port was released again
        s.bind(("0.0.0.0", first))
    # two containers cannot publish the same host port either
    other = make_netns()
    m.connect("pub", "b" * 64, other.path, container_name="other")
    m.publish("a" * 64, [f"{first}:80"])
    with pytest.raises(Conflict, match="already in use"):
        m.publish("b" * 64, [f"{first}:80"])


def test_publish_needs_a_routable_endpoint(harness, make_netns):
    m = harness.manager
    m.create("closed", internal=True)
    ns = make_netns()
    m.connect("closed", "a" * 64, ns.path, container_name="x")
    with pytest.raises(InvalidRequest, match="no endpoint on a non-internal network"):
        m.publish("a" * 64, ["8080"])
    with pytest.raises(InvalidRequest):
        m.publish("a" * 64, ["nonsense"])


def _mirror_host() -> str:
    """The Debian mirror named in apt's sources (the one outside address tests may use)."""
    texts = [p.read_text() for p in [Path("/etc/apt/sources.list"),
                                     *Path("/etc/apt/sources.list.d").glob("*")]
             if p.is_file()]
    for text in texts:
        for m in re.finditer(r"(?:URIs:|deb)\s+http://([^/\s]+)/debian\b", text):
            return m.group(1)
    pytest.skip("no plain-http Debian mirror configured in apt sources")


def test_egress_reaches_the_mirror_but_internal_network_cannot(harness, make_netns):
    mirror = _mirror_host()
    m = harness.manager
    out_net = m.create("egress")
    in_net = m.create("sealed", internal=True)
    outside, sealed = make_netns(), make_netns()
    m.connect("egress", "a" * 64, outside.path, container_name="out")
    m.connect("sealed", "b" * 64, sealed.path, container_name="in")
    outside.set_resolver(out_net.gateway)
    sealed.set_resolver(in_net.gateway)
    url = f"http://{mirror}/debian/dists/bookworm/Release"
    got = wget(outside, url, timeout=20)
    assert got.returncode == 0 and "Origin: Debian" in got.stdout
    assert sealed.run("busybox", "nslookup", mirror).returncode != 0
    mirror_ip = socket.gethostbyname(mirror)
    assert wget(sealed, f"http://{mirror_ip}/debian/dists/bookworm/Release",
                timeout=3).returncode != 0


@pytest.fixture
def forward_policy_drop():
    """Docker's host setup: FORWARD policy DROP with bridged frames passing through iptables."""
    saved = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True,
                           check=True).stdout
    old = re.search(r"^:FORWARD (\w+)", saved, re.M).group(1)
    nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    nf_old = nf.read_text().strip() if nf.exists() else None
    subprocess.run(["iptables", "-P", "FORWARD", "DROP"], check=True)
    if nf_old is not None:
        nf.write_text("1")
    try:
        yield
    finally:
        subprocess.run(["iptables", "-P", "FORWARD", old], check=True)
        if nf_old is not None:
            nf.write_text(nf_old)


def test_everything_works_under_dockers_forward_drop(harness, make_netns, tmp_path,
                                                    forward_policy_drop):
    mirror = _mirror_host()
    m = harness.manager
    net = m.create("strict")
    web, client = make_netns(), make_netns()
    ep = m.connect("strict", "a" * 64, web.path, container_name="web")
    m.connect("strict", "b" * 64, client.path, container_name="client")
    client.set_resolver(net.gateway)
    start_httpd(web, tmp_path, "still here")
    assert wget(client, "http://web:8080/").stdout == "still here"          # intra-bridge
    (b,) = m.publish("a" * 64, ["8080"])
    assert http_get(host_address(), b.host_port) == "still here"             # published
    assert http_get("127.0.0.1", b.host_port) == "still here"
    got = wget(client, f"http://{mirror}/debian/dists/bookworm/Release", timeout=20)
    assert "Origin: Debian" in got.stdout                                    # egress + DNS
    assert b.container_ip == ep.ip


def test_published_port_reached_from_another_network_through_prerouting(harness, make_netns,
                                                                        tmp_path):
    """Traffic arriving on an interface (not from the host itself) takes PREROUTING's DNAT;
    the isolation between our networks must not drop it."""
    m = harness.manager
    m.create("server-net")
    m.create("client-net")
    web, client = make_netns(), make_netns()
    ep = m.connect("server-net", "a" * 64, web.path, container_name="web")
    m.connect("client-net", "b" * 64, client.path, container_name="client")
    start_httpd(web, tmp_path, "via prerouting")
    (b,) = m.publish("a" * 64, ["8080"])
    assert wget(client, f"http://{ep.ip}:8080/", timeout=2).returncode != 0   # isolated...
    got = wget(client, f"http://{host_address()}:{b.host_port}/")             # ...but published
    assert got.stdout == "via prerouting"


def test_published_port_reached_from_its_own_network(harness, make_netns, tmp_path):
    m = harness.manager
    m.create("loop")
    web, client = make_netns(), make_netns()
    m.connect("loop", "a" * 64, web.path, container_name="web")
    m.connect("loop", "b" * 64, client.path, container_name="client")
    start_httpd(web, tmp_path, "hairpin")
    (b,) = m.publish("a" * 64, ["8080"])
    assert wget(client, f"http://{host_address()}:{b.host_port}/").stdout == "hairpin"
    assert wget(web, f"http://{host_address()}:{b.host_port}/").stdout == "hairpin"  # itself
