"""A RUN step's network as the step sees it: which namespace it runs in (the build's
`networkmode`, a RUN's `--network`) and the /etc/hosts and /etc/resolv.conf it gets (the
build's `extrahosts`). Pure: parsing and file contents; sandbox.run_process does the wiring.

Modes, as Docker's classic builder reads `networkmode`: "", `default` and `bridge` are our
default (the host's namespace, see sandbox.py), `host` the same, `none` an empty namespace,
anything else the name or id of a user network the step is attached to (it resolves the names
of that network's containers through the network's resolver).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from engine.errors import BadParameter

HOST, NONE, NETWORK = "host", "none", "network"
_DEFAULT_NAMES = ("", "default", "bridge")
LOCALHOST_LINES = ("127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                   "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix",
                   "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters")


@dataclass(frozen=True)
class StepNetwork:
    """Where a RUN step's process gets its network: `kind` HOST, NONE, or NETWORK (attached to
    user network `network`, a name or id)."""

    kind: str = HOST
    network: str = ""

    @property
    def cache_word(self) -> str:
        """What of the network goes into a step's cache key. Docker's classic builder keys on
        none of it; ours has always told `none` apart (a step that fetched nothing is not the
        step that could), and a user network builds what the default one builds."""
        return NONE if self.kind == NONE else HOST


def build_network(value: str | None) -> StepNetwork:
    """The build's `networkmode` query parameter."""
    value = (value or "").strip()
    if value in _DEFAULT_NAMES or value == HOST:
        return StepNetwork(HOST)
    if value == NONE:
        return StepNetwork(NONE)
    if value.startswith("container:"):
        raise BadParameter(f"networkmode {value!r} is not supported for builds (default, "
                           "host, none or a network's name or id)")
    return StepNetwork(NETWORK, value)


def step_network(flag: str | None, build: StepNetwork) -> StepNetwork | None:
    """A RUN's `--network=` flag over the build's mode; None for a value a RUN may not give
    (BuildKit's three)."""
    if flag is None or flag == "default":
        return build
    if flag == HOST:
        return StepNetwork(HOST)
    if flag == NONE:
        return StepNetwork(NONE)
    return None


def parse_extra_hosts(values: list[str]) -> tuple[tuple[str, str], ...]:
    """`extrahosts` values (`host:ip` or `host=ip`; one per parameter or comma-separated) ->
    ((host, ip), ...) in order. The ip may be IPv6 (`h:::1`): the host part ends at the
    first separator."""
    out: list[tuple[str, str]] = []
    for value in values:
        for entry in (e.strip() for e in value.split(",")):
            if not entry:
                continue
            sep = "=" if "=" in entry else ":"
            name, found, ip = entry.partition(sep)
            name, ip = name.strip(), ip.strip().strip("[]")
            if not found or not name or not ip or any(c.isspace() for c in name):
                raise BadParameter(f"extrahosts: invalid entry {entry!r} (want host:ip)")
            if ip == "host-gateway":
                raise BadParameter(f"extrahosts: {entry!r}: host-gateway is not supported for "
                                   "builds (give the address)")
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise BadParameter(f"extrahosts: invalid IP address in {entry!r}") from None
            out.append((name, ip))
    return tuple(out)


def hosts_content(base: str | None, extra: tuple[tuple[str, str], ...],
                  own: tuple[str, str] | None = None) -> str:
    """The step's /etc/hosts: `base` (the host's file in the host's namespace) or Docker's
    localhost lines, then the extra hosts, then the step's own address and name."""
    lines = base.rstrip("\n").split("\n") if base else list(LOCALHOST_LINES)
    lines += [f"{ip}\t{name}" for name, ip in extra]
    if own is not None:
        lines.append(f"{own[0]}\t{own[1]}")
    return "\n".join(lines) + "\n"


def resolv_content(host_resolv: str, nameserver: str) -> str:
    """On a user network the step asks the network's resolver (it also forwards what is not a
    container's name); the host's search domains and options stay."""
    kept = [line for line in host_resolv.splitlines()
            if line.split()[:1] in (["search"], ["options"], ["domain"])]
    return "\n".join([f"nameserver {nameserver}", *kept]) + "\n"
