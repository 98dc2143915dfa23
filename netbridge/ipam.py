"""Address management: which subnet a network gets and which address an endpoint gets. Pure.

Inputs (the pool, subnets already used by our networks, prefixes present on the host) come in as
arguments; the caller persists the results.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable

from engine.errors import BadParameter, Conflict

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address


@dataclass(frozen=True)
class SubnetChoice:
    subnet: str     # "10.201.3.0/24"
    gateway: str    # "10.201.3.1"

    @property
    def prefixlen(self) -> int:
        return IPv4Network(self.subnet).prefixlen


def parse_network(text: str, what: str = "subnet") -> IPv4Network:
    try:
        return IPv4Network(text, strict=True)
    except ValueError as exc:
        raise BadParameter(f"invalid {what} {text!r}: {exc}") from None


def parse_address(text: str, what: str = "address") -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise BadParameter(f"invalid {what} {text!r}: not an IPv4 address") from None


def _networks(cidrs: Iterable[str]) -> list[IPv4Network]:
    out = []
    for c in cidrs:
        try:
            out.append(IPv4Network(c, strict=False))
        except ValueError:
            continue  # host data we cannot parse is not ours to judge
    return out


def choose_subnet(pool: str, used: Iterable[str], host_prefixes: Iterable[str],
                  *, prefixlen: int = 24) -> SubnetChoice:
    """The first /24 of `pool` overlapping neither our networks nor anything on the host."""
    pool_net = parse_network(pool, "address pool")
    if pool_net.prefixlen > prefixlen:
        raise BadParameter(f"address pool {pool} is smaller than a /{prefixlen}")
    taken = _networks(used) + _networks(host_prefixes)
    for candidate in pool_net.subnets(new_prefix=prefixlen):
        if not any(candidate.overlaps(t) for t in taken):
            return SubnetChoice(str(candidate), str(candidate.network_address + 1))
    raise Conflict(f"address pool {pool} is exhausted: every /{prefixlen} is in use")


def validate_subnet(subnet: str, gateway: str | None, used: Iterable[str],
                    host_prefixes: Iterable[str] = ()) -> SubnetChoice:
    """Check an explicit `--subnet` (and `--gateway`) against our networks and the host."""
    net = parse_network(subnet)
    if net.prefixlen > 30:
        raise BadParameter(f"subnet {subnet} is too small: at least a /30 is needed")
    for other in _networks(used):
        if net.overlaps(other):
            raise Conflict(f"subnet {subnet} overlaps the subnet {other} of another network")
    for other in _networks(host_prefixes):
        # the host's default route and its huge prefixes are no conflict; a routed LAN is
        if other.prefixlen > 0 and net.overlaps(other):
            raise Conflict(f"subnet {subnet} overlaps {other}, which is already in use on the host")
    if gateway is None:
        gw = net.network_address + 1
    else:
        gw = parse_address(gateway, "gateway")
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise BadParameter(f"gateway {gateway} is not a usable address of subnet {subnet}")
    return SubnetChoice(str(net), str(gw))


def allocate_address(subnet: str, gateway: str, allocated: Iterable[str],
                     requested: str | None = None) -> str:
    """An endpoint's address: `requested` if valid and free, else the lowest free host address."""
    net = parse_network(subnet)
    taken = {IPv4Address(a) for a in allocated} | {IPv4Address(gateway)}
    if requested is not None:
        ip = parse_address(requested, "IP address")
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise BadParameter(f"address {requested} is not a usable address of subnet {subnet}")
        if ip in taken:
            what = "the network's gateway" if ip == IPv4Address(gateway) else "already in use"
            raise Conflict(f"address {requested} is {what}")
        return str(ip)
    for ip in net.hosts():
        if ip not in taken:
            return str(ip)
    raise Conflict(f"no free address left in subnet {subnet}")


def mac_for(address: str) -> str:
    """A locally administered MAC derived from the IPv4 address, as Docker does (02:42:a.b.c.d)."""
    octets = IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)
