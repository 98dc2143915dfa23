"""Container administration: rename, prune, network connect/disconnect (a ContainerManager mixin)."""
from __future__ import annotations

import trio

from engine.containers.changes import upper_size
from engine.containers.model import ContainerState, parse_create, valid_name
from engine.errors import BadParameter, Conflict, NotFound


class AdminMixin:
    async def connect_network(self, ref: str, network: str, endpoint: dict) -> None:
        """Record the network in the container's EndpointsConfig; wire it now if running."""
        if self.networks is None:
            raise BadParameter("networking is not available in this engine")
        rec = self.get(ref)
        async with self.store.lock(rec.id):
            body = dict(rec.config.body)
            nc = dict(body.get("NetworkingConfig") or {})
            ec = dict(nc.get("EndpointsConfig") or {})
            ec[network] = endpoint or {}
            nc["EndpointsConfig"] = ec
            body["NetworkingConfig"] = nc
            new_cfg = parse_create(body)
            run = self._running.get(rec.id)
            if run is not None and rec.config.network_mode not in ("host", "none") \
                    and not rec.config.network_mode.startswith("container:"):
                from engine.containers.networking import _aliases, _ip
                count = sum(1 for ep in self.networks.endpoints() if ep.container_id == rec.id)
                await trio.to_thread.run_sync(lambda: self.networks.connect(
                    network, rec.id, f"/proc/{run.process.pid}/ns/net", container_name=rec.name,
                    aliases=_aliases(endpoint or {}), ip=_ip(endpoint or {}),
                    ifname=f"eth{count}"))
            rec.config = new_cfg
            self.store.save_config(rec)

    async def disconnect_network(self, ref: str, network: str) -> None:
        if self.networks is None:
            raise BadParameter("networking is not available in this engine")
        rec = self.get(ref)
        async with self.store.lock(rec.id):
            body = dict(rec.config.body)
            nc = dict(body.get("NetworkingConfig") or {})
            ec = {k: v for k, v in (nc.get("EndpointsConfig") or {}).items() if k != network}
            nc["EndpointsConfig"] = ec
            body["NetworkingConfig"] = nc
            if rec.id in self._running:
                await trio.to_thread.run_sync(self.networks.disconnect, network, rec.id)
            rec.config = parse_create(body)
            self.store.save_config(rec)

    async def rename(self, ref: str, new_name: str) -> None:
        rec = self.get(ref)
        new_name = valid_name(new_name)
        async with self.store.lock(rec.id):
            old = rec.name
            self.store.rename(rec, new_name)
            self.emit(rec, "rename", oldName="/" + old)

    async def prune(self, filters: dict[str, list[str]]) -> tuple[list[str], int]:
        """Remove stopped containers the filters select: their ids and the bytes their
        writable layers took."""
        from engine.containers.filters import matches
        from engine.containers.logs import parse_since, parse_time

        until = [parse_since(v, "until") for v in filters.pop("until", [])]
        deleted, reclaimed = [], 0
        for rec in list(self.store.all()):
            if rec.state.status not in (ContainerState.EXITED, ContainerState.CREATED,
                                        ContainerState.DEAD):
                continue
            if until and any(u is not None and parse_time(rec.created) > u for u in until):
                continue
            if not matches(rec, filters, self):
                continue
            try:
                # what the removal frees is its writable layer (Docker's SpaceReclaimed)
                size = await trio.to_thread.run_sync(upper_size, rec.dir / "upper")
                await self.remove(rec.id)
                deleted.append(rec.id)
                reclaimed += size
            except (Conflict, NotFound):
                pass
        return deleted, reclaimed
