"""The engine API client (Docker Engine API v1.41 over the engine's unix socket).

    from engine.client import Client
    client = Client.from_env()            # starts the daemon if it is not running
    cid = client.create_container({"Image": "busybox", "Cmd": ["true"]})["Id"]
"""
from __future__ import annotations

from engine.client.api import API_VERSION, Client
from engine.client.streams import STDERR, STDIN, STDOUT, FrameDecoder, Hijacked

__all__ = ["API_VERSION", "Client", "FrameDecoder", "Hijacked", "STDERR", "STDIN", "STDOUT"]
