from __future__ import annotations

from pathlib import Path

import pytest

from engine.images import ImageStore
from tests.support.busybox import make_busybox_tar


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_tar(tmp_path_factory.mktemp("busybox") / "busybox.tar")
