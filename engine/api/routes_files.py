"""Looking inside containers and moving files: archive (GET/HEAD/PUT), changes, export, commit,
update; and /system/df, /distribution/{name}/json. Handlers are plain functions in a table;
the work lives in engine.containers (files, changes, commit, update) and engine.images."""
from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import Request, Response, StreamResponse, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.containers import changes as changes_mod
from engine.containers.archive import encode_stat
from engine.containers.commit import commit_container, engine_made_paths, split_changes
from engine.containers.files import FileAccess, spooled_chunks
from engine.containers.update import update_container
from engine.errors import BadParameter, EngineError

TAR = "application/x-tar"
STAT_HEADER = "X-Docker-Container-Path-Stat"

Handler = Callable[[Engine, Request], Awaitable["Response | StreamResponse"]]


def _path_arg(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise BadParameter("path: must not be empty")
    return path


async def archive_get(engine: Engine, req: Request) -> Response | StreamResponse:
    files = FileAccess(engine.manager)
    path = _path_arg(req)
    if req.method == "HEAD":
        doc = await files.stat(req.params["id"], path)
        return Response(200, b"", "application/json", [(STAT_HEADER, encode_stat(doc))])
    header, spool = await files.get_archive(req.params["id"], path)
    return StreamResponse(spooled_chunks(spool), TAR, headers=[(STAT_HEADER, header)])


async def archive_put(engine: Engine, req: Request) -> Response:
    await FileAccess(engine.manager).put_archive(
        req.params["id"], _path_arg(req), req.body,
        no_overwrite_dir_non_dir=req.bool_arg("noOverwriteDirNonDir"),
        copy_uid_gid=req.bool_arg("copyUIDGID"))
    return Response(200, b"", None)


async def export(engine: Engine, req: Request) -> StreamResponse:
    spool = await FileAccess(engine.manager).export(req.params["id"])
    return StreamResponse(spooled_chunks(spool), TAR)


async def container_changes(engine: Engine, req: Request) -> Response:
    mgr = engine.manager
    rec = mgr.get(req.params["id"])
    lowers = list(engine.images.layer_paths(engine.images.get(rec.image_id)))
    found = await trio.to_thread.run_sync(changes_mod.container_changes, rec.dir / "upper",
                                          lowers, engine_made_paths(rec))
    return json_response([c.to_docker() for c in found] or None)


async def commit(engine: Engine, req: Request) -> Response:
    ref = req.arg("container")
    if not ref:
        raise BadParameter("container: must not be empty")
    image_id = await commit_container(
        engine.manager, ref, repo=req.arg("repo") or None, tag=req.arg("tag") or None,
        comment=req.arg("comment") or "", author=req.arg("author") or "",
        changes=split_changes(req.args("changes")), pause=req.bool_arg("pause", True),
        config=req.json(None))
    return json_response({"Id": image_id}, 201)


async def update(engine: Engine, req: Request) -> Response:
    return json_response(await update_container(engine.manager, req.params["id"],
                                                req.json({}) or {}))


def _disk_usage(engine: Engine) -> dict:
    """Worker thread: Docker's /system/df body."""
    mgr, images = engine.manager, engine.images
    containers = mgr.list(all_=True, filters={})
    uses: dict[str, int] = {}
    for c in containers:
        rec = mgr.get(c["Id"])
        uses[rec.image_id] = uses.get(rec.image_id, 0) + 1
        c["SizeRw"] = changes_mod.upper_size(rec.dir / "upper")
        try:
            c["SizeRootFs"] = images.get(rec.image_id).size + c["SizeRw"]
        except EngineError:
            c["SizeRootFs"] = c["SizeRw"]
    image_docs, layers_size, seen = [], 0, set()
    for image in images.list():
        doc = images.summary(image)
        doc["Containers"] = uses.get(image.id, 0)
        doc["SharedSize"] = -1
        image_docs.append(doc)
        for layer in images.layer_refs(image):
            if layer.diff_id not in seen:
                seen.add(layer.diff_id)
                # the unpacked size the store recorded, not a walk of every layer per call
                layers_size += images.layer_record(layer.diff_id).size
    volume_docs = []
    for vol in engine.volumes.list():
        doc = vol.to_docker()
        doc["UsageData"] = {"Size": _tree_size(Path(vol.mountpoint)),
                            "RefCount": len(mgr.volume_users(vol.name))}
        volume_docs.append(doc)
    return {"LayersSize": layers_size, "Images": image_docs, "Containers": containers,
            "Volumes": volume_docs, "BuildCache": []}


def _tree_size(path: Path) -> int:
    try:
        return changes_mod.upper_size(path)
    except OSError:
        return 0


async def system_df(engine: Engine, req: Request) -> Response:
    return json_response(await trio.to_thread.run_sync(_disk_usage, engine))


async def distribution(engine: Engine, req: Request) -> Response:
    from engine.images.distribution import inspect_distribution
    credentials = getattr(engine.images, "credentials", None)
    doc = await trio.to_thread.run_sync(inspect_distribution, req.params["name"], credentials)
    return json_response(doc)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/containers/{id}/archive", archive_get),   # HEAD comes here too
    ("PUT", "/containers/{id}/archive", archive_put),
    ("GET", "/containers/{id}/changes", container_changes),
    ("GET", "/containers/{id}/export", export),
    ("POST", "/commit", commit),
    ("POST", "/containers/{id}/update", update),
    ("GET", "/system/df", system_df),
    ("GET", "/distribution/{name:path}/json", distribution),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
