"""Wiring containers to netbridge networks: the before_exec hook, teardown, and Docker's
NetworkSettings shapes built from netbridge's persisted endpoints."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from engine.containers import setup
from engine.containers.links import links_of
from engine.errors import BadParameter
from engine.runtime.steptime import step
from netbridge import shapes

if TYPE_CHECKING:
    from engine.containers.manager import ContainerManager
    from engine.containers.store import ContainerRecord

log = logging.getLogger("engine.containers")
DEFAULT_NETWORK = "bridge"


def wanted_networks(rec: ContainerRecord) -> list[tuple[str, dict]]:
    """(network, endpoint config) in attach order: NetworkMode first, then EndpointsConfig."""
    mode = rec.config.network_mode
    primary = DEFAULT_NETWORK if mode == "default" else mode
    # the docker CLI sends NetworkMode "default" with an endpoint keyed "default": Docker reads
    # both as the bridge network, so the key names the primary network, not another one
    endpoints = {(DEFAULT_NETWORK if name == "default" else name): cfg
                 for name, cfg in (rec.config.endpoints or {}).items()}
    out = [(primary, endpoints.get(primary) or {})]
    out += [(name, cfg or {}) for name, cfg in endpoints.items() if name != primary]
    return out


def _aliases(cfg: dict) -> list[str]:
    aliases = cfg.get("Aliases") or []
    if not isinstance(aliases, list):
        raise BadParameter("EndpointConfig.Aliases: expected a list")
    return [str(a) for a in aliases]


def _ip(cfg: dict) -> str | None:
    ipam = cfg.get("IPAMConfig") or {}
    return ipam.get("IPv4Address") or None


async def connect_container(mgr: ContainerManager, rec: ContainerRecord, pid: int,
                            out: dict[str, dict]) -> None:
    """before_exec: veths into PID 1's netns, ports published, /etc/hosts + resolv.conf filled.

    One worker-thread hop for all of it (each hop costs ~1 ms, more under load)."""
    with step("net.wire", rec.short_id):
        out.update(await trio.to_thread.run_sync(_wire, mgr, rec, pid))


def _wire(mgr: ContainerManager, rec: ContainerRecord, pid: int) -> dict[str, dict]:
    nets = mgr.networks
    netns = f"/proc/{pid}/ns/net"
    own_ips: list[str] = []
    dns: list[str] = []
    specs = []
    wanted_ports = rec.config.ports_to_publish()
    if wanted_ports:
        from netbridge.ports import PortSpec

        specs = [PortSpec(b.container_port, b.protocol, b.host_ip, b.host_port)
                 for b in wanted_ports]
    for i, (name, cfg) in enumerate(wanted_networks(rec)):
        with step("net.connect", rec.short_id):
            # the first network publishes the ports itself when it can (in parallel with
            # making the veth); otherwise publish() below does
            ep = nets.connect(name, rec.id, netns, container_name=rec.name,
                              aliases=_aliases(cfg), ip=_ip(cfg), ifname=f"eth{i}",
                              publish=specs if i == 0 else ())
        own_ips.append(ep.ip)
        if getattr(ep, "dns_server", "") and ep.dns_server not in dns:
            dns.append(ep.dns_server)
    if specs and not nets.ports(rec.id):
        with step("net.publish", rec.short_id):
            nets.publish(rec.id, specs)
    with step("net.etc_files", rec.short_id):
        setup.write_etc_files(rec, own_ips[:1], dns or None)
    return networks_json(mgr, rec)


def dns_links(mgr: ContainerManager, cid: str) -> dict[str, str]:
    """A container's link aliases (lower case) → target names, for the resolver; a target
    named by id resolves by its name."""
    rec = mgr.store._records.get(cid)
    if rec is None:
        return {}
    out = {}
    for alias, target in links_of(rec.config.body).items():
        other = mgr.store._records.get(target) or next(
            (r for r in mgr.store._records.values() if target in (r.name, r.short_id)), None)
        out[alias] = (other.name if other is not None else target).lower()
    return out


def disconnect_container(mgr: ContainerManager, cid: str) -> None:
    """Teardown (PID 1 gone) or a failed start: ports, endpoints and DNS names of `cid`."""
    try:
        with step("net.release", cid[:12]):
            mgr.networks.release(cid)
    except Exception as exc:
        log.warning("network teardown of %s: %s", cid[:12], exc)


def _endpoint_json(net: Any, ep: Any | None, cfg: dict) -> dict:
    return {"IPAMConfig": cfg.get("IPAMConfig"), "Links": cfg.get("Links") or None,
            "Aliases": _aliases(cfg) or None, "NetworkID": net.id if net else "",
            "EndpointID": shapes.endpoint_id(ep) if ep else "", "Gateway": ep.gateway if ep else "",
            "IPAddress": ep.ip if ep else "", "IPPrefixLen": ep.prefixlen if ep else 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": ep.mac if ep else "", "DriverOpts": cfg.get("DriverOpts") or None}


def networks_json(mgr: ContainerManager, rec: ContainerRecord) -> dict[str, dict]:
    nets = mgr.networks
    live = {ep.network_id: ep for ep in nets.endpoints() if ep.container_id == rec.id}
    known = nets.list()
    out = {}
    for name, cfg in wanted_networks(rec):
        net = next((n for n in known if name in (n.name, n.id)), None)
        ep = live.get(net.id) if net is not None else None
        out[net.name if net is not None else name] = _endpoint_json(net, ep, cfg)
    return out


def published_ports(mgr: ContainerManager, rec: ContainerRecord) -> list[dict]:
    live = mgr.networks.ports(rec.id)
    if live:
        return [{"PrivatePort": b.container_port, "Type": b.protocol,
                 "PublicPort": b.host_port, "IP": b.host_ip or "0.0.0.0"} for b in live]
    return [{"PrivatePort": b.container_port, "Type": b.protocol}
            for b in rec.config.ports_to_publish()]
