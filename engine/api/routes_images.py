"""/images/... endpoints over the image store (its methods are synchronous: worker threads)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import trio

from engine.api.context import Engine
from engine.api.loadreport import archive_tags, loaded_lines
from engine.api.http import Request, Response, StreamResponse, json_response
from engine.api.progress import progress_stream as _progress_stream
from engine.api.router import Router
from engine.api.shapes import AUTH
from engine.api.validate import adder, check, parse_json
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


def register(router: Router, engine: Engine) -> None:
    store = engine.images

    async def list_(req: Request) -> Response:
        filters = req.filters()
        images = await trio.to_thread.run_sync(store.list)
        hidden = set() if req.bool_arg("all") else intermediates(images)
        out = []
        for image in images:
            if image.id in hidden:
                continue
            patterns = filters.get("reference")
            tags = matching_refs(image.repo_tags, patterns) if patterns else image.repo_tags
            if patterns and not tags:
                continue
            if filters.get("dangling") and (filters["dangling"][0] in ("1", "true")) \
                    != (not image.repo_tags):
                continue
            if filters.get("label") and not all(
                    _label_ok(image.config.get("Labels") or {}, f) for f in filters["label"]):
                continue
            summary = store.summary(image)
            if patterns:
                summary["RepoTags"] = tags
                summary["RepoDigests"] = matching_refs(summary.get("RepoDigests") or [],
                                                       patterns)
            out.append(summary)
        return json_response(out)

    async def inspect(req: Request) -> Response:
        return json_response(await trio.to_thread.run_sync(store.inspect, req.params["name"]))

    async def remove(req: Request) -> Response:
        name, force = req.params["name"], req.bool_arg("force")
        image = await trio.to_thread.run_sync(store.get, name)
        users = [r for r in engine.manager.store.all() if r.image_id == image.id]
        if users and not force and (name == image.id or name.startswith("sha256:")
                                    or len(image.repo_tags) <= 1):
            raise Conflict(f"conflict: unable to remove repository reference \"{name}\" "
                           f"(must force) - container {users[0].short_id} is using its "
                           f"referenced image {image.id[7:19]}")
        prune = not req.bool_arg("noprune")
        return json_response(await trio.to_thread.run_sync(
            lambda: store.remove(name, force, prune=prune)))

    async def load(req: Request) -> StreamResponse:

        def work(progress: Callable[[dict], None]) -> tuple[list, set[str]]:
            req.body.seek(0)
            images = store.load(req.body)
            return images, archive_tags(req.body)

        def done(result: tuple[list, set[str]]) -> list[dict]:
            images, named = result
            return [{"stream": line} for image in images for line in loaded_lines(image, named)]

        return StreamResponse(_progress_stream(work, done))

    async def create(req: Request) -> StreamResponse:
        src, from_image = req.arg("fromSrc"), req.arg("fromImage")
        tag = req.arg("tag") or ""
        if src:
            if src != "-":
                raise BadParameter("only fromSrc=- (the request body) is supported")
            repo = req.arg("repo") or ""
            ref = (f"{repo}:{tag}" if tag else repo) or None
            changes = req.args("changes")
            # a bad name or change is a 400 before the stream starts, as Docker answers it
            if ref:
                reference.parse(ref)
            apply_changes({}, list(changes))

            def work(progress: Callable[[dict], None]) -> Any:
                req.body.seek(0)
                return store.import_rootfs(req.body, ref, changes)

            return StreamResponse(_progress_stream(work, lambda img: [{"status": img.id}]))
        if from_image:
            ref = from_image
            if tag and "@" not in from_image:
                ref = f"{from_image}:{tag}" if ":" not in from_image.rsplit("/", 1)[-1] \
                    else from_image
            platform = req.arg("platform") or None

            failure: dict[str, PycomposeError] = {}

            def pull(progress: Callable[[dict], None]) -> Any:
                try:
                    return store.pull(ref, platform, progress)
                except PycomposeError as exc:
                    failure["error"] = exc
                    raise

            # the store's progress already ends with the Digest:/Status: lines
            return await status_first(_progress_stream(pull, lambda img: []), failure)
        raise BadParameter("fromSrc or fromImage is required")

    async def tag(req: Request) -> Response:
        repo, tag_ = req.arg("repo"), req.arg("tag")
        if not repo:
            raise BadParameter("repository name is required (repo)")
        ref = f"{repo}:{tag_}" if tag_ else repo
        await trio.to_thread.run_sync(store.tag, req.params["name"], ref)
        return Response(201, b"", None)

    async def get(req: Request) -> StreamResponse:
        names = req.args("names") or ([req.params["name"]] if "name" in req.params else [])
        if not names:
            raise BadParameter("names is required")
        for n in names:
            await trio.to_thread.run_sync(store.get, n)  # 404 before the headers go out
        return StreamResponse(_save_stream(store, names), "application/x-tar")

    async def prune(req: Request) -> Response:
        filters = req.filters()
        dangling = filters.get("dangling", ["true"])[0].lower() not in ("0", "false")
        return json_response(await trio.to_thread.run_sync(
            lambda: store.prune(dangling_only=dangling, in_use=engine.manager.image_in_use)))

    async def build_prune(req: Request) -> Response:
        # `docker system prune` calls it and fails on a 404. Our build cache is the step map
        # (engine.build.cache): emptied, every next step is built again. The step images stay
        # until nothing builds on them (a removal of their tagged child takes them along).
        from engine.build.cache import LayerCache

        cache = LayerCache(Path(engine.config.root) / "build" / "cache")
        deleted = await trio.to_thread.run_sync(clear_build_cache, cache)
        return json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": 0})

    async def history(req: Request) -> Response:
        return json_response(await trio.to_thread.run_sync(store.history, req.params["name"]))

    async def push(req: Request) -> StreamResponse:
        name, tag_ = req.params["name"], req.arg("tag")
        ref = f"{name}:{tag_}" if tag_ else name
        auth = _registry_auth(req.headers.get("x-registry-auth"))
        await trio.to_thread.run_sync(store.get, ref)  # 404 before the headers go out

        def work(progress: Callable[[dict], None]) -> str:
            return store.push(ref, progress, auth=auth)

        return StreamResponse(_progress_stream(
            # the store's progress already said `<tag>: digest: ... size: ...`
            work, lambda digest: [{"aux": {"Tag": tag_ or "latest", "Digest": digest}}]))

    async def auth(req: Request) -> Response:
        """Docker's POST /auth: check credentials against the registry, then keep them (0600)."""
        body = req.json({}) or {}
        server, user = str(body.get("serveraddress") or ""), str(body.get("username") or "")
        if not user:
            raise BadParameter("username is required")
        password = str(body.get("password") or "")
        status = await trio.to_thread.run_sync(lambda: store.login(server, user, password))
        return json_response({"Status": status, "IdentityToken": ""})

    add = adder(router)
    add("POST", "/auth", auth)
    add("POST", "/images/prune", prune)
    add("POST", "/build/prune", build_prune)
    add("GET", "/images/{name:path}/history", history)
    add("POST", "/images/{name:path}/push", push)
    add("GET", "/images/json", list_)
    add("POST", "/images/load", load)
    add("POST", "/images/create", create)
    add("GET", "/images/get", get)
    add("GET", "/images/{name:path}/json", inspect)
    add("GET", "/images/{name:path}/get", get)
    add("POST", "/images/{name:path}/tag", tag)
    add("DELETE", "/images/{name:path}", remove)


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
        check(data, AUTH, AUTH.go)
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
