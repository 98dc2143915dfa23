"""Published ports: parsing `[IP:][HOST:]CTR[/proto]` (pure) and reserving host ports (sockets).

Traffic is forwarded by DNAT rules (see firewall.py); the reservation is a socket bound on the host
port that the engine holds for as long as the port is published, like docker-proxy's listener:
it makes a busy port fail loudly up front and keeps other programs off a port we route.

Why DNAT and not a userland proxy (bench/netbridge_bench.py, 2-core VM, loopback): DNAT via
127.0.0.1 or the host's address ran at 0.8-1.3x the throughput and 0.9-1.4x the connection rate
of a direct connection to the container address, while a trio proxy reached only 0.2-0.5x and
0.2-0.4x. Reaching 127.0.0.1 needs route_localnet on the bridge plus OUTPUT DNAT and a
MASQUERADE of the loopback source (see firewall.py).
"""
from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass, replace

from .errors import Conflict, InvalidRequest

PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class PortSpec:
    """One requested mapping; host_port 0 = pick a free port."""
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""       # "" = all host addresses
    host_port: int = 0


@dataclass(frozen=True)
class PortBinding:
    """A published port as it is in effect."""
    container_port: int
    protocol: str
    host_ip: str            # "" = all host addresses
    host_port: int
    container_ip: str = ""

    def docker_key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


def _port(text: str, spec: str) -> int:
    if not text.isdigit():
        raise InvalidRequest(f"invalid port {text!r} in {spec!r}")
    value = int(text)
    if not 1 <= value <= 65535:
        raise InvalidRequest(f"port {value} out of range 1-65535 in {spec!r}")
    return value


def _range(text: str, spec: str) -> list[int]:
    if "-" in text:
        lo_text, _, hi_text = text.partition("-")
        lo, hi = _port(lo_text, spec), _port(hi_text, spec)
        if hi < lo:
            raise InvalidRequest(f"invalid port range {text!r} in {spec!r}")
        return list(range(lo, hi + 1))
    return [_port(text, spec)]


def parse_port_spec(spec: str) -> list[PortSpec]:
    """Parse one `-p` value; ranges expand to one PortSpec per container port.

    `8000-8001:80-81` maps pairwise; `8000-8010:80` would need a pick from the host range, which
    we refuse rather than guess.
    """
    text, _, proto = spec.strip().partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidRequest(f"invalid protocol {proto!r} in {spec!r}: use tcp or udp")
    if text.startswith("["):
        raise InvalidRequest(f"IPv6 host addresses are not supported: {spec!r}")
    parts = text.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise InvalidRequest(f"invalid port specification {spec!r}")
    host_ip = parts[0] if len(parts) == 3 else ""
    host_text = parts[-2] if len(parts) >= 2 else ""
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidRequest(f"invalid host address {host_ip!r} in {spec!r}") from None
        if host_ip == "0.0.0.0":
            host_ip = ""
    ctr_ports = _range(parts[-1], spec)
    host_ports = _range(host_text, spec) if host_text else [0] * len(ctr_ports)
    if len(host_ports) != len(ctr_ports):
        raise InvalidRequest(f"host and container port ranges differ in size in {spec!r}")
    return [PortSpec(c, proto, host_ip, h) for c, h in zip(ctr_ports, host_ports)]


def specs_from_docker(port_bindings: dict) -> list[PortSpec]:
    """HostConfig.PortBindings ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) → specs."""
    out = []
    for key, entries in (port_bindings or {}).items():
        port_text, _, proto = key.partition("/")
        for entry in entries or [{}]:
            host_ip = (entry or {}).get("HostIp") or ""
            host_port = (entry or {}).get("HostPort") or ""
            text = ":".join(p for p in (host_ip, host_port) if p)
            if host_ip and not host_port:
                text += ":"
            full = f"{text}:{port_text}" if text else port_text
            out.extend(parse_port_spec(f"{full}/{proto or 'tcp'}"))
    return out


class PortReservation:
    """A bound (TCP: listening) socket that holds a host port."""

    def __init__(self, sock: socket.socket, binding: PortBinding) -> None:
        self.sock = sock
        self.binding = binding

    def close(self) -> None:
        self.sock.close()


def reserve(spec: PortSpec) -> PortReservation:
    """Bind the host port (or a free one for host_port 0); Conflict if something else has it."""
    kind = socket.SOCK_STREAM if spec.protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.set_inheritable(False)
        if kind == socket.SOCK_STREAM:
            # Without it a connection that a host server on this port closed a moment ago
            # (TIME-WAIT, ~60 s) refuses the bind. Linux still refuses it while anything
            # listens on the port, so a live conflict stays an error. Not for UDP: there it
            # would let a second socket bind the same port (and UDP has no TIME-WAIT).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.host_ip or "0.0.0.0", spec.host_port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1)
    except OSError as exc:
        sock.close()
        where = f"{spec.host_ip or '0.0.0.0'}:{spec.host_port}/{spec.protocol}"
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(f"host port {where} is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InvalidRequest(f"host address {spec.host_ip} is not an address of this host") from None
        raise Conflict(f"cannot bind host port {where}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    binding = PortBinding(spec.container_port, spec.protocol, spec.host_ip, port)
    return PortReservation(sock, binding)


def with_container_ip(binding: PortBinding, ip: str) -> PortBinding:
    return replace(binding, container_ip=ip)
