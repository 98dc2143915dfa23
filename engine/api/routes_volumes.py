"""/volumes endpoints (Docker shapes)."""
from __future__ import annotations

import trio

from engine.api.context import Engine
from engine.api.apiversion import request_version
from engine.api.http import Request, Response, empty_response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.errors import BadParameter


def register(router: Router, engine: Engine) -> None:
    vols = engine.volumes
    in_use = engine.manager.volume_users

    async def create(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise BadParameter("body: expected a JSON object")
        vol = await trio.to_thread.run_sync(lambda: vols.create(
            body.get("Name") or None, body.get("Labels"), body.get("DriverOpts"),
            body.get("Driver")))
        return json_response(vol.to_docker(), 201)

    async def list_(req: Request) -> Response:
        filters = req.filters()
        unknown = set(filters) - {"name", "label", "dangling", "driver"}
        if unknown:
            raise BadParameter(f"invalid filter '{sorted(unknown)[0]}'")
        out = []
        for vol in await trio.to_thread.run_sync(vols.list):
            if filters.get("name") and not any(n in vol.name for n in filters["name"]):
                continue
            if filters.get("label") and not all(
                    _label_ok(vol.labels, f) for f in filters["label"]):
                continue
            if filters.get("driver") and "local" not in filters["driver"]:
                continue
            if filters.get("dangling"):
                dangling = filters["dangling"][0] in ("1", "true")
                if bool(in_use(vol.name)) == dangling:
                    continue
            out.append(vol.to_docker())
        return json_response({"Volumes": out, "Warnings": None})

    async def inspect(req: Request) -> Response:
        vol = await trio.to_thread.run_sync(vols.get, req.params["name"])
        return json_response(vol.to_docker())

    async def remove(req: Request) -> Response:
        await trio.to_thread.run_sync(lambda: vols.remove(req.params["name"], in_use,
                                                          req.bool_arg("force")))
        return empty_response(204)

    async def prune(req: Request) -> Response:
        filters = req.filters()
        all_volumes = volume_prune_all(filters.get("all", []), request_version(req))
        deleted, reclaimed = await trio.to_thread.run_sync(
            lambda: vols.prune(in_use, all_volumes, filters.get("label", [])))
        return json_response({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})

    add = adder(router)
    add("POST", "/volumes/create", create)
    add("POST", "/volumes/prune", prune)
    add("GET", "/volumes", list_)
    add("GET", "/volumes/{name}", inspect)
    add("DELETE", "/volumes/{name}", remove)


def volume_prune_all(all_filter: list[str], version: tuple[int, int]) -> bool:
    """Whether a prune takes named volumes too. Docker before API 1.42 pruned every unused
    volume (the docker CLI at 1.41 relies on it); from 1.42 only anonymous ones unless
    `all=true`. Our own extension: an explicit `all=false` keeps named volumes at any version
    (our CLI speaks 1.41 and prunes anonymous volumes unless -a)."""
    values = [v.lower() for v in all_filter]
    if any(v in ("1", "true") for v in values):
        return True
    if any(v in ("0", "false") for v in values):
        return False
    return version < (1, 42)


def _label_ok(labels: dict[str, str], flt: str) -> bool:
    key, eq, value = flt.partition("=")
    return key in labels and (not eq or labels[key] == value)
