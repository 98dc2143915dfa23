"""Docker's CpusetCpus / CpusetMems: the list syntax ("0-2,5"), checked against what the host
offers with Docker's words, before anything is made. The cgroup files are cgroups.py's."""
from __future__ import annotations

import re
from pathlib import Path

from engine.errors import BadParameter

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
# the CPUs and memory nodes the kernel has online (what a cpuset cgroup may be given at most)
ONLINE_CPUS = Path("/sys/devices/system/cpu/online")
ONLINE_MEMS = Path("/sys/devices/system/node/online")


def parse_list(text: str) -> set[int]:
    """"0-2,5" -> {0, 1, 2, 5}; ValueError for anything else (the kernel's list format)."""
    out: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item.strip())
        if not match:
            raise ValueError(f"invalid format: {text}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ValueError(f"invalid format: {text}")
        out.update(range(low, high + 1))
    return out


def online(path: Path) -> str:
    """The host's list at `path`; "0" where the file is missing (no NUMA: one memory node)."""
    try:
        return path.read_text().strip() or "0"
    except OSError:
        return "0"


def _parsed(value: str, what: str) -> set[int]:
    try:
        return parse_list(value)
    except ValueError as exc:
        raise BadParameter(f"Invalid value {value} for cpuset {what}: {exc}") from None


def check(value: str, available: str, what: str) -> None:
    """`what` is "cpus" or "mems". Docker's 400s: a bad list, or one asking for more than the
    host has."""
    if not _parsed(value, what) <= parse_list(available):
        thing = "CPUs" if what == "cpus" else "memory nodes"
        raise BadParameter(f"Requested {thing} are not available - requested {value}, "
                           f"available: {available}")


def _given(host: dict) -> list[tuple[str, str]]:
    """(value, "cpus" | "mems") of the fields the HostConfig gives."""
    out = []
    for key, what in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        value = host.get(key) if isinstance(host, dict) else None
        if not value:
            continue
        if not isinstance(value, str):
            raise BadParameter(f"HostConfig.{key}: invalid value {value!r}")
        out.append((value, what))
    return out


def check_syntax(host: dict) -> None:
    """HostConfig.CpusetCpus / CpusetMems are lists (pure: every parse of a body)."""
    for value, what in _given(host):
        _parsed(value, what)


def check_available(host: dict) -> None:
    """... and ask for no more than the host has: at create only (two small reads, only when
    given), so a record stored earlier is never refused for the host it runs on now (its start
    fails on its own if the CPUs are gone)."""
    for value, what in _given(host):
        check(value, online(ONLINE_CPUS if what == "cpus" else ONLINE_MEMS), what)
