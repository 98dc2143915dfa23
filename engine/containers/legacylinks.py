"""Legacy links on the default bridge (`docker run --link target:alias` without a user-defined
network), as Docker gives them: the linking container gets one /etc/hosts line per link (the
target's address → alias, the target's hostname and, if different from the alias, its name) and
environment variables describing the target (`<ALIAS>_NAME`, `<ALIAS>_PORT...` per exposed
port, `<ALIAS>_ENV_<KEY>` per variable of the target's environment but HOME and PATH).

The target must exist and run on the default bridge when the linking container starts; what is
written then stays (as in Docker, a target's later restart on a new address does not reach the
environment). Pure: the caller looks the targets up (`LinkTarget`) and writes the results."""
from __future__ import annotations

from dataclasses import dataclass

from engine.containers.links import parse_link

DEFAULT_BRIDGE = "bridge"


@dataclass(frozen=True)
class LinkTarget:
    alias: str                      # as the link names it ("db")
    name: str                       # the target's container name, without "/"
    hostname: str
    ip: str                         # its address on the default bridge
    env: tuple[str, ...] = ()       # its Config.Env (image's and its own)
    exposed: tuple[str, ...] = ()   # its exposed ports: "5432/tcp"


def has_links(body: dict) -> bool:
    """Whether a create body names any link at all (the common answer, no, without parsing)."""
    host = body.get("HostConfig")
    if isinstance(host, dict) and host.get("Links"):
        return True
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    return isinstance(endpoints, dict) and any(
        isinstance(cfg, dict) and bool(cfg.get("Links")) for cfg in endpoints.values())


def legacy_links(body: dict, primary_network: str) -> list[tuple[str, str]]:
    """(target, alias) of the links Docker treats as legacy: HostConfig.Links and the default
    bridge endpoint's Links, when the container's primary network is the default bridge."""
    if primary_network != DEFAULT_BRIDGE:
        return []
    host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
    texts = [(t, f"HostConfig.Links[{i}]") for i, t in enumerate(host.get("Links") or [])]
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    for key in ("default", DEFAULT_BRIDGE):
        cfg = endpoints.get(key) if isinstance(endpoints, dict) else None
        links = cfg.get("Links") if isinstance(cfg, dict) else None
        texts += [(t, f"EndpointsConfig[{key!r}].Links[{i}]") for i, t in enumerate(links or [])]
    out: dict[str, tuple[str, str]] = {}
    for text, where in texts:
        target, alias = parse_link(text, where)
        out[alias] = (target, alias)      # a later link of one alias wins, as Docker's map
    return list(out.values())


def hosts_lines(targets: list[LinkTarget]) -> list[str]:
    """/etc/hosts lines for the linking container."""
    lines = []
    for t in targets:
        names = [t.alias, t.hostname] + ([t.name] if t.name != t.alias else [])
        lines.append(f"{t.ip}\t{' '.join(dict.fromkeys(n for n in names if n))}")
    return lines


def retarget_hosts(text: str, alias: str, target: LinkTarget) -> str:
    """A linker's /etc/hosts after its link `alias` came back on another address: the link's
    line says the new one (Docker rewrites the linkers' files when a target starts)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        _, _, names = line.partition("\t")
        if names.split(" ", 1)[0] == alias:
            lines[i] = hosts_lines([target])[0]
    return "".join(line + "\n" for line in lines)


def _ports(exposed: tuple[str, ...]) -> list[tuple[int, str]]:
    out = []
    for key in exposed:
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append((int(port), (proto or "tcp").lower()))
    # tcp first, then by protocol name; by number within one protocol (Docker's order)
    return sorted(set(out), key=lambda p: (p[1] != "tcp", p[1], p[0]))


def link_env(linker_name: str, target: LinkTarget) -> list[str]:
    """The variables one link gives the linking container (Docker's names and order)."""
    alias = target.alias.upper().replace("-", "_")
    ports = _ports(target.exposed)
    env: list[str] = []
    if ports:
        port, proto = ports[0]
        env.append(f"{alias}_PORT={proto}://{target.ip}:{port}")
    start = end = ports[0] if ports else None
    for i, (port, proto) in enumerate(ports):
        prefix = f"{alias}_PORT_{port}_{proto.upper()}"
        env += [f"{prefix}={proto}://{target.ip}:{port}", f"{prefix}_ADDR={target.ip}",
                f"{prefix}_PORT={port}", f"{prefix}_PROTO={proto}"]
        assert start is not None and end is not None
        if i and port == end[0] + 1 and proto == start[1]:
            end = (port, proto)
            if i < len(ports) - 1:
                continue
        if end != start:   # a run of consecutive ports of one protocol: its bounds too
            first = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [f"{first}_START={start[1]}://{target.ip}:{start[0]}",
                    f"{first}_PORT_START={start[0]}",
                    f"{first}_END={end[1]}://{target.ip}:{end[0]}",
                    f"{first}_PORT_END={end[0]}"]
        start = end = (port, proto)
    env.append(f"{alias}_NAME=/{linker_name}/{target.alias}")
    for item in target.env:
        key, eq, value = item.partition("=")
        if eq and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return env
