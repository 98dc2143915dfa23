"""Docker Engine API v1.41 JSON shapes for our networks, endpoints and ports. Pure.

The API server renders these for GET /networks, GET /networks/{id} and the NetworkSettings part
of GET /containers/{id}/json, so the daemon never invents its own shape.
"""
from __future__ import annotations

import hashlib

from .ports import PortBinding
from .store import Endpoint, Network


def endpoint_id(ep: Endpoint) -> str:
    return hashlib.sha256(f"{ep.network_id}/{ep.container_id}".encode()).hexdigest()


def ipam_config(net: Network) -> dict:
    """One IPAM.Config entry: IPRange and AuxiliaryAddresses only when set (Docker omits
    empty ones)."""
    out: dict = {"Subnet": net.subnet}
    if net.ip_range:
        out["IPRange"] = net.ip_range
    out["Gateway"] = net.gateway
    if net.aux_addresses:
        out["AuxiliaryAddresses"] = dict(net.aux_addresses)
    return out


def network_json(net: Network, endpoints: list[Endpoint]) -> dict:
    """GET /networks/{id} (NetworkResource)."""
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": [ipam_config(net)]},
        "Internal": net.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            ep.container_id: {
                "Name": ep.container_name,
                "EndpointID": endpoint_id(ep),
                "MacAddress": ep.mac,
                "IPv4Address": f"{ep.ip}/{ep.prefixlen}",
                "IPv6Address": "",
            } for ep in endpoints if ep.network_id == net.id
        },
        # the driver options given at create, as docker: none are kept, so none are shown (a
        # made-up bridge.name made docker-compose v1 want to recreate the network on every up)
        "Options": {},
        "Labels": dict(net.labels),
    }


def endpoint_settings(ep: Endpoint) -> dict:
    """One entry of NetworkSettings.Networks in GET /containers/{id}/json."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": list(ep.aliases) or None,
        "NetworkID": ep.network_id,
        "EndpointID": endpoint_id(ep),
        "Gateway": ep.gateway,
        "IPAddress": ep.ip,
        "IPPrefixLen": ep.prefixlen,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.mac,
        "DriverOpts": None,
    }


def ports_json(bindings: list[PortBinding]) -> dict:
    """NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}."""
    out: dict[str, list[dict]] = {}
    for b in bindings:
        out.setdefault(b.docker_key(), []).append(
            {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
    return out
