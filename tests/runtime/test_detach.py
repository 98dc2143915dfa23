"""rootfs.detach / remove_later: an overlay leaves the mount table at once, its release (the
upper file system's sync) and the directory's removal finish on a background thread (root)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from engine.runtime import rootfs

pytestmark = pytest.mark.integration


@pytest.fixture
def overlay_dir():
    d = Path(tempfile.mkdtemp(prefix="pycompose-detach-"))
    for sub in ("lower", "upper", "work", "merged"):
        (d / sub).mkdir()
    (d / "lower" / "from-lower").write_text("lower\n")
    try:
        yield d
    finally:
        rootfs.wait_all_released(10)
        rootfs.unmount(d / "merged")
        shutil.rmtree(d, ignore_errors=True)


def _mount(d: Path) -> None:
    rootfs.mount_overlay([d / "lower"], d / "upper", d / "work", d / "merged")


def test_detach_leaves_the_mount_table_at_once_and_keeps_the_upper_data(overlay_dir):
    d = overlay_dir
    _mount(d)
    (d / "merged" / "written").write_text("upper\n")
    rootfs.detach(d / "merged")
    assert not rootfs.is_mounted(d / "merged")
    assert rootfs.wait_released(d / "merged", 10)
    assert (d / "upper" / "written").read_text() == "upper\n"
    # mounted again on the same dirs: the old overlay is gone, the data is there
    _mount(d)
    assert (d / "merged" / "written").read_text() == "upper\n"
    assert (d / "merged" / "from-lower").read_text() == "lower\n"
    rootfs.detach(d / "merged")
    rootfs.detach(d / "merged")          # not mounted any more: nothing to do
    rootfs.detach(d / "missing")         # no such dir: nothing to do
    assert rootfs.wait_all_released(10)


def test_mount_waits_for_a_pending_release_of_the_same_target(overlay_dir, monkeypatch):
    d = overlay_dir
    _mount(d)
    gate = threading.Event()
    real_close = os.close
    closing = threading.Event()

    def slow_close(fd: int) -> None:
        if threading.current_thread().name == "pycompose-release":
            closing.set()
            gate.wait(10)
        real_close(fd)

    monkeypatch.setattr(rootfs.os, "close", slow_close)
    rootfs.detach(d / "merged")
    assert closing.wait(10)
    assert not rootfs.wait_released(d / "merged", 0.05)   # still releasing
    mounted = threading.Event()
    t = threading.Thread(target=lambda: (_mount(d), mounted.set()))
    t.start()
    assert not mounted.wait(0.2)         # two live overlays on one upper/work: never
    gate.set()
    t.join(10)
    assert mounted.is_set() and rootfs.is_mounted(d / "merged")


def test_remove_later_deletes_the_directory_after_the_release(overlay_dir):
    d = overlay_dir
    cdir = d / "container"
    for sub in ("upper", "work", "merged"):
        (cdir / sub).mkdir(parents=True)
    rootfs.mount_overlay([d / "lower"], cdir / "upper", cdir / "work", cdir / "merged")
    (cdir / "merged" / "f").write_text("x")
    rootfs.detach(cdir / "merged")
    rootfs.remove_later(cdir, cdir / "merged")
    assert rootfs.wait_released(cdir / "merged", 10)
    assert not cdir.exists()
    assert rootfs.wait_all_released(10)
