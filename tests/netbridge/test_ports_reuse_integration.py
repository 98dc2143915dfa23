"""Publishing a port that a host server used a moment ago (root, real namespaces): the
container gets it at once and serves it; a live host listener is still a clear conflict."""
from __future__ import annotations

import socket
import sys

import pytest

from netbridge.errors import Conflict

from .test_networks_integration import start_httpd, wait_listening
from .test_ports_integration import UDP_ECHO, free_port, http_get, udp_roundtrip
from .test_ports_reserve import plain_bind_refused, server_closed_connection, time_wait_on

pytestmark = pytest.mark.integration

CID = "c" * 64


@pytest.mark.parametrize("host_ip", ["127.0.0.1", ""], ids=["loopback", "all-addresses"])
def test_tcp_port_in_time_wait_is_published_and_served(harness, make_netns, tmp_path, host_ip):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    m.connect("pub", CID, ns.path, container_name="web")
    start_httpd(ns, tmp_path, "served after time-wait")
    port = server_closed_connection()
    assert time_wait_on(port) and plain_bind_refused(port, host_ip or "0.0.0.0")
    prefix = f"{host_ip}:" if host_ip else ""
    (bound,) = m.publish(CID, [f"{prefix}{port}:8080"])
    assert bound.host_port == port
    assert http_get("127.0.0.1", port) == "served after time-wait"


def test_udp_port_a_host_server_just_used_is_published_and_served(harness, make_netns):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    m.connect("pub", CID, ns.path, container_name="dns")
    ns.spawn(sys.executable, "-c", UDP_ECHO.format(port=5353))
    wait_listening(ns, 5353, "u")
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:   # the host server
        srv.bind(("127.0.0.1", port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"hi", ("127.0.0.1", port))
            data, peer = srv.recvfrom(16)
            srv.sendto(b"host:" + data, peer)
            assert client.recv(16) == b"host:hi"
    (bound,) = m.publish(CID, [f"127.0.0.1:{port}:5353/udp"])
    assert bound.host_port == port
    assert udp_roundtrip("127.0.0.1", port, b"ping") == b"echo:ping"


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_live_host_socket_is_still_a_clear_conflict(harness, make_netns, proto):
    m = harness.manager
    m.create("pub")
    ns = make_netns()
    m.connect("pub", CID, ns.path, container_name="web")
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as other:
        # a well-behaved server sets SO_REUSEADDR itself: that must not let us share its port
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        if proto == "tcp":
            other.listen()
        port = other.getsockname()[1]
        with pytest.raises(Conflict, match=f"^host port 127.0.0.1:{port}/{proto} is already in use$"):
            m.publish(CID, [f"127.0.0.1:{port}:8080/{proto}"])
    assert m.ports(CID) == []
