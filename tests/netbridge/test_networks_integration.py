"""Networks, endpoints and DNS on real bridges, veths and namespaces (root)."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest

from netbridge import dns, firewall, netlink
from netbridge.errors import Conflict, InvalidRequest, NotFound
from netbridge.manager import NetworkManager

from .conftest import POOL, ManagerHarness

pytestmark = pytest.mark.integration


def query(server: str, name: str, qtype: int = dns.TYPE_A, timeout: float = 3) -> dns.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(dns.build_query(4242, name, qtype), (server, 53))
        return dns.parse_message(s.recv(4096))


def start_httpd(ns, tmp_path, text: str, port: int = 8080):
    root = tmp_path / f"www-{ns.name}"
    root.mkdir()
    (root / "index.html").write_text(text)
    ns.spawn("busybox", "httpd", "-f", "-p", str(port), "-h", str(root))
    wait_listening(ns, port)


def wait_listening(ns, port: int, proto: str = "t") -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = ns.run("ss", f"-{proto}lnH").stdout
        if f":{port} " in out:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} in {ns.name}")


def wget(ns, url: str, timeout: int = 3) -> subprocess.CompletedProcess:
    # busybox 1.35's `wget -T` segfaults; an outer `timeout` bounds unreachable targets instead
    return ns.run("timeout", str(timeout), "busybox", "wget", "-q", "-O", "-", url,
                  timeout=timeout + 10)


def test_two_namespaces_talk_by_ip_and_by_name(harness, make_netns, tmp_path):
    m = harness.manager
    net = m.create("front")
    assert net.bridge.startswith("pcbr") and len(net.bridge) <= 15
    assert net.subnet.startswith("10.231.") and net.gateway.endswith(".1")
    web, client = make_netns(), make_netns()
    ep_web = m.connect("front", "a" * 64, web.path, container_name="web", aliases=["www"])
    ep_client = m.connect(net.id, "b" * 64, client.path, container_name="client")
    assert ep_web.ip.endswith(".2") and ep_client.ip.endswith(".3")
    assert ep_web.host_veth.startswith("pcv") and len(ep_web.host_veth) <= 15
    assert ep_web.gateway == net.gateway and ep_web.ifname == "eth0"
    links = {link.name: link for link in netlink.netns_links(web.path)}
    assert links["eth0"].mac == ep_web.mac and links["eth0"].up
    client.set_resolver(net.gateway)
    start_httpd(web, tmp_path, "hello from web")
    assert wget(client, f"http://{ep_web.ip}:8080/").stdout == "hello from web"
    assert wget(client, "http://web:8080/").stdout == "hello from web"
    assert wget(client, "http://www:8080/").stdout == "hello from web"
    out = client.run("busybox", "nslookup", "web").stdout
    assert ep_web.ip in out


def test_other_network_is_isolated_until_connected(harness, make_netns, tmp_path):
    m = harness.manager
    m.create("one")
    m.create("two")
    web, stranger = make_netns(), make_netns()
    ep_web = m.connect("one", "a" * 64, web.path, container_name="web")
    m.connect("two", "c" * 64, stranger.path, container_name="stranger")
    start_httpd(web, tmp_path, "one")
    assert wget(stranger, f"http://{ep_web.ip}:8080/", timeout=2).returncode != 0
    ep2 = m.connect("one", "c" * 64, stranger.path, container_name="stranger", ifname="eth1")
    assert ep2.ifname == "eth1"
    assert wget(stranger, f"http://{ep_web.ip}:8080/").stdout == "one"
    m.disconnect("one", "c" * 64)
    assert wget(stranger, f"http://{ep_web.ip}:8080/", timeout=2).returncode != 0


def test_shared_alias_returns_every_address_and_removal_is_immediate(harness, make_netns):
    m = harness.manager
    net = m.create("svc")
    a, b = make_netns(), make_netns()
    ea = m.connect("svc", "a" * 64, a.path, container_name="app-1", aliases=["app"])
    eb = m.connect("svc", "b" * 64, b.path, container_name="app-2", aliases=["app"])
    assert sorted(query(net.gateway, "app").addresses()) == sorted([ea.ip, eb.ip])
    assert query(net.gateway, "app-1").addresses() == [ea.ip]
    assert query(net.gateway, "a" * 12).addresses() == [ea.ip]  # short id, as Docker does
    a.set_resolver(net.gateway)
    out = a.run("busybox", "nslookup", "app").stdout
    assert ea.ip in out and eb.ip in out
    m.disconnect("svc", "b" * 64)
    assert query(net.gateway, "app").addresses() == [ea.ip]
    reply = query(net.gateway, "app-2")
    assert reply.addresses() == [] and reply.rcode != dns.RCODE_OK
    # TCP transport answers the same way
    with socket.create_connection((net.gateway, 53), timeout=3) as s:
        q = dns.build_query(7, "app")
        s.sendall(len(q).to_bytes(2, "big") + q)
        length = int.from_bytes(s.recv(2), "big")
        data = b""
        while len(data) < length:
            data += s.recv(length - len(data))
    assert dns.parse_message(data).addresses() == [ea.ip]


def test_unknown_names_are_forwarded_and_servfail_without_upstream(tmp_path, clean_host, make_netns):
    # an upstream resolver of our own on loopback, so no test query leaves the machine
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.77\n")
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.77", 53))
    h = ManagerHarness(tmp_path / "state", resolv_conf=resolv)
    try:
        net = h.manager.create("fwd")
        import threading

        def answer_once():
            data, peer = upstream.recvfrom(4096)
            msg = dns.parse_message(data)
            upstream.sendto(dns.build_response(msg, 0, ["192.0.2.123"], authoritative=False), peer)
        t = threading.Thread(target=answer_once)
        t.start()
        assert query(net.gateway, "elsewhere.example").addresses() == ["192.0.2.123"]
        t.join(5)
        upstream.close()   # now nobody answers: the client must get SERVFAIL, not silence
        assert query(net.gateway, "gone.example", timeout=6).rcode == dns.RCODE_SERVFAIL
    finally:
        upstream.close()
        h.teardown()


def test_errors_name_the_network(harness, make_netns):
    m = harness.manager
    m.create("busy")
    ns = make_netns()
    m.connect("busy", "a" * 64, ns.path, container_name="x")
    with pytest.raises(Conflict, match="busy.*active endpoints"):
        m.remove("busy")
    with pytest.raises(NotFound, match="network nope not found"):
        m.remove("nope")
    with pytest.raises(NotFound):
        m.get("nope")
    with pytest.raises(Conflict, match="already exists"):
        m.create("busy")
    with pytest.raises(Conflict, match="already connected"):
        m.connect("busy", "a" * 64, ns.path, container_name="x")
    with pytest.raises(Conflict, match="overlaps"):
        m.create("clash", subnet=m.get("busy").subnet)
    with pytest.raises(InvalidRequest, match="invalid network name: name is empty"):
        m.create("  ")
    with pytest.raises(InvalidRequest, match="predefined host network"):
        m.create("host")
    with pytest.raises(InvalidRequest, match="'/' is not allowed"):
        m.create("a/b")
    with pytest.raises(InvalidRequest, match="control characters"):
        m.create("a\nb")
    with pytest.raises(InvalidRequest, match="gateway"):
        m.create("gw", subnet="10.231.200.0/24", gateway="10.231.201.1")
    with pytest.raises(NotFound, match="not connected"):
        m.disconnect("busy", "f" * 64)
    m.disconnect("busy", "a" * 64)
    m.remove("busy")
    assert m.list() == []


def test_explicit_subnet_gateway_and_ip(harness, make_netns):
    m = harness.manager
    net = m.create("fixed", subnet="10.231.77.0/24", gateway="10.231.77.254")
    ns = make_netns()
    ep = m.connect("fixed", "a" * 64, ns.path, container_name="x", ip="10.231.77.9")
    assert (ep.ip, ep.gateway) == ("10.231.77.9", "10.231.77.254")
    out = ns.run("ip", "route").stdout
    assert "default via 10.231.77.254" in out
    assert m.get(net.id[:10]) == net


def test_failed_connect_leaves_nothing(harness):
    m = harness.manager
    m.create("n")
    with pytest.raises(Exception, match="netns"):
        m.connect("n", "a" * 64, "/run/netns/pc-test-missing", container_name="ghost")
    assert m.endpoints("n") == []
    assert not [link for link in netlink.list_host_links("pcv")
                if link.master == netlink.list_host_links(m.get("n").bridge)[0].index]


def test_state_survives_restart_and_cleanup_removes_dead_endpoints(tmp_path, clean_host,
                                                                    make_netns):
    state = tmp_path / "state"
    h = ManagerHarness(state)
    try:
        net = h.manager.create("keep")
        alive, dead = make_netns(), make_netns()
        ea = h.manager.connect("keep", "a" * 64, alive.path, container_name="alive")
        ed = h.manager.connect("keep", "d" * 64, dead.path, container_name="dead")
        h.manager.publish("d" * 64, ["8080"])
        h.stop()   # the daemon "crashes": nothing is torn down
        h = ManagerHarness(state)
        m = h.manager
        assert m.get("keep") == net
        assert query(net.gateway, "alive").addresses() == [ea.ip]
        m.cleanup({"a" * 64})
        assert [e.container_id for e in m.endpoints("keep")] == ["a" * 64]
        assert netlink.list_host_links(ed.host_veth) == []
        assert query(net.gateway, "dead").addresses() == []
        assert firewall.port_chain("d" * 64) not in firewall.save()
        # a veth a crash left on our bridge without an endpoint record goes too
        subprocess.run(["ip", "link", "add", "pcvorphan", "master", net.bridge, "type", "veth",
                        "peer", "name", "pcvorphanpeer"], check=True)
        m.cleanup({"a" * 64})
        assert netlink.list_host_links("pcvorphan") == []
        # the next allocation reuses the freed address, the live one is kept
        again = m.connect("keep", "e" * 64, dead.path, container_name="again")
        assert again.ip == ed.ip
    finally:
        h.teardown()


def test_internal_network_has_no_default_route_but_names_resolve(harness, make_netns):
    m = harness.manager
    net = m.create("secret", internal=True)
    ns, peer = make_netns(), make_netns()
    ep = m.connect("secret", "a" * 64, ns.path, container_name="x")
    ep_peer = m.connect("secret", "b" * 64, peer.path, container_name="peer")
    assert ep.gateway == "" and ep.dns_server == net.gateway
    assert "default" not in ns.run("ip", "route").stdout
    ns.set_resolver(ep.dns_server)
    assert ep_peer.ip in ns.run("busybox", "nslookup", "peer").stdout


def test_connect_survives_a_bridge_recreated_behind_our_back(harness, make_netns):
    m = harness.manager
    net = m.create("flaky")
    a, b = make_netns(), make_netns()
    m.connect("flaky", "a" * 64, a.path, container_name="a")
    m.disconnect("flaky", "a" * 64)
    # someone re-makes the bridge: same name, new ifindex, our cached index is stale
    subprocess.run(["ip", "link", "del", net.bridge], check=True)
    subprocess.run(["ip", "link", "add", net.bridge, "type", "bridge"], check=True)
    ep = m.connect("flaky", "b" * 64, b.path, container_name="b")
    link = netlink.list_host_links(ep.host_veth)[0]
    assert link.master == netlink.list_host_links(net.bridge)[0].index


def test_networks_come_from_the_callers_pool(harness):
    with pytest.raises(InvalidRequest, match="address pool"):
        NetworkManager(harness.manager._store.dir / "other", "not-a-pool")
    assert harness.manager.create("p").subnet.startswith(POOL.split(".0.0/")[0] + ".")


def test_default_bridge_network_is_created_on_demand(harness, make_netns):
    m = harness.manager
    ns = make_netns()
    ep = m.connect("bridge", "a" * 64, ns.path, container_name="x")
    net = m.get("bridge")
    assert [n.name for n in m.list()] == ["bridge"] and ep.network_id == net.id
    # made inside connect (which holds the manager's lock), so its DNS server starts just after
    deadline = time.monotonic() + 5
    while not m.dns_serving("bridge") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ep.dns_server == net.gateway and m.dns_serving("bridge")
    assert query(net.gateway, "x").addresses() == [ep.ip]


def test_concurrent_connects_from_worker_threads(harness, make_netns):
    """The daemon calls connect from several worker threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    m = harness.manager
    net = m.create("busy-day")
    spaces = [make_netns() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        eps = list(pool.map(lambda i: m.connect("busy-day", f"{i:064x}", spaces[i].path,
                                                container_name=f"c{i}", aliases=["all"]),
                            range(8)))
    assert len({e.ip for e in eps}) == 8 and len({e.host_veth for e in eps}) == 8
    assert sorted(query(net.gateway, "all").addresses()) == sorted(e.ip for e in eps)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: m.disconnect("busy-day", f"{i:064x}"), range(8)))
    assert m.endpoints("busy-day") == [] and query(net.gateway, "all").addresses() == []


def test_interface_name_taken_in_the_netns_is_a_clear_error(harness, make_netns):
    m = harness.manager
    m.create("first")
    m.create("second")
    ns = make_netns()
    m.connect("first", "a" * 64, ns.path, container_name="x")
    with pytest.raises(netlink.NetlinkFailure, match=f"with peer eth0 in netns {ns.path}"):
        m.connect("second", "a" * 64, ns.path, container_name="x")   # eth0 again
    assert m.endpoints("second") == []
    assert [link.name for link in netlink.netns_links(ns.path)] == ["lo", "eth0"]


@pytest.mark.timeout(60)
def test_trio_thread_reads_while_a_worker_makes_the_default_network(harness, make_netns):
    """The daemon's trio thread calls list()/ports() while a worker thread's connect creates
    `bridge` under the manager's lock; neither may wait for the other (it used to deadlock)."""
    import trio

    m = harness.manager
    ns = make_netns()

    async def scenario():
        done = trio.Event()
        result = {}

        async def worker():
            result["ep"] = await trio.to_thread.run_sync(
                lambda: m.connect("bridge", "a" * 64, ns.path, container_name="x"))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker)
            while not done.is_set():
                m.list()          # synchronous, on the trio thread, as API handlers do
                m.ports("a" * 64)
                await trio.sleep(0)
        return result["ep"]

    ep = trio.from_thread.run(scenario, trio_token=harness._token)
    assert ep.network_id == m.get("bridge").id
