"""GET /pycompose/containers/{id}/explain: what makes one container a container (Docker has no
such endpoint, so it lives under /pycompose). The work is engine.containers.explain."""
from __future__ import annotations

from typing import Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import Request, Response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.containers.explain import explain_container

Handler = Callable[[Engine, Request], Awaitable[Response]]


async def explain(engine: Engine, req: Request) -> Response:
    # one worker-thread hop: it reads /proc, the cgroup files and walks the writable layer
    doc = await trio.to_thread.run_sync(explain_container, engine.manager, req.params["id"])
    return json_response(doc)


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/pycompose/containers/{id}/explain", explain),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
