"""Start the engine daemon with POST /build registered even before engine/api/app.py lists
routes_build (once it does, the route is registered twice; the first one wins, same handler)."""
from __future__ import annotations

import sys

import engine.api.app as app
from engine.api import routes_build

_original = app.build_router


def _with_build(engine):
    router = _original(engine)
    routes_build.register(router, engine)
    return router


app.build_router = _with_build

if __name__ == "__main__":
    from engine.daemon import main
    sys.exit(main())
