"""Where the engine keeps its state and listens, and the proxies it reports; read once from an
environment the caller passes in (the process's own only at an edge: the daemon's main, a CLI)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/var/lib/pycompose"
DEFAULT_HOST = "unix:///run/pycompose/engine.sock"
DEFAULT_ADDRESS_POOL = "10.201.0.0/16"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY",
                   "no_proxy")


@dataclass(frozen=True)
class EngineConfig:
    root: Path
    socket_path: Path
    address_pool: str = DEFAULT_ADDRESS_POOL
    # (name, value) of the proxy variables set, upper and lower case, as /info shows them
    proxies: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "EngineConfig":
        host = env.get("PYCOMPOSE_HOST", DEFAULT_HOST)
        if not host.startswith("unix://"):
            from engine.errors import BadParameter

            raise BadParameter(f"PYCOMPOSE_HOST must be a unix:// address, got {host!r}")
        return cls(
            root=Path(env.get("PYCOMPOSE_ROOT", DEFAULT_ROOT)),
            socket_path=Path(host[len("unix://"):]),
            address_pool=env.get("PYCOMPOSE_ADDRESS_POOL", DEFAULT_ADDRESS_POOL),
            proxies=tuple((name, env[name]) for name in PROXY_VARIABLES if name in env),
        )
