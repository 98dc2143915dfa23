"""What of ours is on this host: links named pc*, network namespaces named pc*, mounts under a
pycompose state dir, cgroups named pycompose-*, firewall rules tagged pycompose, engine processes.

The test session snapshots this at the start and compares at the end: anything new is a leak, and
the run fails naming it (CI must leave the machine as it found it)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def links() -> set[str]:
    return {name.split("@")[0] for name in os.listdir("/sys/class/net") if name.startswith("pc")}


def netns() -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.startswith("pc")}
    except FileNotFoundError:
        return set()


def mounts() -> set[str]:
    found = set()
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and ("pycompose" in fields[1] or "/pytest-of-" in fields[1]):
                found.add(fields[1])
    return found


def cgroups() -> set[str]:
    found = set()
    base = Path("/sys/fs/cgroup")
    for depth_glob in ("pycompose*", "*/pycompose*", "*/*/pycompose*", "*/*/*/pycompose*"):
        found.update(str(p) for p in base.glob(depth_glob) if p.is_dir())
    return found


def rules() -> set[str]:
    return {line for line in _run(["iptables-save"]).splitlines() if "pycompose" in line}


def processes() -> set[str]:
    found = set()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "engine.daemon" in cmd or "engine serve" in cmd or "compose.cli.warm_server" in cmd:
            found.add(f"{entry} {cmd.strip()}")
    return found


KINDS = {
    "network interfaces named pc*": links,
    "network namespaces named pc*": netns,
    "mounts under a pycompose/pytest state dir": mounts,
    "cgroups named pycompose*": cgroups,
    "firewall rules tagged pycompose": rules,
    "engine processes": processes,
}


def snapshot() -> dict[str, set[str]]:
    return {kind: probe() for kind, probe in KINDS.items()}


def new_since(before: dict[str, set[str]]) -> dict[str, set[str]]:
    now = snapshot()
    return {kind: now[kind] - before.get(kind, set()) for kind in KINDS if now[kind] - before.get(kind, set())}
