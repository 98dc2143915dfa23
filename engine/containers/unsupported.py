"""Request fields Docker honours and this engine does not: each is refused with a one-line 400
naming it, never accepted and silently ignored (a client that asked for IPv6 would otherwise
run with something else). docs/compat.md lists them. Pure checks over request
bodies."""
from __future__ import annotations

from typing import Any

from engine.containers import sharing
from engine.containers.links import DEFAULT_BRIDGE, parse_link
from engine.errors import BadParameter
from engine.runtime import cpuset
from netbridge.errors import InvalidRequest
from netbridge.ipam import valid_mac

# The one runtime there is goes by Docker's name for its default, `runc`: clients name it
# (docker-py's create with runtime="runc") and read it back from inspect and /info; `pycompose`
# is an alias that inspect shows as asked. "" is the default.
DEFAULT_RUNTIME = "runc"
RUNTIMES = ("", DEFAULT_RUNTIME, "pycompose")
IPV6 = ("IPv6 is not supported: this engine's networks are IPv4 only (docs/compat.md, "
        "\"Deliberate differences\")")


def _items(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def check_mac(value: Any, where: str) -> None:
    """A chosen MAC address: a unicast Ethernet address (netbridge's rule, our error)."""
    try:
        valid_mac(value if isinstance(value, str) else repr(value))
    except InvalidRequest as exc:
        raise BadParameter(f"{where}: {exc.message}") from None


def check_endpoint(cfg: Any, where: str, network: str = "", *, at_create: bool = True) -> None:
    """One EndpointSettings (create's EndpointsConfig entry, or network connect's) for
    `network`."""
    if not isinstance(cfg, dict):
        return
    if cfg.get("Links"):
        if network in DEFAULT_BRIDGE and not at_create:
            # legacy links are made when the linking container starts, from its create body
            raise BadParameter(f"{where}.Links: links on the default bridge network are given "
                               "at container create (HostConfig.Links), not by network connect")
        for i, text in enumerate(cfg["Links"] if isinstance(cfg["Links"], list) else [None]):
            parse_link(text, f"{where}.Links[{i}]")
    if cfg.get("MacAddress"):
        check_mac(cfg["MacAddress"], f"{where}.MacAddress")
    ipam = cfg.get("IPAMConfig") if isinstance(cfg.get("IPAMConfig"), dict) else {}
    if ipam.get("IPv6Address"):
        raise BadParameter(f"{where}.IPAMConfig.IPv6Address: {IPV6}")
    opts = cfg.get("DriverOpts")
    # Docker's bridge driver acts on its own keys only and keeps the others (inspect echoes
    # them): so do we, but its own keys (interface name, sysctls) we do not honour
    for key in (opts if isinstance(opts, dict) else {}):
        if str(key).startswith("com.docker.network.endpoint."):
            raise BadParameter(f"{where}.DriverOpts: {key} is not supported")


def check_create(body: dict) -> None:
    host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
    mode = host.get("NetworkMode") or ""
    if body.get("MacAddress"):
        check_mac(body["MacAddress"], "Config.MacAddress")
        if mode == "host" or str(mode).startswith("container:"):
            # no endpoint of its own to give the address to (Docker's refusal)
            raise BadParameter("Config.MacAddress: conflicting options: mac-address and the "
                               "network mode")
    if host.get("Links"):
        if mode in ("host", "none") or str(mode).startswith("container:"):
            kind = "container" if str(mode).startswith("container:") else mode
            raise BadParameter(f"HostConfig.Links: conflicting options: {kind} type networking "
                               "can't be used with links")
        for i, text in enumerate(host["Links"] if isinstance(host["Links"], list) else [None]):
            parse_link(text, f"HostConfig.Links[{i}]")
    if str(mode).startswith("container:") and body.get("Hostname"):
        # the container has the host name of the one whose network it is on (Docker's words)
        raise BadParameter("Config.Hostname: conflicting options: hostname and the network mode")
    sharing.check_modes(body)
    runtime = host.get("Runtime") or ""
    if runtime not in RUNTIMES:
        raise BadParameter(f"HostConfig.Runtime: Unknown runtime specified {runtime}")
    check_isolation(host)
    driver = host.get("VolumeDriver") or "local"
    if driver != "local" and _has_volumes(body, host):
        # Docker uses it only for the container's volumes: without any it is never asked
        raise BadParameter(f"HostConfig.VolumeDriver: {driver!r}: only the local volume driver "
                           "is supported")
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    for name, cfg in _items(endpoints):
        check_endpoint(cfg, f"NetworkingConfig.EndpointsConfig[{name!r}]", name)


# HostConfig fields whose every non-empty value asks for something this engine does not do
# (each container shares the engine's cgroup and user namespaces, and its cgroups sit below
# the engine's): field -> (values that are what we do, why the others are refused). Empty
# values ("", 0, [], null) are what clients send by default. PidMode, IpcMode and UTSMode are
# sharing.py's, CpusetCpus/Mems cpuset.py's: checked there with Docker's words.
_ISOLATION: dict[str, tuple[tuple[str, ...], str]] = {
    "CgroupnsMode": (("host",), "a private cgroup namespace is not supported (containers see "
                     "the host's cgroup tree)"),
    "UsernsMode": (("host",), "user namespaces are not supported"),
    "CgroupParent": ((), "a cgroup parent is not supported (containers' cgroups are below the "
                     "engine's)"),
}


def _has_volumes(body: dict, host: dict) -> bool:
    mounts = host.get("Mounts") if isinstance(host.get("Mounts"), list) else []
    binds = host.get("Binds") if isinstance(host.get("Binds"), list) else []
    return bool(body.get("Volumes")) \
        or any(isinstance(m, dict) and m.get("Type") == "volume" for m in mounts) \
        or any(isinstance(b, str) and not b.startswith("/") for b in binds)


def check_isolation(host: dict) -> None:
    """Namespace modes and cgroup placement Docker offers and we do not: a 400 naming the field
    rather than a container that silently shares nothing; and the ones we do, checked."""
    cpuset.check_syntax(host)
    for key, (ours, why) in _ISOLATION.items():
        value = host.get(key)
        if value and value not in ours:
            raise BadParameter(f"HostConfig.{key}: {value!r}: {why}")
    isolation = host.get("Isolation") or "default"
    if isolation != "default":
        raise BadParameter(f"HostConfig.Isolation: Invalid isolation: {isolation!r} - linux only "
                           "supports 'default'")
    if host.get("StorageOpt"):
        raise BadParameter("HostConfig.StorageOpt: storage options are not supported (the "
                           "overlay has no size quota)")
    for key in ("MaskedPaths", "ReadonlyPaths"):
        if host.get(key) is not None:
            raise BadParameter(f"HostConfig.{key}: choosing masked or read-only /proc paths is "
                               "not supported (the engine's defaults apply)")


def check_network_create(body: dict) -> None:
    if body.get("EnableIPv6"):
        raise BadParameter(f"EnableIPv6: {IPV6}")
    ipam = body.get("IPAM") if isinstance(body.get("IPAM"), dict) else {}
    if (ipam.get("Driver") or "default") != "default":
        raise BadParameter(f"IPAM.Driver: unsupported IPAM driver {ipam['Driver']!r} "
                           "(only default)")
    if ipam.get("Options"):
        raise BadParameter("IPAM.Options: IPAM driver options are not supported")
    configs = ipam.get("Config") or []
    for i, cfg in enumerate(configs if isinstance(configs, list) else []):
        if not isinstance(cfg, dict):
            continue
        aux = cfg.get("AuxiliaryAddresses")
        values = [("Subnet", cfg.get("Subnet")), ("Gateway", cfg.get("Gateway")),
                  ("IPRange", cfg.get("IPRange"))] + \
            [(f"AuxiliaryAddresses[{k!r}]", v) for k, v in _items(aux)]
        for key, value in values:
            if ":" in str(value or ""):
                raise BadParameter(f"IPAM.Config[{i}].{key} {value}: {IPV6}")
    if len(configs) > 1:
        raise BadParameter("IPAM.Config: one subnet per network is supported (IPv4 only), "
                           f"got {len(configs)}")
