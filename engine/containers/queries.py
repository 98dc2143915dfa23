"""Read-side views of containers: inspect, list, top, stats, and who uses a volume or an image
(`ContainerQueries`, a collaborator of ContainerManager)."""
from __future__ import annotations

import os
import time
from typing import AsyncIterator

import trio

from engine.containers import networking, render
from engine.containers.execs import ExecRegistry
from engine.containers.model import ContainerState
from engine.containers.running import RunningTable
from engine.containers.store import ContainerRecord, ContainerStore
from engine.containers.wiring import NetworkWiring
from engine.errors import BadParameter, Conflict
from engine.volumes import VolumeStore


class ContainerQueries:
    def __init__(self, store: ContainerStore, table: RunningTable, volumes: VolumeStore,
                 execs: ExecRegistry, wiring: NetworkWiring) -> None:
        self.store, self._table, self._volumes = store, table, volumes
        self._execs, self._wiring = execs, wiring

    def get(self, ref: str) -> ContainerRecord:
        return self.store.get(ref)

    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict]:
        """Samples of Docker's stats document, one per second while streaming; a stopped
        container yields one zeroed sample (like Docker)."""
        rec = self.get(ref)
        previous = None
        while True:
            run = self._table.get(rec.id)
            raw = {}
            if run is not None:
                try:
                    raw = await trio.to_thread.run_sync(run.cgroup.stats)
                except OSError:  # the cgroup went away with the container
                    raw = {}
            doc = stats_json(rec, raw, previous)
            yield doc
            if not stream or run is None:
                return
            previous = doc
            await trio.sleep(1)

    def volume_users(self, name: str) -> list[str]:
        users_ = []
        for rec in self.store.all():
            names = {m.source for m in rec.config.mounts if m.type == "volume"}
            if name in names or name in rec.anonymous_volumes:
                users_.append(rec.short_id)
        return users_

    def image_in_use(self, image_id: str) -> bool:
        return any(rec.image_id == image_id for rec in self.store.all())

    async def top(self, ref: str, ps_args: str | None) -> dict:
        rec = self.get(ref)
        run = self._table.get(rec.id)
        if run is None or rec.state.status not in (ContainerState.RUNNING, ContainerState.PAUSED):
            raise Conflict(f"Container {rec.id} is not running")
        pids = set(await trio.to_thread.run_sync(run.cgroup.pids))
        args = (ps_args or "-ef").split()
        result = await trio.run_process(["ps", *args], capture_stdout=True, capture_stderr=True,
                                        check=False)
        if result.returncode != 0:
            raise BadParameter(f"ps failed: {result.stderr.decode(errors='replace').strip()}")
        lines = result.stdout.decode(errors="replace").splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise BadParameter("Couldn't find PID field in ps output")
        col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    def networks_json(self, rec: ContainerRecord) -> dict:
        return self._wiring.networks_json(rec)

    def inspect(self, ref: str) -> dict:
        rec = self.get(ref)
        return render.inspect_json(
            rec, volume_root=str(self._volumes.root), exec_ids=self._execs.ids_for(rec.id),
            networks=self._wiring.networks_json(rec), published=self._wiring.published(rec))

    def list(self, *, all_: bool, filters: dict[str, list[str]], limit: int | None = None) -> list[dict]:
        from engine.containers.filters import matches

        now = time.time()
        recs = sorted(self.store.all(), key=lambda r: r.created, reverse=True)
        linked = networking.link_names(self.store)
        out = []
        for rec in recs:
            if not all_ and not rec.state.status.is_active() and "status" not in filters:
                continue
            if not matches(rec, filters, self):
                continue
            doc = render.summary_json(rec, now=now, volume_root=str(self._volumes.root),
                                      networks=self._wiring.networks_json(rec),
                                      published=self._wiring.published(rec))
            if rec.id in linked:
                # Docker lists all of them sorted; its own name stays first here, because
                # clients (compose's listing, logs, top, stats) take Names[0] as the name
                doc["Names"] = doc["Names"] + sorted(linked[rec.id])
            out.append(doc)
        return out[:limit] if limit and limit > 0 else out


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def memory_limit(cgroup_limit: int | None, host_total: int) -> int:
    """The limit stats report, as Docker's: the host's memory when the cgroup's is none (v1
    says 2^63 rounded to a page, v2 "max") or above what the host has."""
    if not cgroup_limit or (host_total and cgroup_limit > host_total):
        return host_total
    return cgroup_limit


def _host_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def stats_json(rec: ContainerRecord, raw: dict, previous: dict | None) -> dict:
    """Docker's GET /containers/{id}/stats document from a cgroup sample."""
    from engine.containers.logs import rfc3339_nanos

    mem, cpu, pids = raw.get("memory") or {}, raw.get("cpu") or {}, raw.get("pids") or {}
    cpu_stats = {
        "cpu_usage": {"total_usage": cpu.get("usage_ns") or 0, "usage_in_kernelmode": 0,
                      "usage_in_usermode": 0},
        "system_cpu_usage": _system_cpu_ns(), "online_cpus": os.cpu_count() or 1,
        "throttling_data": {"periods": cpu.get("periods") or 0,
                            "throttled_periods": cpu.get("throttled_periods") or 0,
                            "throttled_time": cpu.get("throttled_ns") or 0}}
    return {
        "read": rfc3339_nanos(time.time_ns()),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": pids.get("current") or 0,
                       **({"limit": pids["limit"]} if pids.get("limit") else {})},
        "blkio_stats": {}, "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_stats,
        "precpu_stats": previous["cpu_stats"] if previous else {"cpu_usage": {"total_usage": 0},
                                                               "throttling_data": {}},
        "memory_stats": {"usage": mem.get("usage") or 0, "max_usage": mem.get("max_usage") or 0,
                         "limit": memory_limit(mem.get("limit"), _host_memory()), "stats": {}},
        "name": "/" + rec.name, "id": rec.id, "networks": {},
    }
