"""POST /build (Docker's API: a tar context body, JSON lines back) and
POST /pycompose/images/bootstrap (a Debian base image made with mmdebstrap).

Secrets: Docker hands them over a BuildKit session, which we do not have. pycompose clients send
them in the header `X-Pycompose-Build-Secrets`: base64 of a JSON object {"<id>": "<base64
content>"} — a header, not the query, so the content never lands in a URL or a log line. The
daemon keeps each in a 0600 file for the duration of the build only.

Handlers are plain functions in a table (ROUTES) over a `BuildService`: the engine and the one
Builder made at registration (it cleans up what a crashed build left first).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import Request, StreamResponse
from engine.api.progress import error_line as _error_line, json_line as _line, progress_stream
from engine.api.router import Router
from engine.api.validate import adder
from engine.build import stepnet
from engine.build.bootstrap import bootstrap
from engine.build.builder import BuildError, Builder, BuildOptions
from engine.build.stepnet import StepNetwork
from engine.build.context import BuildContext
from engine.errors import BadParameter, PycomposeError

SECRETS_HEADER = "x-pycompose-build-secrets"


def _json_arg(req: Request, name: str) -> dict[str, str]:
    raw = req.arg(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadParameter(f"invalid JSON in query parameter {name!r}") from None
    if not isinstance(value, dict):
        raise BadParameter(f"query parameter {name!r} must be a JSON object")
    # Docker sends null for an arg given without a value and not set in the environment.
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _secrets(req: Request) -> dict[str, bytes]:
    raw = req.headers.get(SECRETS_HEADER)
    if not raw:
        return {}
    try:
        doc = json.loads(base64.b64decode(raw, validate=True))
        return {str(k): base64.b64decode(v, validate=True) for k, v in doc.items()}
    except (ValueError, binascii.Error, AttributeError, TypeError, RecursionError):
        raise BadParameter("invalid X-Pycompose-Build-Secrets header (base64 JSON of "
                           "{id: base64 content})") from None


def _json_list(req: Request, name: str) -> tuple[str, ...]:
    """A query parameter holding a JSON array of strings (`cachefrom`)."""
    raw = req.arg(name)
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadParameter(f"invalid JSON in query parameter {name!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadParameter(f"query parameter {name!r} must be a JSON array of strings")
    return tuple(v for v in value if v)


def build_options(req: Request) -> BuildOptions:
    """The query of POST /build -> BuildOptions (secrets are added by the handler)."""
    return BuildOptions(dockerfile=req.arg("dockerfile") or "Dockerfile",
                        tags=tuple(t for t in req.args("t") if t),
                        build_args=_json_arg(req, "buildargs"),
                        target=req.arg("target") or None,
                        no_cache=req.bool_arg("nocache"),
                        pull=req.bool_arg("pull"),
                        labels=_json_arg(req, "labels"),
                        network=stepnet.build_network(req.arg("networkmode")),
                        extra_hosts=stepnet.parse_extra_hosts(req.args("extrahosts")),
                        cache_from=_json_list(req, "cachefrom"))


@dataclass(frozen=True)
class BuildService:
    """What the build routes work with: the engine and its one builder."""

    engine: Engine
    builder: Builder


Handler = Callable[[BuildService, Request], Awaitable[StreamResponse]]


async def _network_of(svc: BuildService, network: StepNetwork) -> StepNetwork:
    """A user network named for the build, checked before the stream starts (an unknown one
    is a 404 naming it) and kept by id (a rename during the build does not matter)."""
    if network.kind != stepnet.NETWORK:
        return network
    networks = svc.builder.networks
    if networks is None:
        raise BadParameter(f"networkmode {network.network!r}: this engine has no networks")
    ready = getattr(svc.engine.manager, "networks_ready", None)
    if ready is not None:
        await ready.wait()
    net = await trio.to_thread.run_sync(networks.get, network.network)
    return StepNetwork(stepnet.NETWORK, net.id)


async def build(svc: BuildService, req: Request) -> StreamResponse:
    options = build_options(req)
    options = replace(options, network=await _network_of(svc, options.network))
    secrets = _secrets(req)
    return StreamResponse(_build_stream(svc.builder, req, options, secrets,
                                        quiet=req.bool_arg("q")))


async def bootstrap_image(svc: BuildService, req: Request) -> StreamResponse:
    include = [p for item in req.args("include") for p in item.split(",") if p]
    ref = req.arg("ref") or "debian:bookworm"
    kwargs: dict[str, Any] = dict(suite=req.arg("suite") or None,
                                  mirror=req.arg("mirror") or None, include=include,
                                  variant=req.arg("variant") or "minbase",
                                  force=req.bool_arg("force"))

    def work(progress: Callable[[dict], None]) -> Any:
        return bootstrap(svc.engine.images, ref, progress=progress, **kwargs)

    # unbounded: every line of the bootstrap's log reaches the client
    return StreamResponse(progress_stream(work, lambda image: [{"aux": {"ID": image.id}}],
                                          buffer=math.inf))


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/build", build),
    ("POST", "/pycompose/images/bootstrap", bootstrap_image),
)


def register(router: Router, engine: Engine) -> None:
    root = Path(engine.config.root) / "build"
    builder = Builder(engine.images, engine.manager.runtime, engine.manager.cgroups, root,
                      networks=getattr(engine, "networks", None))
    builder.cleanup_stale()
    svc = BuildService(engine, builder)
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(svc, req))


def build_error_line(exc: PycomposeError) -> bytes:
    """Docker's error object; a failed RUN's carries the command's exit code as
    errorDetail.code (the classic builder's JSONError code; clients read it)."""
    line = _error_line(exc.message)
    if isinstance(exc, BuildError):
        doc = json.loads(line)
        doc["errorDetail"] = {"code": exc.code, "message": doc["errorDetail"]["message"]}
        line = _line(doc)
    return line


async def _build_stream(builder: Builder, req: Request, options: BuildOptions,
                        secrets: dict[str, bytes], *, quiet: bool = False
                        ) -> AsyncIterator[bytes]:
    """The build's messages as JSON lines; with `quiet` (docker build -q) only the image ID."""
    send, receive = trio.open_memory_channel[dict](math.inf)
    workdir = Path(tempfile.mkdtemp(dir=builder.work, prefix="ctx-"))
    failure: list[PycomposeError] = []

    async def run() -> None:
        async with send:
            try:
                secret_files: dict[str, str] = {}
                for ident, data in secrets.items():
                    path = workdir / f"secret-{len(secret_files)}"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    secret_files[ident] = str(path)
                opts = replace(options, secrets=secret_files)

                def extract() -> BuildContext:
                    req.body.seek(0)
                    return BuildContext.from_tar(req.body, workdir / "context")

                context = await trio.to_thread.run_sync(extract)
                await builder.build(context, opts, send.send_nowait)
            except PycomposeError as exc:
                failure.append(exc)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            async for msg in receive:
                if not quiet:
                    yield _line(msg)
                elif "aux" in msg:
                    yield _line({"stream": msg["aux"]["ID"] + "\n"})
        if failure:
            yield build_error_line(failure[0])
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, workdir, True)


