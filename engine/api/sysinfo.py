"""The facts behind GET /info that Docker's API 1.41 lists and clients read (the docker SDK,
the CLI's `docker info`): every top-level key, each with a value true of this engine and host.
Gathered from /proc and /sys; the pure shaping is `info_body`."""
from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.containers.logs import rfc3339_nanos

INDEX_SERVER = "https://index.docker.io/v1/"
NETWORK_PREFIX = 24        # netbridge carves one /24 per network out of the address pool


@dataclass(frozen=True)
class HostFacts:
    controllers: frozenset[str]   # cgroup controllers the kernel has enabled
    cgroup_v2: bool
    swap_accounting: bool
    ipv4_forwarding: bool
    bridge_nf_iptables: bool
    bridge_nf_ip6tables: bool
    open_fds: int
    os_version: str
    backing_fs: str = ""          # file system type under the state root (the overlays' upper)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _controllers() -> frozenset[str]:
    names = set()
    for line in _read("/proc/cgroups").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "1":
            names.add(fields[0])
    names.update(_read("/sys/fs/cgroup/cgroup.controllers").split())
    return frozenset(names)


def _os_version() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("VERSION_ID="):
            return line.split("=", 1)[1].strip('"')
    return ""


def _fs_type(path: str) -> str:
    """Type of the mount that holds `path`: the longest mount point that is its prefix."""
    best, kind = "", ""
    for line in _read("/proc/self/mounts").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def host_facts(cgroup_version: str, root: str = "/") -> HostFacts:
    v2 = cgroup_version == "2"
    swap = (Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() if not v2
            else any(Path("/sys/fs/cgroup").glob("*/memory.swap.max"))
            or Path("/sys/fs/cgroup/memory.swap.max").exists())
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = 0
    return HostFacts(
        controllers=_controllers(), cgroup_v2=v2, swap_accounting=swap,
        ipv4_forwarding=_read("/proc/sys/net/ipv4/ip_forward") == "1",
        bridge_nf_iptables=_read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        bridge_nf_ip6tables=_read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        open_fds=fds, os_version=_os_version(), backing_fs=_fs_type(os.path.realpath(root)))


def address_pools(pool: str) -> list[dict]:
    try:
        net = ipaddress.ip_network(pool, strict=False)
    except ValueError:
        return []
    return [{"Base": str(net), "Size": max(NETWORK_PREFIX, net.prefixlen)}]


def info_extras(facts: HostFacts, *, tasks: int, listeners: int, address_pool: str,
                environ: dict[str, str]) -> dict:
    """The keys of /info beyond the counts and names routes_system fills in."""
    c = facts.controllers
    empty_commit = {"ID": "", "Expected": ""}
    return {
        "DriverStatus": [["Backing Filesystem", facts.backing_fs]] if facts.backing_fs else [],
        "MemoryLimit": "memory" in c,
        "SwapLimit": "memory" in c and facts.swap_accounting,
        "KernelMemory": False,          # no kernel-memory limits (gone from cgroup v2, 6.x)
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": "cpu" in c,
        "CpuCfsQuota": "cpu" in c,
        "CPUShares": "cpu" in c,
        "CPUSet": "cpuset" in c,
        "PidsLimit": "pids" in c,
        "OomKillDisable": False,        # HostConfig.OomKillDisable is not offered
        "IPv4Forwarding": facts.ipv4_forwarding,
        "BridgeNfIptables": facts.bridge_nf_iptables,
        "BridgeNfIp6tables": facts.bridge_nf_ip6tables,
        "Debug": False,                 # the engine has no debug mode
        "NFd": facts.open_fds,
        "NGoroutines": tasks,           # the engine's trio tasks: its goroutines' counterpart
        "SystemTime": rfc3339_nanos(time.time_ns()),
        "NEventsListener": listeners,
        "OSVersion": facts.os_version,
        "IndexServerAddress": INDEX_SERVER,
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            # registries on loopback are spoken to in plain HTTP (engine.images.registry)
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True,
                                           "Official": True}},
            "Mirrors": []},
        "GenericResources": None,
        "HttpProxy": environ.get("HTTP_PROXY") or environ.get("http_proxy") or "",
        "HttpsProxy": environ.get("HTTPS_PROXY") or environ.get("https_proxy") or "",
        "NoProxy": environ.get("NO_PROXY") or environ.get("no_proxy") or "",
        "ExperimentalBuild": False,
        "ClusterStore": "",
        "ClusterAdvertise": "",
        "LiveRestoreEnabled": False,    # containers stop with the engine
        "Isolation": "",
        "InitBinary": "catatonit",
        "ContainerdCommit": empty_commit,
        "RuncCommit": empty_commit,
        "InitCommit": empty_commit,
        "DefaultAddressPools": address_pools(address_pool),
    }


def trio_task_count() -> int:
    import trio

    count, todo = 0, [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count
