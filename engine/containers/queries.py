"""Read-side views of containers: inspect, list, top (a mixin of ContainerManager)."""
from __future__ import annotations

import time

import trio

from engine.containers import render
from engine.containers.model import ContainerState
from engine.containers.store import ContainerRecord
from engine.errors import BadParameter, Conflict


class QueryMixin:
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
        run = self._running.get(rec.id)
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

    def _published(self, rec: ContainerRecord) -> list[dict]:
        if self.networks is None:
            return [{"PrivatePort": b.container_port, "Type": b.protocol}
                    for b in rec.config.port_bindings]
        from engine.containers.networking import published_ports
        return published_ports(self, rec)

    def _networks_json(self, rec: ContainerRecord) -> dict:
        mode = rec.config.network_mode
        if self.networks is not None and mode not in ("host", "none") \
                and not mode.startswith("container:"):
            from engine.containers.networking import networks_json
            return networks_json(self, rec)
        name = "bridge" if mode == "default" else mode
        if mode.startswith("container:"):
            return {}
        return {name: {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                       "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                       "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                       "MacAddress": "", "DriverOpts": None}}

    def inspect(self, ref: str) -> dict:
        rec = self.get(ref)
        return render.inspect_json(
            rec, volume_root=str(self.volumes.root), exec_ids=self.execs.ids_for(rec.id),
            networks=self._networks_json(rec), published=self._published(rec))

    def list(self, *, all_: bool, filters: dict[str, list[str]], limit: int | None = None) -> list[dict]:
        from engine.containers.filters import matches

        now = time.time()
        recs = sorted(self.store.all(), key=lambda r: r.created, reverse=True)
        out = []
        for rec in recs:
            if not all_ and not rec.state.status.is_active() and "status" not in filters:
                continue
            if not matches(rec, filters, self):
                continue
            out.append(render.summary_json(rec, now=now, volume_root=str(self.volumes.root),
                                           networks=self._networks_json(rec),
                                           published=self._published(rec)))
        return out[:limit] if limit and limit > 0 else out
