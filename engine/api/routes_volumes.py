"""/volumes endpoints (Docker shapes); handlers are plain functions in a table."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.apiversion import request_version
from engine.api.http import Request, Response, empty_response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.errors import BadParameter

Handler = Callable[[Engine, Request], Awaitable[Response]]


async def create(engine: Engine, req: Request) -> Response:
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise BadParameter("body: expected a JSON object")
    vol = await trio.to_thread.run_sync(lambda: engine.volumes.create(
        body.get("Name") or None, body.get("Labels"), body.get("DriverOpts"),
        body.get("Driver")))
    return json_response(vol.to_docker(), 201)


def _selected(vol: Any, filters: dict[str, list[str]], in_use: Callable[[str], list[str]]
              ) -> bool:
    """Whether `vol` passes the list filters (name, label, driver, dangling)."""
    if filters.get("name") and not any(n in vol.name for n in filters["name"]):
        return False
    if filters.get("label") and not all(_label_ok(vol.labels, f) for f in filters["label"]):
        return False
    if filters.get("driver") and "local" not in filters["driver"]:
        return False
    if filters.get("dangling"):
        dangling = filters["dangling"][0] in ("1", "true")
        if bool(in_use(vol.name)) == dangling:
            return False
    return True


async def list_(engine: Engine, req: Request) -> Response:
    filters = req.filters()
    unknown = set(filters) - {"name", "label", "dangling", "driver"}
    if unknown:
        raise BadParameter(f"invalid filter '{sorted(unknown)[0]}'")
    in_use = engine.manager.volume_users
    out = [vol.to_docker() for vol in await trio.to_thread.run_sync(engine.volumes.list)
           if _selected(vol, filters, in_use)]
    return json_response({"Volumes": out, "Warnings": None})


async def inspect(engine: Engine, req: Request) -> Response:
    vol = await trio.to_thread.run_sync(engine.volumes.get, req.params["name"])
    return json_response(vol.to_docker())


async def remove(engine: Engine, req: Request) -> Response:
    in_use = engine.manager.volume_users
    await trio.to_thread.run_sync(lambda: engine.volumes.remove(
        req.params["name"], in_use, req.bool_arg("force")))
    return empty_response(204)


async def prune(engine: Engine, req: Request) -> Response:
    filters = req.filters()
    all_volumes = volume_prune_all(filters.get("all", []), request_version(req))
    in_use = engine.manager.volume_users
    deleted, reclaimed = await trio.to_thread.run_sync(
        lambda: engine.volumes.prune(in_use, all_volumes, filters.get("label", [])))
    return json_response({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes", list_),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))


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
