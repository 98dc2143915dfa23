"""/images/... endpoints over the image store (its methods are synchronous: worker threads).
Handlers are plain functions of (engine, request) in a table (ROUTES)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.loadreport import archive_tags, loaded_lines
from engine.api.http import Request, Response, StreamResponse, json_response
from engine.api.progress import progress_stream as _progress_stream
from engine.api.router import Router
from engine.api.shapes import AUTH
from engine.api.validate import adder, conform, parse_json
from engine.errors import BadParameter, Conflict, PycomposeError
from engine.images import reference
from engine.images.changes import apply_changes


def intermediates(images: list[Any]) -> set[str]:
    """Docker hides untagged images that are the parent of another image (build steps) unless
    `all=1`; a dangling image nothing builds on is still listed."""
    parents = {getattr(image, "parent", "") for image in images}
    return {image.id for image in images if not image.repo_tags and image.id in parents}


def matching_refs(refs: list[str], patterns: list[str]) -> list[str]:
    """The refs a `reference` filter names (`docker images REPO` sends one): an image is listed
    with only these, as Docker does, not with every tag it has."""
    return [r for r in refs if any(_ref_matches(r.split("@", 1)[0], p) for p in patterns)]


Handler = Callable[[Engine, Request], Awaitable["Response | StreamResponse"]]


def _listed(image: Any, filters: dict[str, list[str]], summary: Callable[[Any], dict]
            ) -> dict | None:
    """An image's summary as `GET /images/json` lists it under `filters`, or None."""
    patterns = filters.get("reference")
    tags = matching_refs(image.repo_tags, patterns) if patterns else image.repo_tags
    if patterns and not tags:
        return None
    if filters.get("dangling") and (filters["dangling"][0] in ("1", "true")) \
            != (not image.repo_tags):
        return None
    if filters.get("label") and not all(
            _label_ok(image.config.get("Labels") or {}, f) for f in filters["label"]):
        return None
    doc = summary(image)
    if patterns:
        doc["RepoTags"] = tags
        doc["RepoDigests"] = matching_refs(doc.get("RepoDigests") or [], patterns)
    return doc


async def list_images(engine: Engine, req: Request) -> Response:
    store, filters = engine.images, req.filters()
    images = await trio.to_thread.run_sync(store.list)
    hidden = set() if req.bool_arg("all") else intermediates(images)
    docs = (_listed(image, filters, store.summary) for image in images if image.id not in hidden)
    return json_response([doc for doc in docs if doc is not None])


async def inspect(engine: Engine, req: Request) -> Response:
    return json_response(await trio.to_thread.run_sync(engine.images.inspect,
                                                       req.params["name"]))


async def remove(engine: Engine, req: Request) -> Response:
    store, name, force = engine.images, req.params["name"], req.bool_arg("force")
    # id and tags only: an image whose config is unreadable can still be removed
    image_id, repo_tags = await trio.to_thread.run_sync(store.identify, name)
    users = [r for r in engine.manager.store.all() if r.image_id == image_id]
    if users and not force and (name == image_id or name.startswith("sha256:")
                                or len(repo_tags) <= 1):
        raise Conflict(f"conflict: unable to remove repository reference \"{name}\" "
                       f"(must force) - container {users[0].short_id} is using its "
                       f"referenced image {image_id[7:19]}")
    prune = not req.bool_arg("noprune")
    return json_response(await trio.to_thread.run_sync(
        lambda: store.remove(name, force, prune=prune)))


async def load(engine: Engine, req: Request) -> StreamResponse:
    def work(progress: Callable[[dict], None]) -> tuple[list, set[str]]:
        req.body.seek(0)
        images = engine.images.load(req.body)
        return images, archive_tags(req.body)

    def done(result: tuple[list, set[str]]) -> list[dict]:
        images, named = result
        return [{"stream": line} for image in images for line in loaded_lines(image, named)]

    return StreamResponse(_progress_stream(work, done))


async def create(engine: Engine, req: Request) -> StreamResponse:
    """`docker import` (fromSrc=-) or `docker pull` (fromImage)."""
    if req.arg("fromSrc"):
        return _import_rootfs(engine, req)
    if req.arg("fromImage"):
        return await _pull(engine, req)
    raise BadParameter("fromSrc or fromImage is required")


def _import_rootfs(engine: Engine, req: Request) -> StreamResponse:
    if req.arg("fromSrc") != "-":
        raise BadParameter("only fromSrc=- (the request body) is supported")
    repo, tag_ = req.arg("repo") or "", req.arg("tag") or ""
    ref = (f"{repo}:{tag_}" if tag_ else repo) or None
    changes = req.args("changes")
    # a bad name or change is a 400 before the stream starts, as Docker answers it
    if ref:
        reference.parse(ref)
    apply_changes({}, list(changes))

    def work(progress: Callable[[dict], None]) -> Any:
        req.body.seek(0)
        return engine.images.import_rootfs(req.body, ref, changes)

    return StreamResponse(_progress_stream(work, lambda img: [{"status": img.id}]))


async def _pull(engine: Engine, req: Request) -> StreamResponse:
    ref, tag_ = req.arg("fromImage") or "", req.arg("tag") or ""
    if tag_ and "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref = f"{ref}:{tag_}"
    platform = req.arg("platform") or None
    failure: dict[str, PycomposeError] = {}

    def pull(progress: Callable[[dict], None]) -> Any:
        try:
            return engine.images.pull(ref, platform, progress)
        except PycomposeError as exc:
            failure["error"] = exc
            raise

    # the store's progress already ends with the Digest:/Status: lines
    return await status_first(_progress_stream(pull, lambda img: []), failure)


async def tag(engine: Engine, req: Request) -> Response:
    repo, tag_ = req.arg("repo"), req.arg("tag")
    if not repo:
        raise BadParameter("repository name is required (repo)")
    ref = f"{repo}:{tag_}" if tag_ else repo
    await trio.to_thread.run_sync(engine.images.tag, req.params["name"], ref)
    return Response(201, b"", None)


async def get(engine: Engine, req: Request) -> StreamResponse:
    names = req.args("names") or ([req.params["name"]] if "name" in req.params else [])
    if not names:
        raise BadParameter("names is required")
    for n in names:
        await trio.to_thread.run_sync(engine.images.get, n)  # 404 before the headers go out
    return StreamResponse(_save_stream(engine.images, names), "application/x-tar")


async def prune(engine: Engine, req: Request) -> Response:
    filters = req.filters()
    dangling = filters.get("dangling", ["true"])[0].lower() not in ("0", "false")
    return json_response(await trio.to_thread.run_sync(
        lambda: engine.images.prune(dangling_only=dangling, in_use=engine.manager.image_in_use)))


async def build_prune(engine: Engine, req: Request) -> Response:
    # `docker system prune` calls it and fails on a 404. Our build cache is the step map
    # (engine.build.cache): emptied, every next step is built again. The step images stay
    # until nothing builds on them (a removal of their tagged child takes them along).
    from engine.build.cache import LayerCache

    cache = LayerCache(Path(engine.config.root) / "build" / "cache")
    deleted = await trio.to_thread.run_sync(clear_build_cache, cache)
    return json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": 0})


async def history(engine: Engine, req: Request) -> Response:
    return json_response(await trio.to_thread.run_sync(engine.images.history,
                                                       req.params["name"]))


async def push(engine: Engine, req: Request) -> StreamResponse:
    name, tag_ = req.params["name"], req.arg("tag")
    ref = f"{name}:{tag_}" if tag_ else name
    auth_ = _registry_auth(req.headers.get("x-registry-auth"))
    await trio.to_thread.run_sync(engine.images.get, ref)  # 404 before the headers go out

    def work(progress: Callable[[dict], None]) -> str:
        return engine.images.push(ref, progress, auth=auth_)

    return StreamResponse(_progress_stream(
        # the store's progress already said `<tag>: digest: ... size: ...`
        work, lambda digest: [{"aux": {"Tag": tag_ or "latest", "Digest": digest}}]))


async def auth(engine: Engine, req: Request) -> Response:
    """Docker's POST /auth: check credentials against the registry, then keep them (0600)."""
    body = req.json({}) or {}
    server, user = str(body.get("serveraddress") or ""), str(body.get("username") or "")
    if not user:
        raise BadParameter("username is required")
    password = str(body.get("password") or "")
    status = await trio.to_thread.run_sync(lambda: engine.images.login(server, user, password))
    return json_response({"Status": status, "IdentityToken": ""})


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/auth", auth),
    ("POST", "/images/prune", prune),
    ("POST", "/build/prune", build_prune),
    ("GET", "/images/{name:path}/history", history),
    ("POST", "/images/{name:path}/push", push),
    ("GET", "/images/json", list_images),
    ("POST", "/images/load", load),
    ("POST", "/images/create", create),
    ("GET", "/images/get", get),
    ("GET", "/images/{name:path}/json", inspect),
    ("GET", "/images/{name:path}/get", get),
    ("POST", "/images/{name:path}/tag", tag),
    ("DELETE", "/images/{name:path}", remove),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))


async def _save_stream(store: Any, names: list[str]) -> AsyncIterator[bytes]:
    fd, path = tempfile.mkstemp(prefix="save-", suffix=".tar")
    os.close(fd)
    try:
        def work() -> None:
            with open(path, "wb") as f:
                store.save(names, f)
        await trio.to_thread.run_sync(work)
        async with await trio.open_file(path, "rb") as f:
            while True:
                chunk = await f.read(1 << 20)
                if not chunk:
                    break
                yield chunk
    finally:
        os.unlink(path)


def _registry_auth(header: str | None) -> tuple[str, str] | None:
    """Docker's X-Registry-Auth: base64url JSON {"username", "password"}."""
    if not header:
        return None
    import base64
    try:
        data, _ = parse_json(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        data = conform(data, AUTH, AUTH.go)  # "Username" is username, as Go reads it
    except (ValueError, BadParameter):
        raise BadParameter("invalid X-Registry-Auth header") from None
    if not isinstance(data, dict) or not data.get("username"):
        return None
    return str(data["username"]), str(data.get("password") or "")


async def status_first(stream: AsyncIterator[bytes],
                       failure: dict[str, PycomposeError]) -> StreamResponse:
    """Docker sends a pull's 200 with its first progress line: a pull that fails before any
    (no such repository, registry unreachable, bad name) is answered with the error's own
    status instead of a 200 whose body holds the error. Our store says "Pulling from" before
    it asks the registry, so that line waits for the next one."""
    held: list[bytes] = []
    while True:   # the opening "Pulling from" line is said before the registry answered
        try:
            chunk = await stream.__anext__()
        except StopAsyncIteration:
            break
        held.append(chunk)
        if not chunk.startswith(b'{"status": "Pulling from '):
            break
    if "error" in failure and held and held[-1].startswith(b'{"errorDetail"'):
        await stream.aclose()   # type: ignore[attr-defined]
        raise failure["error"]

    async def body() -> AsyncIterator[bytes]:
        for chunk in held:
            yield chunk
        async for chunk in stream:
            yield chunk

    return StreamResponse(body())


def clear_build_cache(cache: Any) -> list[str]:
    """Forget every step of the build cache; the keys forgotten."""
    keys = [p.name for p in cache.dir.iterdir() if not p.name.startswith(".")]
    for key in keys:
        cache.forget(key)
    return sorted(keys)


def _ref_matches(tag: str, pattern: str) -> bool:
    import fnmatch
    return fnmatch.fnmatch(tag, pattern) or fnmatch.fnmatch(tag, pattern + ":*")


def _label_ok(labels: dict, flt: str) -> bool:
    key, eq, value = flt.partition("=")
    return key in labels and (not eq or labels[key] == value)
