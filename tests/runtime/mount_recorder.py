"""Fixtures shared by the mount-target tests (test_mount_paths, test_mount_links_sys_dev):
import them by name into a test module.

`mode` runs a test with openat2 and with the user-space resolution of kernels before 5.6;
`recorded` replaces `sc.mount` by a recorder of where each mount would *really* land."""
from __future__ import annotations

import os

import pytest

from engine.runtime import rootpath
from engine.runtime import syscalls as sc


@pytest.fixture(params=["openat2", "fallback"])
def mode(request, monkeypatch):
    monkeypatch.setattr(rootpath, "use_openat2", request.param == "openat2")
    return request.param


def _landing(path: str | None) -> str | None:
    """What the kernel would land on: the object an fd refers to (its path now, read once:
    resolving that string again would race as the code under test must not), or for a plain
    path, every host symlink on the way followed; a source like "tmpfs" stays as written."""
    if path and path.startswith("/proc/self/fd/"):
        return os.readlink(path)
    return os.path.realpath(path) if path and path.startswith("/") else path


@pytest.fixture
def recorded(monkeypatch) -> list[tuple]:
    """(source, target, fstype, flags) of every mount asked for, in order; none is made."""
    calls: list[tuple] = []

    def fake_mount(source, target, fstype, flags=0, data=None):
        calls.append((_landing(source), _landing(target), fstype, flags))

    monkeypatch.setattr(sc, "mount", fake_mount)
    return calls
