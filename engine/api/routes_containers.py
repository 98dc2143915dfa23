"""/containers/..., /exec/... and /events endpoints. Handlers are plain functions in a table
(the pattern of routes_files); the work lives in engine.containers."""
from __future__ import annotations

import json
import time
from typing import AsyncIterator, Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import (HijackResponse, Request, Response, StreamResponse, empty_response,
                             json_response)
from engine.api.router import Router
from engine.api.validate import adder
from engine.api.streams import framed, pump_session
from engine.containers.detachkeys import parse_detach_keys
from engine.containers.events import matches as event_matches
from engine.containers.logs import LogQuery, parse_since, parse_tail
from engine.containers.manager import NotModified
from engine.containers.model import parse_console_size, parse_signal
from engine.api.framing import frame
from engine.api.http import RawConnection
from engine.errors import BadParameter, NotFound, PycomposeError

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


async def create(engine: Engine, req: Request) -> Response:
    rec, warnings = await engine.manager.create(req.json({}), req.arg("name"))
    return json_response({"Id": rec.id, "Warnings": warnings}, 201)


async def list_(engine: Engine, req: Request) -> Response:
    return json_response(engine.manager.list(all_=req.bool_arg("all"), filters=req.filters(),
                                              limit=req.int_arg("limit")))


async def inspect(engine: Engine, req: Request) -> Response:
    return json_response(engine.manager.inspect(req.params["id"]))


async def start(engine: Engine, req: Request) -> Response:
    try:
        await engine.manager.start(req.params["id"])
    except NotModified:
        return empty_response(304)
    return empty_response(204)


async def stop(engine: Engine, req: Request) -> Response:
    try:
        await engine.manager.stop(req.params["id"], req.int_arg("t"))
    except NotModified:
        return empty_response(304)
    return empty_response(204)


async def kill(engine: Engine, req: Request) -> Response:
    sig = parse_signal(req.arg("signal") or "SIGKILL", "signal")
    await engine.manager.kill(req.params["id"], sig)
    return empty_response(204)


async def restart(engine: Engine, req: Request) -> Response:
    await engine.manager.restart(req.params["id"], req.int_arg("t"))
    return empty_response(204)


async def wait(engine: Engine, req: Request) -> StreamResponse:
    # Errors a client must see as a status (no such container, bad condition) are checked
    # before the head goes out; then the 200 head is sent at once (like Docker), so a client
    # can wait for `removed` before it starts the container; the body follows at the end.
    mgr = engine.manager
    rec = mgr.get(req.params["id"])
    condition = req.arg("condition") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise BadParameter(f"invalid condition: {condition!r}")

    async def body() -> AsyncIterator[bytes]:
        try:
            result = await mgr.wait(rec.id, condition)
        except NotFound:  # removed before the wait began: that ends every condition
            result = {"StatusCode": rec.state.exit_code, "Error": None}
        yield json.dumps(result).encode() + b"\n"

    return StreamResponse(body())


async def remove(engine: Engine, req: Request) -> Response:
    await engine.manager.remove(req.params["id"], force=req.bool_arg("force"),
                                volumes=req.bool_arg("v"))
    return empty_response(204)


async def logs(engine: Engine, req: Request) -> StreamResponse:
    stdout, stderr = req.bool_arg("stdout"), req.bool_arg("stderr")
    if not (stdout or stderr):
        raise BadParameter("You must choose at least one stream")
    query = LogQuery(stdout=stdout, stderr=stderr,
                     since_ns=parse_since(req.arg("since"), "since"),
                     until_ns=parse_since(req.arg("until"), "until"),
                     tail=parse_tail(req.arg("tail")),
                     timestamps=req.bool_arg("timestamps"))
    rec = engine.manager.get(req.params["id"])
    chunks = await engine.manager.logs(rec.id, query, req.bool_arg("follow"))
    tty = rec.config.tty
    return StreamResponse(framed(chunks, tty), RAW if tty else MUX)


async def attach(engine: Engine, req: Request) -> HijackResponse:
    rec = engine.manager.get(req.params["id"])
    keys = parse_detach_keys(req.arg("detachKeys"))   # a bad spelling: 400 before the 101
    session = await engine.manager.attach(
        rec.id, stdin=req.bool_arg("stdin"), stdout=req.bool_arg("stdout"),
        stderr=req.bool_arg("stderr"), logs=req.bool_arg("logs"), stream=req.bool_arg("stream"))
    # as Docker, only a TTY's input is watched for the detach keys
    return HijackResponse(
        lambda conn: pump_session(conn, session, keys if rec.config.tty else None),
        RAW if rec.config.tty else MUX)


async def resize(engine: Engine, req: Request) -> Response:
    h, w = req.int_arg("h", 0), req.int_arg("w", 0)
    engine.manager.resize(req.params["id"], h or 0, w or 0)
    return Response(200, b"", "text/plain")


async def top(engine: Engine, req: Request) -> Response:
    return json_response(await engine.manager.top(req.params["id"], req.arg("ps_args")))


async def stats(engine: Engine, req: Request) -> Response | StreamResponse:
    stream = req.bool_arg("stream", True) and not req.bool_arg("one-shot")
    samples = engine.manager.stats(req.params["id"], stream)
    if not stream:
        try:
            return json_response(await samples.__anext__())
        finally:
            await samples.aclose()

    async def body() -> AsyncIterator[bytes]:
        async for doc in samples:
            yield json.dumps(doc).encode() + b"\n"

    return StreamResponse(body())


async def pause(engine: Engine, req: Request) -> Response:
    await engine.manager.pause(req.params["id"])
    return empty_response(204)


async def unpause(engine: Engine, req: Request) -> Response:
    await engine.manager.unpause(req.params["id"])
    return empty_response(204)


async def exec_create(engine: Engine, req: Request) -> Response:
    return json_response({"Id": engine.manager.execs.create(req.params["id"], req.json({}))},
                         201)


async def exec_start(engine: Engine, req: Request) -> Response | HijackResponse:
    execs = engine.manager.execs
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise BadParameter("body: expected a JSON object")
    eid = req.params["id"]
    size = parse_console_size(body.get("ConsoleSize"), "ConsoleSize")
    if body.get("Detach"):
        await execs.start(eid, detach=True, tty=body.get("Tty"), console_size=size)
        return Response(200, b"", None)
    inst = execs.check_startable(eid)

    async def run(conn: RawConnection) -> None:
        # The process starts only after the 101 went out: a client that reads the response
        # head through a buffered reader (docker-py) would otherwise swallow early output.
        try:
            session = await execs.start(eid, detach=False, tty=body.get("Tty"),
                                        console_size=size)
        except PycomposeError as exc:
            await conn.send_all(frame(2, exc.message.encode() + b"\n"))
            return
        assert session is not None
        await pump_session(conn, session, inst.detach_keys if inst.tty else None)

    # framed by the start's Tty when it says (Docker's rule), else by the exec's own
    tty = inst.tty if body.get("Tty") is None else bool(body.get("Tty"))
    return HijackResponse(run, RAW if tty else MUX)


async def exec_inspect(engine: Engine, req: Request) -> Response:
    return json_response(engine.manager.execs.inspect(req.params["id"]))


async def exec_resize(engine: Engine, req: Request) -> Response:
    engine.manager.execs.resize(req.params["id"], req.int_arg("h", 0) or 0,
                                req.int_arg("w", 0) or 0)
    return Response(201, b"", None)


async def rename(engine: Engine, req: Request) -> Response:
    name = req.arg("name")
    if not name:
        raise BadParameter("name is required")
    await engine.manager.rename(req.params["id"], name)
    return empty_response(204)


async def prune(engine: Engine, req: Request) -> Response:
    deleted, reclaimed = await engine.manager.prune(req.filters())
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


async def events(engine: Engine, req: Request) -> StreamResponse:
    bus = engine.manager.events
    filters = req.filters()
    since = parse_since(req.arg("since"), "since")
    until = parse_since(req.arg("until"), "until")
    live = bus.subscribe() if until is None or until > time.time_ns() else None
    # as docker: the buffered history only when asked for a time range, else live events only
    past = bus.history(since, until) if since is not None or until is not None else []
    return StreamResponse(_event_lines(past, live, filters, until))


async def _event_lines(past: list[dict], live: trio.MemoryReceiveChannel[dict] | None,
                       filters: dict[str, list[str]], until: int | None
                       ) -> AsyncIterator[bytes]:
    """The body of GET /events: the matching past events, then live ones until `until`."""
    for ev in past:
        if event_matches(ev, filters):
            yield json.dumps(ev).encode() + b"\n"
    if live is None:
        return
    deadline = (trio.current_time() + (until - time.time_ns()) / 1e9
                if until is not None else float("inf"))
    async with live:
        while True:
            # never yield inside a cancel scope: the consumer may close us from anywhere
            with trio.move_on_at(deadline):
                try:
                    ev = await live.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return
            if trio.current_time() >= deadline:
                return
            if event_matches(ev, filters):
                yield json.dumps(ev).encode() + b"\n"


Handler = Callable[[Engine, Request], Awaitable["Response | StreamResponse | HijackResponse"]]

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/containers/prune", prune),
    ("POST", "/containers/{id}/rename", rename),
    ("GET", "/events", events),
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/resize", resize),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/stats", stats),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("GET", "/exec/{id}/json", exec_inspect),
    ("POST", "/exec/{id}/resize", exec_resize),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
