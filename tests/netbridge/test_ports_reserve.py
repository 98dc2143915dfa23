"""Reserving a host port (netbridge.ports.reserve) against what other host sockets hold:
loopback sockets only, no root needed.

A connection a host server closed a moment ago leaves its port in TIME-WAIT for about a minute;
that must not block publishing the port. A live listener (even one with SO_REUSEADDR) and a
bound UDP socket must still be refused with the one-line conflict error."""
from __future__ import annotations

import errno
import socket
import subprocess

import pytest

from netbridge.errors import Conflict
from netbridge.ports import PortSpec, reserve


def server_closed_connection(host: str = "127.0.0.1") -> int:
    """A host server (SO_REUSEADDR, as most are) on a free port that accepts one connection,
    closes it first and then stops listening: its side of the connection is in TIME-WAIT."""
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, 0))
        srv.listen()
        port = srv.getsockname()[1]
        with socket.create_connection((host, port), timeout=5) as client:
            conn, _ = srv.accept()
            conn.sendall(b"bye")
            conn.close()                          # the server closes first ...
            assert client.recv(16) == b"bye"
            assert client.recv(16) == b""         # ... the client sees EOF and closes too
    return port


def time_wait_on(port: int) -> bool:
    out = subprocess.run(["ss", "-tanH", "state", "time-wait", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return f":{port} " in out


def plain_bind_refused(port: int, host: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


@pytest.mark.parametrize("host_ip", ["127.0.0.1", ""], ids=["loopback", "all-addresses"])
def test_tcp_port_in_time_wait_can_be_reserved(host_ip):
    port = server_closed_connection()
    assert time_wait_on(port)
    # the situation being fixed: a bind without SO_REUSEADDR is refused now
    assert plain_bind_refused(port, host_ip or "0.0.0.0")
    r = reserve(PortSpec(80, "tcp", host_ip, port))
    try:
        assert r.binding.host_port == port
        # and the reservation still keeps others off the port
        assert plain_bind_refused(port, host_ip or "0.0.0.0")
    finally:
        r.close()


@pytest.mark.parametrize("reuse", [False, True], ids=["plain", "so_reuseaddr"])
def test_tcp_live_listener_is_still_a_conflict(reuse):
    with socket.socket() as listener:
        if reuse:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        for host_ip in ("127.0.0.1", ""):
            where = f"{host_ip or '0.0.0.0'}:{port}/tcp"
            with pytest.raises(Conflict, match=f"^host port {where} is already in use$"):
                reserve(PortSpec(80, "tcp", host_ip, port))


def test_two_tcp_reservations_of_one_port_conflict():
    first = reserve(PortSpec(80, "tcp", "127.0.0.1", 0))
    try:
        with pytest.raises(Conflict, match="already in use"):
            reserve(PortSpec(81, "tcp", "127.0.0.1", first.binding.host_port))
    finally:
        first.close()


@pytest.mark.parametrize("reuse", [False, True], ids=["plain", "so_reuseaddr"])
def test_udp_bound_socket_is_a_conflict(reuse):
    # SO_REUSEADDR on both sides would let two UDP sockets share a port: ours never sets it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        if reuse:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        with pytest.raises(Conflict, match=f"^host port 127.0.0.1:{port}/udp is already in use$"):
            reserve(PortSpec(53, "udp", "127.0.0.1", port))


def test_udp_reservation_does_not_allow_reuse():
    r = reserve(PortSpec(53, "udp", "127.0.0.1", 0))
    try:
        assert r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError) as e:
                other.bind(("127.0.0.1", r.binding.host_port))
            assert e.value.errno == errno.EADDRINUSE
    finally:
        r.close()


def test_udp_port_a_server_just_used_can_be_reserved():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        client.settimeout(5)
        client.sendto(b"ping", ("127.0.0.1", port))
        data, peer = srv.recvfrom(16)
        srv.sendto(data, peer)
        assert client.recv(16) == b"ping"
    r = reserve(PortSpec(53, "udp", "127.0.0.1", port))
    r.close()
    assert r.binding.host_port == port
