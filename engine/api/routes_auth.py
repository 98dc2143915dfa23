"""DELETE /pycompose/auth: forget the registry credentials the engine keeps (`pycompose logout`).

The engine, not the CLI, talks to registries, so the credentials live in its state root
(engine/images/auth.py) and only the engine writes them: POST /auth (Docker's) checks and stores
them, this route removes them. Docker has no logout endpoint (its CLI edits its own
~/.docker/config.json), so ours lives under /pycompose.
"""
from __future__ import annotations

from typing import Awaitable, Callable

import trio

from engine.api.context import Engine
from engine.api.http import Request, Response, json_response
from engine.api.router import Router
from engine.api.validate import adder
from engine.images.transfer import server_host

Handler = Callable[[Engine, Request], Awaitable[Response]]


async def logout(engine: Engine, req: Request) -> Response:
    host = server_host(req.arg("serveraddress") or "")   # "" is Docker Hub, as for login
    removed = await trio.to_thread.run_sync(engine.images.credentials.remove, host)
    return json_response({"ServerAddress": host, "Removed": removed})


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("DELETE", "/pycompose/auth", logout),
)


def register(router: Router, engine: Engine) -> None:
    add = adder(router)
    for method, template, handler in ROUTES:
        add(method, template, lambda req, h=handler: h(engine, req))
