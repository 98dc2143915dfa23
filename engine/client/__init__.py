"""The client side: what talks to the engine daemon only through its API (Docker Engine API
v1.41 over the engine's unix socket), never by importing the daemon's packages (.importlinter).

    api, http, streams   the API client (one method per endpoint)
    autostart            starting the daemon when its socket does not answer
    build                packing a build context (.dockerignore) for POST /build; bootstrap
    cli/                 the engine verbs: pycompose container|image|volume|network|engine|...

    from engine.client import Client
    client = Client.from_env()            # starts the daemon if it is not running
    cid = client.create_container({"Image": "busybox", "Cmd": ["true"]})["Id"]
"""
from __future__ import annotations

__all__ = ["API_VERSION", "Client", "FrameDecoder", "Hijacked", "STDERR", "STDIN", "STDOUT",
           "engine_root"]
_FROM_STREAMS = {"FrameDecoder", "Hijacked", "STDERR", "STDIN", "STDOUT"}


def __getattr__(name: str):
    # Lazy: importing a CLI verb (engine.client.cli.*) must not pay for the HTTP client
    # (json, socket, urllib) before the command asks for a connection.
    if name in _FROM_STREAMS:
        from engine.client import streams
        return getattr(streams, name)
    if name in ("API_VERSION", "Client", "engine_root"):
        from engine.client import api
        return getattr(api, name)
    raise AttributeError(name)
