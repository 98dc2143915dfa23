"""Container changes back into an image: overlay upper dir -> diff layer -> new image.

A real overlay is mounted over an imported image, changed through the merged view (delete,
replace a directory, add setuid and hard-linked files), and the upper dir is committed. The new
image, mounted again from its own layers, must show exactly the changed tree.
"""
from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from engine.images import ImageStore
from engine.images.archive import write_diff
from tests.images.tarbuild import directory, file, make_tar

pytestmark = pytest.mark.integration

BASE = make_tar([directory("etc"), file("etc/keep", b"k"), file("etc/gone", b"g"),
                 directory("data"), file("data/old1", b"1"), file("data/old2", b"2")])


def mount(lowers: list[Path], target: Path, upper: Path | None = None,
          work: Path | None = None) -> None:
    options = "lowerdir=" + ":".join(str(p) for p in reversed(lowers))
    if upper is not None:
        options += f",upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)], check=True)


def test_commit_container_changes(store: ImageStore, tmp_path: Path) -> None:
    base = store.import_rootfs(io.BytesIO(BASE), "base", ["CMD /bin/sh"])
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, merged):
        d.mkdir()
    mount(store.layer_paths(base), merged, upper, work)
    try:
        (merged / "etc/gone").unlink()
        subprocess.run(["rm", "-rf", str(merged / "data")], check=True)
        (merged / "data").mkdir()
        (merged / "data/new").write_bytes(b"n")
        (merged / "bin").mkdir()
        (merged / "bin/tool").write_bytes(b"t")
        os.chmod(merged / "bin/tool", 0o4755)
        os.link(merged / "bin/tool", merged / "bin/tool2")
        os.symlink("/bin/tool", merged / "bin/ln")
        with socket.socket(socket.AF_UNIX) as sock:   # left behind by a service: not imaged
            sock.bind(str(merged / "bin/sock"))
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    diff = io.BytesIO()
    write_diff(upper, diff)
    diff.seek(0)
    with tarfile.open(fileobj=io.BytesIO(diff.getvalue())) as tar:
        names = tar.getnames()
        assert tar.getmember("bin/tool2").islnk()
    # Both kinds of whiteout were really produced from the overlay's own markers.
    assert "etc/.wh.gone" in names and "data/.wh..wh..opq" in names
    child = store.commit(base.id, diff, {**base.config, "Env": ["A=1"]}, "child:1",
                         created_by="test commit")
    assert child.diff_ids[:1] == base.diff_ids and len(child.diff_ids) == 2
    assert child.config == {"Cmd": ["/bin/sh", "-c", "/bin/sh"], "Env": ["A=1"]}
    view = tmp_path / "view"
    view.mkdir()
    mount(store.layer_paths(child), view)
    try:
        assert sorted(p.name for p in (view / "etc").iterdir()) == ["keep"]
        assert sorted(p.name for p in (view / "data").iterdir()) == ["new"]
        tool = (view / "bin/tool").stat()
        assert stat.S_IMODE(tool.st_mode) == 0o4755
        assert tool.st_ino == (view / "bin/tool2").stat().st_ino
        assert os.readlink(view / "bin/ln") == "/bin/tool"
        assert not (view / "bin/sock").exists()
    finally:
        subprocess.run(["umount", str(view)], check=True)
    # A metadata-only step adds history, not a layer.
    meta = store.commit(child.id, None, {"Cmd": ["x"]}, created_by="ENV")
    assert meta.diff_ids == child.diff_ids and meta.config == {"Cmd": ["x"]}
    # Removing the parent's tag keeps the shared layer for the child.
    store.remove("base")
    assert store.layer_paths(store.get("child:1"))[0].is_dir()
