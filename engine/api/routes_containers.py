"""/containers/... and /exec/... endpoints."""
from __future__ import annotations

import json
import time
from typing import AsyncIterator

import trio

from engine.api.context import Engine
from engine.api.http import (HijackResponse, Request, Response, StreamResponse, empty_response,
                             json_response)
from engine.api.router import Router
from engine.api.validate import adder
from engine.api.streams import framed, pump_session
from engine.containers.detachkeys import parse_detach_keys
from engine.containers.logs import LogQuery, parse_since, parse_tail
from engine.containers.manager import NotModified
from engine.containers.model import parse_console_size, parse_signal
from engine.api.framing import frame
from engine.api.http import RawConnection
from engine.errors import BadParameter, NotFound, PycomposeError

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


def register(router: Router, engine: Engine) -> None:
    mgr = engine.manager

    async def create(req: Request) -> Response:
        rec, warnings = await mgr.create(req.json({}), req.arg("name"))
        return json_response({"Id": rec.id, "Warnings": warnings}, 201)

    async def list_(req: Request) -> Response:
        return json_response(mgr.list(all_=req.bool_arg("all"), filters=req.filters(),
                                      limit=req.int_arg("limit")))

    async def inspect(req: Request) -> Response:
        return json_response(mgr.inspect(req.params["id"]))

    async def start(req: Request) -> Response:
        try:
            await mgr.start(req.params["id"])
        except NotModified:
            return empty_response(304)
        return empty_response(204)

    async def stop(req: Request) -> Response:
        try:
            await mgr.stop(req.params["id"], req.int_arg("t"))
        except NotModified:
            return empty_response(304)
        return empty_response(204)

    async def kill(req: Request) -> Response:
        sig = parse_signal(req.arg("signal") or "SIGKILL", "signal")
        await mgr.kill(req.params["id"], sig)
        return empty_response(204)

    async def restart(req: Request) -> Response:
        await mgr.restart(req.params["id"], req.int_arg("t"))
        return empty_response(204)

    async def wait(req: Request) -> StreamResponse:
        # Errors a client must see as a status (no such container, bad condition) are checked
        # before the head goes out; then the 200 head is sent at once (like Docker), so a client
        # can wait for `removed` before it starts the container; the body follows at the end.
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

    async def remove(req: Request) -> Response:
        await mgr.remove(req.params["id"], force=req.bool_arg("force"), volumes=req.bool_arg("v"))
        return empty_response(204)

    async def logs(req: Request) -> StreamResponse:
        stdout, stderr = req.bool_arg("stdout"), req.bool_arg("stderr")
        if not (stdout or stderr):
            raise BadParameter("You must choose at least one stream")
        query = LogQuery(stdout=stdout, stderr=stderr,
                         since_ns=parse_since(req.arg("since"), "since"),
                         until_ns=parse_since(req.arg("until"), "until"),
                         tail=parse_tail(req.arg("tail")),
                         timestamps=req.bool_arg("timestamps"))
        rec = mgr.get(req.params["id"])
        chunks = await mgr.logs(rec.id, query, req.bool_arg("follow"))
        tty = rec.config.tty
        return StreamResponse(framed(chunks, tty), RAW if tty else MUX)

    async def attach(req: Request) -> HijackResponse:
        rec = mgr.get(req.params["id"])
        keys = parse_detach_keys(req.arg("detachKeys"))   # a bad spelling: 400 before the 101
        session = await mgr.attach(rec.id, stdin=req.bool_arg("stdin"),
                                   stdout=req.bool_arg("stdout"), stderr=req.bool_arg("stderr"),
                                   logs=req.bool_arg("logs"), stream=req.bool_arg("stream"))
        # as Docker, only a TTY's input is watched for the detach keys
        return HijackResponse(
            lambda conn: pump_session(conn, session, keys if rec.config.tty else None),
            RAW if rec.config.tty else MUX)

    async def resize(req: Request) -> Response:
        h, w = req.int_arg("h", 0), req.int_arg("w", 0)
        mgr.resize(req.params["id"], h or 0, w or 0)
        return Response(200, b"", "text/plain")

    async def top(req: Request) -> Response:
        return json_response(await mgr.top(req.params["id"], req.arg("ps_args")))

    async def stats(req: Request) -> Response | StreamResponse:
        stream = req.bool_arg("stream", True) and not req.bool_arg("one-shot")
        samples = mgr.stats(req.params["id"], stream)
        if not stream:
            try:
                return json_response(await samples.__anext__())
            finally:
                await samples.aclose()

        async def body():
            async for doc in samples:
                yield json.dumps(doc).encode() + b"\n"

        return StreamResponse(body())

    async def pause(req: Request) -> Response:
        await mgr.pause(req.params["id"])
        return empty_response(204)

    async def unpause(req: Request) -> Response:
        await mgr.unpause(req.params["id"])
        return empty_response(204)

    # exec
    async def exec_create(req: Request) -> Response:
        return json_response({"Id": mgr.execs.create(req.params["id"], req.json({}))}, 201)

    async def exec_start(req: Request) -> Response | HijackResponse:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise BadParameter("body: expected a JSON object")
        eid = req.params["id"]
        size = parse_console_size(body.get("ConsoleSize"), "ConsoleSize")
        if body.get("Detach"):
            await mgr.execs.start(eid, detach=True, tty=body.get("Tty"), console_size=size)
            return Response(200, b"", None)
        inst = mgr.execs.check_startable(eid)

        async def run(conn: RawConnection) -> None:
            # The process starts only after the 101 went out: a client that reads the response
            # head through a buffered reader (docker-py) would otherwise swallow early output.
            try:
                session = await mgr.execs.start(eid, detach=False, tty=body.get("Tty"),
                                                console_size=size)
            except PycomposeError as exc:
                await conn.send_all(frame(2, exc.message.encode() + b"\n"))
                return
            assert session is not None
            await pump_session(conn, session, inst.detach_keys if inst.tty else None)

        # framed by the start's Tty when it says (Docker's rule), else by the exec's own
        tty = inst.tty if body.get("Tty") is None else bool(body.get("Tty"))
        return HijackResponse(run, RAW if tty else MUX)

    async def exec_inspect(req: Request) -> Response:
        return json_response(mgr.execs.inspect(req.params["id"]))

    async def exec_resize(req: Request) -> Response:
        mgr.execs.resize(req.params["id"], req.int_arg("h", 0) or 0, req.int_arg("w", 0) or 0)
        return Response(201, b"", None)

    async def rename(req: Request) -> Response:
        name = req.arg("name")
        if not name:
            raise BadParameter("name is required")
        await mgr.rename(req.params["id"], name)
        return empty_response(204)

    async def prune(req: Request) -> Response:
        deleted, reclaimed = await mgr.prune(req.filters())
        return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    async def events(req: Request) -> StreamResponse:
        from engine.containers.events import matches

        filters = req.filters()
        since = parse_since(req.arg("since"), "since")
        until = parse_since(req.arg("until"), "until")
        live = mgr.events.subscribe() if until is None or until > time.time_ns() else None

        # as docker: the buffered history only when asked for a time range, else live events only
        past = mgr.events.history(since, until) if since is not None or until is not None else []

        async def body():
            for ev in past:
                if matches(ev, filters):
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
                    if matches(ev, filters):
                        yield json.dumps(ev).encode() + b"\n"

        return StreamResponse(body())

    add = adder(router)
    add("POST", "/containers/prune", prune)
    add("POST", "/containers/{id}/rename", rename)
    add("GET", "/events", events)
    add("POST", "/containers/create", create)
    add("GET", "/containers/json", list_)
    add("GET", "/containers/{id}/json", inspect)
    add("POST", "/containers/{id}/start", start)
    add("POST", "/containers/{id}/stop", stop)
    add("POST", "/containers/{id}/kill", kill)
    add("POST", "/containers/{id}/restart", restart)
    add("POST", "/containers/{id}/wait", wait)
    add("DELETE", "/containers/{id}", remove)
    add("GET", "/containers/{id}/logs", logs)
    add("POST", "/containers/{id}/attach", attach)
    add("POST", "/containers/{id}/resize", resize)
    add("GET", "/containers/{id}/top", top)
    add("GET", "/containers/{id}/stats", stats)
    add("POST", "/containers/{id}/pause", pause)
    add("POST", "/containers/{id}/unpause", unpause)
    add("POST", "/containers/{id}/exec", exec_create)
    add("POST", "/exec/{id}/start", exec_start)
    add("GET", "/exec/{id}/json", exec_inspect)
    add("POST", "/exec/{id}/resize", exec_resize)
