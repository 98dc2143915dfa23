"""The full route table for the daemon."""
from __future__ import annotations

import logging

from engine.api import (routes_auth, routes_containers, routes_explain, routes_files,
                        routes_images, routes_system, routes_volumes)
from engine.api.context import Engine
from engine.api.router import Router


def build_router(engine: Engine) -> Router:
    router = Router()
    routes_system.register(router, engine)
    routes_containers.register(router, engine)
    routes_images.register(router, engine)
    routes_auth.register(router, engine)
    routes_volumes.register(router, engine)
    if engine.networks is not None:
        from engine.api import routes_networks
        routes_networks.register(router, engine)
    try:  # image builds (owner: build); the rest of the API must not depend on it loading
        from engine.api import routes_build
        routes_build.register(router, engine)
    except Exception:
        logging.getLogger("engine.api").exception("image builds are unavailable")
    # last: cp/diff/commit/... are rare next to create/start/exec, which match before them
    routes_files.register(router, engine)
    routes_explain.register(router, engine)
    return router
