"""Wiring containers to netbridge networks: the before_exec hook, teardown, and Docker's
NetworkSettings shapes built from netbridge's persisted endpoints."""
from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import trio

from engine.containers import setup
from engine.containers import legacylinks
from engine.containers.legacylinks import LinkTarget
from engine.containers.links import links_of, parse_link
from engine.containers.model import ContainerState, parse_create
from engine.errors import BadParameter, Conflict, NotFound
from engine.runtime.steptime import step
from netbridge import shapes

if TYPE_CHECKING:
    from engine.containers.wiring import NetworkWiring
    from engine.containers.store import ContainerRecord, ContainerStore

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


def _mac(cfg: dict, body: dict | None = None) -> str | None:
    """The endpoint's chosen MAC: its own MacAddress, else (primary network only) the
    container's Config.MacAddress, as Docker before API 1.44."""
    mac = cfg.get("MacAddress") or ((body or {}).get("MacAddress"))
    return str(mac) if mac else None


def legacy_targets(mgr: NetworkWiring, rec: ContainerRecord) -> list[LinkTarget]:
    """The running targets of `rec`'s legacy links with their default-bridge addresses; a
    missing, stopped or not-on-the-bridge target fails the start, naming it (Docker's words)."""
    if not legacylinks.has_links(rec.config.body):
        return []
    links = legacylinks.legacy_links(rec.config.body, wanted_networks(rec)[0][0])
    if not links:
        return []
    nets = mgr.networks
    bridge = next((n for n in nets.list() if n.name == DEFAULT_NETWORK), None)
    on_bridge = {ep.container_id: ep.ip for ep in nets.endpoints()
                 if bridge is not None and ep.network_id == bridge.id}
    out = []
    for target, alias in links:
        other = _netns_owner(mgr.store, target)
        if other.state.status is not ContainerState.RUNNING:
            raise Conflict(f"Cannot link to a non running container: /{other.name} AS "
                           f"/{rec.name}/{alias}")
        if other.id not in on_bridge:
            raise BadParameter(f"Cannot link to /{other.name}, as it does not belong to the "
                               "default network")
        out.append(LinkTarget(alias=alias, name=other.name,
                              hostname=other.config.hostname or other.short_id,
                              ip=on_bridge[other.id], env=tuple(other.config.env),
                              exposed=tuple(other.config.exposed_ports)))
    return out


def check_link_targets(store: ContainerStore, body: dict, network_mode: str) -> None:
    """At create: every legacy link's target exists (Docker resolves them when it registers
    the links, a 400 naming the missing one; whether it runs is only asked at start)."""
    if not legacylinks.has_links(body):
        return
    primary = DEFAULT_NETWORK if network_mode in ("default", "") else network_mode
    for target, _alias in legacylinks.legacy_links(body, primary):
        if _netns_owner(store, target).config.network_mode == "host":
            raise BadParameter("conflicting options: host type networking can't be used with "
                               "links. This would result in undefined behavior")


def _netns_owner(store: ContainerStore, ref: str) -> ContainerRecord:
    """A link's target, or for a target in another container's netns (`container:X`) the
    owner of that netns: Docker links to the container whose network it is."""
    seen: set[str] = set()
    while True:
        try:
            rec = store.get(ref)
        except NotFound as exc:
            raise BadParameter(f"could not get container for {ref}: {exc.message}") from None
        mode = rec.config.network_mode
        if not mode.startswith("container:") or rec.id in seen:
            return rec
        seen.add(rec.id)
        ref = mode[len("container:"):]


def check_static_address(mgr: NetworkWiring, network: str, cfg: dict | None) -> None:
    """An endpoint's IPAMConfig.IPv4Address is taken only on a user-defined network whose
    subnet the user configured (Docker's rule and words, a 400 at create and connect): on an
    engine-chosen subnet the address could clash with the next network's choice. A network
    not found yet is left to the start, which names it."""
    if not isinstance(cfg, dict) or not _ip(cfg):
        return
    if network in ("default", DEFAULT_NETWORK):
        reason = "user specified IP address is supported on user defined networks only"
    else:
        nets = mgr.networks
        found = next((n for n in (nets.list() if nets is not None else ())
                      if network in (n.name, n.id)), None)
        if found is None or getattr(found, "user_subnet", True):
            return
        reason = ("user specified IP address is supported only when connecting to networks "
                  "with user configured subnets")
    raise BadParameter(f"invalid config for network {network}: {reason}")


def link_names(store: ContainerStore) -> dict[str, list[str]]:
    """Container id → the `/<linker>/<alias>` names its legacy linkers give it (Docker lists
    them in Names from the linker's create on); one pass over the store, a linker without
    links costs a dict lookup."""
    out: dict[str, list[str]] = {}
    for rec in store.all():
        if not legacylinks.has_links(rec.config.body):
            continue
        for target, alias in legacylinks.legacy_links(rec.config.body,
                                                      wanted_networks(rec)[0][0]):
            try:
                other = store.get(target)
            except NotFound:   # removed since: its name went with it
                continue
            out.setdefault(other.id, []).append(f"/{rec.name}/{alias}")
    return out


def link_environment(mgr: NetworkWiring, rec: ContainerRecord) -> tuple[str, ...]:
    """The variables `rec`'s legacy links add to its PID 1 (worker thread, before the start);
    nothing without legacy links."""
    if mgr.networks is None:
        return ()
    return tuple(v for t in legacy_targets(mgr, rec) for v in legacylinks.link_env(rec.name, t))


def _find_record(mgr: NetworkWiring, ref: str) -> ContainerRecord | None:
    try:
        return mgr.store.get(ref)
    except NotFound:
        return None


def _without_link(links: Any, alias: str) -> tuple[list, bool]:
    kept = [text for text in (links if isinstance(links, list) else [])
            if parse_link(text, "Links")[1] != alias]
    return kept, len(kept) != len(links if isinstance(links, list) else [])


async def remove_link(store: ContainerStore, parent_ref: str, alias: str) -> None:
    """DELETE /containers/<parent>/<alias>?link=1: the link leaves the parent's config, so a
    later start makes neither its hosts line, its variables nor its resolver alias (a running
    parent keeps what its start wrote, as with Docker)."""
    try:
        rec = store.get(parent_ref)
    except NotFound:
        raise NotFound(f"Cannot get parent /{parent_ref} for link name "
                       f"/{parent_ref}/{alias}") from None
    async with store.lock(rec.id):
        body = copy.deepcopy(rec.config.body)
        host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
        host["Links"], removed = _without_link(host.get("Links"), alias)
        networking = body.get("NetworkingConfig")
        endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
        for cfg in (endpoints.values() if isinstance(endpoints, dict) else []):
            if isinstance(cfg, dict) and cfg.get("Links"):
                cfg["Links"], gone = _without_link(cfg["Links"], alias)
                removed = removed or gone
        if not removed:
            raise NotFound(f"No such link: /{rec.name}/{alias}")
        rec.config = parse_create(body)
        store.save_config(rec)


def network_create_args(body: dict) -> dict[str, Any]:
    """NetworkManager.create's keyword arguments from a POST /networks/create body (already
    through unsupported.check_network_create: at most one IPv4 IPAM config)."""
    configs = (body.get("IPAM") or {}).get("Config") or [{}]
    first = configs[0] if isinstance(configs[0], dict) else {}
    aux = first.get("AuxiliaryAddresses") or {}
    if not isinstance(aux, dict) or not all(isinstance(v, str) for v in aux.values()):
        raise BadParameter("IPAM.Config[0].AuxiliaryAddresses: expected a map of names to "
                           "addresses")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise BadParameter("Labels: expected a map of strings")
    return {"subnet": first.get("Subnet") or None, "gateway": first.get("Gateway") or None,
            "ip_range": first.get("IPRange") or None, "aux_addresses": dict(aux),
            "internal": bool(body.get("Internal")), "labels": labels}


async def connect_container(mgr: NetworkWiring, rec: ContainerRecord, pid: int,
                            out: dict[str, dict]) -> None:
    """before_exec: veths into PID 1's netns, ports published, /etc/hosts + resolv.conf filled.

    One worker-thread hop for all of it (each hop costs ~1 ms, more under load)."""
    with step("net.wire", rec.short_id):
        out.update(await trio.to_thread.run_sync(_wire, mgr, rec, pid))


def _wire(mgr: NetworkWiring, rec: ContainerRecord, pid: int) -> dict[str, dict]:
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
                              mac=_mac(cfg, rec.config.body if i == 0 else None),
                              publish=specs if i == 0 else ())
        own_ips.append(ep.ip)
        if getattr(ep, "dns_server", "") and ep.dns_server not in dns:
            dns.append(ep.dns_server)
    if specs and not nets.ports(rec.id):
        with step("net.publish", rec.short_id):
            nets.publish(rec.id, specs)
    targets = legacy_targets(mgr, rec)
    with step("net.etc_files", rec.short_id):
        setup.write_etc_files(rec, own_ips[:1], dns or None)
        if targets:   # appended in place: the bind mount holds this inode
            with open(rec.dir / "hosts", "a") as f:
                f.write("".join(line + "\n" for line in legacylinks.hosts_lines(targets)))
        if wanted_networks(rec)[0][0] == DEFAULT_NETWORK:
            _update_linkers(mgr, rec, own_ips[0])
    return networks_json(mgr, rec)


def _update_linkers(mgr: NetworkWiring, rec: ContainerRecord, ip: str) -> None:
    """Running containers with a legacy link to `rec` (which just got `ip` on the default
    bridge) have their /etc/hosts line for it rewritten, as Docker does."""
    for other in mgr.store.all():
        if other.id == rec.id or other.state.status is not ContainerState.RUNNING \
                or not legacylinks.has_links(other.config.body):
            continue
        for target, alias in legacylinks.legacy_links(other.config.body,
                                                      wanted_networks(other)[0][0]):
            try:   # a link to a container in rec's netns is a link to rec
                if _netns_owner(mgr.store, target) is not rec:
                    continue
            except BadParameter:   # the target is gone: nothing to rewrite
                continue
            link = LinkTarget(alias=alias, name=rec.name,
                              hostname=rec.config.hostname or rec.short_id, ip=ip)
            path = other.dir / "hosts"
            try:
                text = path.read_text()
                with open(path, "w") as f:   # in place: the linker's bind mount holds it
                    f.write(legacylinks.retarget_hosts(text, alias, link))
            except OSError as exc:
                log.warning("updating /etc/hosts of %s for link %s: %s", other.short_id,
                            alias, exc)


def dns_links(mgr: NetworkWiring, cid: str) -> dict[str, str]:
    """A container's link aliases (lower case) → target names, for the resolver; a target
    named by id resolves by its name."""
    rec = mgr.store._records.get(cid)
    if rec is None:
        return {}
    out = {}
    for alias, target in links_of(rec.config.body).items():
        other = _find_record(mgr, target)
        out[alias] = (other.name if other is not None else target).lower()
    return out


def disconnect_container(mgr: NetworkWiring, cid: str) -> None:
    """Teardown (PID 1 gone) or a failed start: ports, endpoints and DNS names of `cid`."""
    try:
        with step("net.release", cid[:12]):
            mgr.networks.release(cid)
    except Exception as exc:
        log.warning("network teardown of %s: %s", cid[:12], exc)


def _endpoint_json(net: Any, ep: Any | None, cfg: dict, wanted_mac: str | None = None) -> dict:
    """One NetworkSettings.Networks entry; before the endpoint exists (a created container)
    its MacAddress is the one asked for, as Docker shows it."""
    return {"IPAMConfig": cfg.get("IPAMConfig"), "Links": cfg.get("Links") or None,
            "Aliases": _aliases(cfg) or None, "NetworkID": net.id if net else "",
            "EndpointID": shapes.endpoint_id(ep) if ep else "", "Gateway": ep.gateway if ep else "",
            "IPAddress": ep.ip if ep else "", "IPPrefixLen": ep.prefixlen if ep else 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": ep.mac if ep else (wanted_mac or ""),
            "DriverOpts": cfg.get("DriverOpts") or None}


def networks_json(mgr: NetworkWiring, rec: ContainerRecord) -> dict[str, dict]:
    nets = mgr.networks
    live = {ep.network_id: ep for ep in nets.endpoints() if ep.container_id == rec.id}
    known = nets.list()
    out = {}
    for i, (name, cfg) in enumerate(wanted_networks(rec)):
        net = next((n for n in known if name in (n.name, n.id)), None)
        ep = live.get(net.id) if net is not None else None
        out[net.name if net is not None else name] = _endpoint_json(
            net, ep, cfg, _mac(cfg, rec.config.body if i == 0 else None))
    return out


def published_ports(mgr: NetworkWiring, rec: ContainerRecord) -> list[dict]:
    live = mgr.networks.ports(rec.id)
    if live:
        return [{"PrivatePort": b.container_port, "Type": b.protocol,
                 "PublicPort": b.host_port, "IP": b.host_ip or "0.0.0.0"} for b in live]
    return [{"PrivatePort": b.container_port, "Type": b.protocol}
            for b in rec.config.ports_to_publish()]
