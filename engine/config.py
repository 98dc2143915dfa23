"""Where the engine keeps its state and listens; read once from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/var/lib/pycompose"
DEFAULT_HOST = "unix:///run/pycompose/engine.sock"
DEFAULT_ADDRESS_POOL = "10.201.0.0/16"


@dataclass(frozen=True)
class EngineConfig:
    root: Path
    socket_path: Path
    address_pool: str = DEFAULT_ADDRESS_POOL

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] | None = None) -> "EngineConfig":
        env = os.environ if env is None else env
        host = env.get("PYCOMPOSE_HOST", DEFAULT_HOST)
        if not host.startswith("unix://"):
            from engine.errors import BadParameter

            raise BadParameter(f"PYCOMPOSE_HOST must be a unix:// address, got {host!r}")
        return cls(
            root=Path(env.get("PYCOMPOSE_ROOT", DEFAULT_ROOT)),
            socket_path=Path(host[len("unix://"):]),
            address_pool=env.get("PYCOMPOSE_ADDRESS_POOL", DEFAULT_ADDRESS_POOL),
        )
