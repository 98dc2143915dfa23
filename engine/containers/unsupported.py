"""Request fields Docker honours and this engine does not: each is refused with a one-line 400
naming it, never accepted and silently ignored (a client that asked for a MAC address, a
shared mount or an address range would otherwise run with something else). docs/compat.md
lists them. Pure checks over request bodies."""
from __future__ import annotations

from typing import Any

from engine.containers.links import DEFAULT_BRIDGE, parse_link
from engine.errors import BadParameter

# The one runtime there is goes by Docker's name for its default, `runc`: clients name it
# (docker-py's create with runtime="runc") and read it back from inspect and /info; `pycompose`
# is an alias that inspect shows as asked. "" is the default.
DEFAULT_RUNTIME = "runc"
RUNTIMES = ("", DEFAULT_RUNTIME, "pycompose")
_PROPAGATION = ("shared", "rshared", "slave", "rslave")
LEGACY = ("legacy links on the default bridge network (environment variables, /etc/hosts "
          "entries) are not supported; on a user-defined network a link makes its alias "
          "resolve to the target")


def _items(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def check_endpoint(cfg: Any, where: str, network: str = "") -> None:
    """One EndpointSettings (create's EndpointsConfig entry, or network connect's) for
    `network`."""
    if not isinstance(cfg, dict):
        return
    if cfg.get("Links"):
        if network in DEFAULT_BRIDGE:
            raise BadParameter(f"{where}.Links: {LEGACY}")
        for i, text in enumerate(cfg["Links"] if isinstance(cfg["Links"], list) else [None]):
            parse_link(text, f"{where}.Links[{i}]")
    if cfg.get("MacAddress"):
        raise BadParameter(f"{where}.MacAddress: a chosen MAC address is not supported (each "
                           "endpoint's MAC derives from its IP address)")
    opts = cfg.get("DriverOpts")
    # Docker's bridge driver acts on its own keys only and keeps the others (inspect echoes
    # them): so do we, but its own keys (interface name, sysctls) we do not honour
    for key in (opts if isinstance(opts, dict) else {}):
        if str(key).startswith("com.docker.network.endpoint."):
            raise BadParameter(f"{where}.DriverOpts: {key} is not supported")


def check_create(body: dict) -> None:
    host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
    if body.get("MacAddress"):
        raise BadParameter("Config.MacAddress: a chosen MAC address is not supported (each "
                           "endpoint's MAC derives from its IP address)")
    mode = host.get("NetworkMode") or ""
    if host.get("Links"):
        if mode in DEFAULT_BRIDGE or mode in ("host", "none") or str(mode).startswith(
                "container:"):
            raise BadParameter(f"HostConfig.Links: {LEGACY}")
        for i, text in enumerate(host["Links"] if isinstance(host["Links"], list) else [None]):
            parse_link(text, f"HostConfig.Links[{i}]")
    runtime = host.get("Runtime") or ""
    if runtime not in RUNTIMES:
        raise BadParameter(f"HostConfig.Runtime: Unknown runtime specified {runtime}")
    for i, spec in enumerate(host.get("Binds") or []):
        opts = spec.split(":")[2].split(",") if isinstance(spec, str) \
            and spec.count(":") == 2 else []
        for opt in opts:
            if opt in _PROPAGATION:
                raise BadParameter(f"HostConfig.Binds[{i}]: bind propagation {opt} is not "
                                   "supported (mounts are rprivate)")
    for i, m in enumerate(host.get("Mounts") or []):
        bind = m.get("BindOptions") if isinstance(m, dict) else None
        prop = bind.get("Propagation") if isinstance(bind, dict) else None
        if prop in _PROPAGATION:
            raise BadParameter(f"HostConfig.Mounts[{i}].BindOptions.Propagation: {prop} is not "
                               "supported (mounts are rprivate)")
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    for name, cfg in _items(endpoints):
        check_endpoint(cfg, f"NetworkingConfig.EndpointsConfig[{name!r}]", name)


def check_network_create(body: dict) -> None:
    if body.get("EnableIPv6"):
        raise BadParameter("EnableIPv6: IPv6 networks are not supported (IPv4 only)")
    ipam = body.get("IPAM") if isinstance(body.get("IPAM"), dict) else {}
    if (ipam.get("Driver") or "default") != "default":
        raise BadParameter(f"IPAM.Driver: unsupported IPAM driver {ipam['Driver']!r} "
                           "(only default)")
    if ipam.get("Options"):
        raise BadParameter("IPAM.Options: IPAM driver options are not supported")
    configs = ipam.get("Config") or []
    if len(configs) > 1:
        raise BadParameter("IPAM.Config: one subnet per network is supported (IPv4 only), "
                           f"got {len(configs)}")
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, dict):
            continue
        for key in ("Subnet", "Gateway", "IPRange"):
            if ":" in str(cfg.get(key) or ""):
                raise BadParameter(f"IPAM.Config[{i}].{key}: IPv6 addresses are not supported "
                                   f"(IPv4 only): {cfg[key]}")
        if cfg.get("IPRange"):
            raise BadParameter(f"IPAM.Config[{i}].IPRange: allocating from a sub-range is not "
                               "supported (addresses come from the whole subnet)")
        if cfg.get("AuxiliaryAddresses"):
            raise BadParameter(f"IPAM.Config[{i}].AuxiliaryAddresses: reserved auxiliary "
                               "addresses are not supported")
