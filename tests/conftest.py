from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Integration tests need root (real namespaces, mounts, cgroups). CI runs as root, so this
    never hides anything there; it only keeps a non-root developer's run meaningful."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="integration test: needs root")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)
