"""What the route handlers work on: the daemon's stores and managers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from engine.config import EngineConfig
from engine.containers.manager import ContainerManager
from engine.volumes import VolumeStore


@dataclass
class Engine:
    config: EngineConfig
    manager: ContainerManager
    images: Any                  # engine.images.store.ImageStore
    volumes: VolumeStore
    networks: Any = None         # netbridge NetworkManager
    request_shutdown: Callable[[], None] = lambda: None
    info_extra: dict = field(default_factory=dict)
