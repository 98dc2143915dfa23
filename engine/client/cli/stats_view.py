"""`stats` rows from Docker's stats documents (pure): the docker CLI's columns and its units
(binary for memory, decimal for network and block I/O)."""
from __future__ import annotations

from typing import Any

from engine.client.cli.format import human_size

HEADERS = {"ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
           "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
         "\t{{.BlockIO}}\t{{.PIDs}}")
NO_LIMIT = 1 << 60      # a cgroup without a memory limit reports about 2^63


def cpu_percent(doc: dict) -> float:
    cur, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = ((cur.get("cpu_usage") or {}).get("total_usage", 0)
                 - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    sys_delta = cur.get("system_cpu_usage", 0) - (pre.get("system_cpu_usage") or 0)
    if not pre.get("system_cpu_usage") or cpu_delta <= 0 or sys_delta <= 0:
        return 0.0
    return cpu_delta / sys_delta * (cur.get("online_cpus") or 1) * 100.0


def memory_usage(doc: dict, host_memory: int) -> tuple[int, int]:
    """(usage without the page cache, limit; the host's memory when there is none)."""
    mem = doc.get("memory_stats") or {}
    stats = mem.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0
    usage = max(0, (mem.get("usage") or 0) - cache)
    limit = mem.get("limit") or 0
    if limit <= 0 or limit >= NO_LIMIT:
        limit = host_memory
    return usage, limit


def _io(pairs: list[tuple[int, int]]) -> str:
    rx = sum(a for a, _ in pairs)
    tx = sum(b for _, b in pairs)
    return f"{human_size(rx)} / {human_size(tx)}"


def stats_row(doc: dict, host_memory: int, shown: str | None = None) -> dict[str, Any]:
    usage, limit = memory_usage(doc, host_memory)
    nets = doc.get("networks") or {}
    blk = (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(e.get("value", 0) for e in blk if str(e.get("op", "")).lower() == "read")
    write = sum(e.get("value", 0) for e in blk if str(e.get("op", "")).lower() == "write")
    cid = doc.get("id", "")
    return {
        "Container": shown or cid[:12], "ID": cid[:12],
        "Name": (doc.get("name") or "").lstrip("/"),
        "CPUPerc": f"{cpu_percent(doc):.2f}%",
        "MemUsage": f"{human_size(usage, binary=True)} / {human_size(limit, binary=True)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": _io([(n.get("rx_bytes", 0), n.get("tx_bytes", 0)) for n in nets.values()]),
        "BlockIO": _io([(read, write)]),
        "PIDs": str((doc.get("pids_stats") or {}).get("current", 0)),
    }


def host_memory(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0
