"""A warm worker's resource limits: the caller's, not the server's (see compose/cli/warm_server.py).

The client sends the text of its /proc/self/limits; the server works out, before it forks, which
limits its worker must change, or that it cannot (raising a hard limit above the server's own
needs CAP_SYS_RESOURCE), in which case the client runs the command itself.
"""
from __future__ import annotations

import re
import resource

CAP_SYS_RESOURCE = 24
UNLIMITED = -1  # resource.RLIM_INFINITY
_LIMIT_ROW = re.compile(rb"^\S.*?\s{2,}(\S+)\s+(\S+)")


def parse_limits(text: bytes) -> list[tuple[int, int]]:
    """/proc/<pid>/limits -> (soft, hard) per resource. The kernel prints one row per resource in
    resource-number order (RLIMIT_CPU first), so a row's position is its resource."""
    limits = []
    for line in text.splitlines()[1:]:
        match = _LIMIT_ROW.match(line)
        if match is None:
            raise ValueError(f"unreadable limits row {line!r}")
        limits.append((_limit_value(match[1]), _limit_value(match[2])))
    return limits


def _limit_value(word: bytes) -> int:
    return UNLIMITED if word == b"unlimited" else int(word)


def _above(value: int, bound: int) -> bool:
    if bound == UNLIMITED:
        return False
    return value == UNLIMITED or value > bound


def limits_plan(caller: list[tuple[int, int]], own: list[tuple[int, int]],
                can_raise: bool) -> list[tuple[int, int, int]] | None:
    """(resource, soft, hard) for the worker to set so it runs under the caller's limits, or None
    when it cannot: a hard limit above ours needs CAP_SYS_RESOURCE."""
    if len(caller) != len(own):
        return None
    plan = []
    for resource, (mine, theirs) in enumerate(zip(own, caller)):
        if mine == theirs:
            continue
        if _above(theirs[1], mine[1]) and not can_raise:
            return None
        plan.append((resource, *theirs))
    return plan


def has_capability(number: int) -> bool:
    """Whether this process holds capability `number` in its effective set."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapEff:"):
                return bool(int(line.split()[1], 16) >> number & 1)
    return False


def apply_limits(plan: list[tuple[int, int, int]]) -> None:
    """Set a limits_plan() in this process (the worker)."""
    for number, soft, hard in plan:
        resource.setrlimit(number, (soft, hard))
