"""`docker update`: new resource limits and restart policy for a container, written live into a
running container's cgroup and kept in its config for the next start.

The request is merged into the container's create body and the whole body is validated again
by the model (one set of rules for create and update); only then is anything written.
"""
from __future__ import annotations

import copy
import errno
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from engine.containers.model import ContainerConfig, parse_create
from engine.errors import BadParameter, EngineError
from engine.runtime import cgroups as cg
from engine.runtime import cpuset

if TYPE_CHECKING:
    from engine.containers.manager import ContainerManager

# what we change; Docker's other update fields are accepted when they ask for nothing
UPDATABLE = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "RestartPolicy",
             "CpusetCpus", "CpusetMems")
IGNORED_WHEN_UNSET = ("BlkioWeight", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
                      "CpuRealtimeRuntime", "MemoryReservation",
                      "KernelMemory", "KernelMemoryTCP", "CpuCount", "CpuPercent",
                      "IOMaximumIOps", "IOMaximumBandwidth", "MemorySwappiness",
                      "OomKillDisable", "BlkioWeightDevice", "BlkioDeviceReadBps",
                      "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
                      "Devices", "DeviceCgroupRules", "DeviceRequests", "Ulimits",
                      "CgroupParent")


@dataclass(frozen=True)
class Limits:
    """The cgroup values an update writes (None: leave as is)."""
    memory: int | None
    memory_swap: int | None
    nano_cpus: int | None
    cpu_shares: int | None
    pids_limit: int | None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None


def merged_body(body: dict, update: Any) -> dict:
    """The create body with the update's fields in HostConfig (pure)."""
    if not isinstance(update, dict):
        raise BadParameter("body: expected a JSON object")
    for key in IGNORED_WHEN_UNSET:
        if update.get(key) not in (None, 0, "", [], {}, False):
            raise BadParameter(f"update of {key} is not supported by this engine")
    out = copy.deepcopy(body)
    host = out.setdefault("HostConfig", {}) or {}
    out["HostConfig"] = host
    for key in UPDATABLE:
        if key not in update or update[key] is None:
            continue
        if key == "RestartPolicy":
            if not (update[key] or {}).get("Name") and not host.get("RestartPolicy"):
                continue
            if host.get("AutoRemove") and (update[key] or {}).get("Name", "no") not in ("", "no"):
                raise BadParameter("Restart policy cannot be updated because AutoRemove is "
                                   "enabled for the container")
        elif update[key] in (0, "") and key != "PidsLimit":
            continue  # 0 (and "" for the cpuset lists) means "not given" in Docker's update
        host[key] = update[key]
    if "Memory" in update and update.get("Memory") and "MemorySwap" not in update:
        swap = host.get("MemorySwap")
        if swap not in (None, 0, -1) and swap < host["Memory"]:
            raise BadParameter("Memory limit should be smaller than already set memoryswap "
                               "limit, update the memoryswap at the same time")
    return out


def limits_of(old: ContainerConfig, new: ContainerConfig) -> Limits:
    def changed(name: str) -> int | None:
        value = getattr(new, name)
        return value if value != getattr(old, name) else None

    def host_changed(key: str) -> str | None:   # fields read from the body (setup.resources)
        value = (new.body.get("HostConfig") or {}).get(key) or ""
        return value if value != ((old.body.get("HostConfig") or {}).get(key) or "") else None
    return Limits(changed("memory"), changed("memory_swap"), changed("nano_cpus"),
                  changed("cpu_shares"), changed("pids_limit"), host_changed("CpusetCpus"),
                  host_changed("CpusetMems"))


def _write(path: Path, value: int | str) -> None:
    path.write_text(str(value))


def apply_limits(group: Any, limits: Limits) -> None:
    """Worker thread: write `limits` into a running container's cgroup (v1 or v2)."""
    by_ctrl = getattr(group, "by_ctrl", None)
    if by_ctrl is not None:
        _apply_v1(by_ctrl, limits)
    else:
        _apply_v2(group.path, limits)


def _apply_v1(d: dict[str, Path], r: Limits) -> None:
    if (r.cpuset_cpus or r.cpuset_mems) and "cpuset" not in d:
        # v1 makes a cpuset cgroup only for a container started with a cpuset; moving a
        # running one's processes into a new one is not done (checked before any write)
        raise BadParameter("CpusetCpus/CpusetMems: a running container started without a "
                           "cpuset cannot be given one (cgroup v1); stop it, update, start")
    mem = d.get("memory")
    if mem and (r.memory or r.memory_swap):
        writes = []
        if r.memory:
            writes.append((mem / "memory.limit_in_bytes", r.memory))
        memsw = mem / "memory.memsw.limit_in_bytes"
        if memsw.exists() and (r.memory_swap or r.memory):
            swap = r.memory_swap if r.memory_swap else 2 * r.memory  # type: ignore[operator]
            writes.append((memsw, swap if swap != -1 else -1))
        try:
            for path, value in writes:
                _write(path, value)
        except OSError as e:
            if e.errno != errno.EINVAL or len(writes) < 2:
                raise
            # memory may not exceed memory+swap: raising both means swap first
            for path, value in reversed(writes):
                _write(path, value)
    cpu = d.get("cpu")
    if cpu and r.nano_cpus:
        _write(cpu / "cpu.cfs_period_us", cg.CPU_PERIOD)
        _write(cpu / "cpu.cfs_quota_us", cg.cpu_quota(r.nano_cpus))
    if cpu and r.cpu_shares:
        _write(cpu / "cpu.shares", max(2, r.cpu_shares))
    pids = d.get("pids")
    if pids and r.pids_limit is not None:
        _write(pids / "pids.max", r.pids_limit if r.pids_limit > 0 else "max")
    pinned = d.get("cpuset")
    if pinned and r.cpuset_cpus:
        _write(pinned / "cpuset.cpus", r.cpuset_cpus)
    if pinned and r.cpuset_mems:
        _write(pinned / "cpuset.mems", r.cpuset_mems)


def _apply_v2(d: Path, r: Limits) -> None:
    if r.memory:
        _write(d / "memory.max", r.memory)
    if r.memory_swap and (d / "memory.swap.max").exists():
        _write(d / "memory.swap.max", "max" if r.memory_swap == -1
               else max(0, r.memory_swap - (r.memory or int((d / "memory.max").read_text()))))
    if r.nano_cpus:
        _write(d / "cpu.max", f"{cg.cpu_quota(r.nano_cpus)} {cg.CPU_PERIOD}")
    if r.cpu_shares:
        _write(d / "cpu.weight", cg.cpu_weight(r.cpu_shares))
    if r.pids_limit is not None:
        _write(d / "pids.max", r.pids_limit if r.pids_limit > 0 else "max")
    if r.cpuset_cpus:
        _write(d / "cpuset.cpus", r.cpuset_cpus)
    if r.cpuset_mems:
        _write(d / "cpuset.mems", r.cpuset_mems)


async def update_container(mgr: ContainerManager, ref: str, update: Any) -> dict:
    rec = mgr.get(ref)
    async with mgr.store.lock(rec.id):
        new_body = merged_body(rec.config.body, update)
        cpuset.check_available(update)   # against the host as it is now, as at create
        new = parse_create(new_body)
        run = mgr.running(rec.id)
        if run is not None:
            limits = limits_of(rec.config, new)
            try:
                await trio.to_thread.run_sync(apply_limits, run.cgroup, limits)
            except OSError as e:
                raise EngineError(f"cannot update container {rec.name.lstrip('/')}: "
                                  f"{e.strerror} ({e.filename})") from None
        old_policy = rec.config.restart_policy
        rec.config = new
        mgr.store.save_config(rec)
        if new.restart_policy != old_policy:
            # the manager's tracker decides restarts from the policy it was made with
            mgr.supervisor.track_policy(rec)
    return {"Warnings": []}
