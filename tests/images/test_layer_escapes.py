"""Crafted layer tarballs that try to write, link or change metadata outside the layer dir (#11).

Complements test_archive.py's containment tests with the routes it does not cover: whiteouts
and opaque markers through planted links, links replacing entries, directory metadata applied
after a directory became a link, device nodes and hard links through links. Every test keeps
a host canary dir next to the layer and checks it is untouched (names, contents, mode, link
count, xattrs). Root: device nodes, owners and trusted.* xattrs need it.
"""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from engine.errors import BadParameter, PycomposeError
from engine.images.archive import OPAQUE_XATTR, extract_layer
from tests.images.tarbuild import (Entry, chardev, directory, file, hardlink, make_tar,
                                   symlink)

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    layer, outside = tmp_path / "layer", tmp_path / "pcoutside"
    layer.mkdir()
    outside.mkdir(mode=0o755)
    os.chmod(outside, 0o755)
    (outside / "victim").write_text("original")
    return layer, outside


def _snapshot(outside: Path) -> tuple:
    st = outside.stat()
    victim = (outside / "victim").stat()
    return (sorted(os.listdir(outside)), (outside / "victim").read_text(), st.st_mode,
            st.st_uid, victim.st_mode, victim.st_nlink, victim.st_uid,
            os.listxattr(outside), os.listxattr(outside / "victim"))


def extract(layer: Path, entries, **kw):
    return extract_layer(io.BytesIO(make_tar(entries)), layer, **kw)


def _refused_or_inside(layer: Path, outside: Path, entries) -> None:
    """Either a one-line refusal or an extraction: in both cases the canary is as it was."""
    before = _snapshot(outside)
    try:
        extract(layer, entries)
    except PycomposeError as exc:
        assert "\n" not in str(exc)
    assert _snapshot(outside) == before


def test_whiteout_through_a_link_to_outside_is_refused(dirs) -> None:
    layer, outside = dirs
    before = _snapshot(outside)
    with pytest.raises(BadParameter, match="does not contain"):
        extract(layer, [symlink("lnk", str(outside)), file("lnk/.wh.victim")])
    assert _snapshot(outside) == before


def test_whiteout_through_a_link_to_root_lands_at_the_layer_root(dirs) -> None:
    layer, outside = dirs
    before = _snapshot(outside)
    extract(layer, [symlink("lnk", "/"), file(f"lnk{outside}/../.wh.pcoutside"),
                    symlink("up", "../../../.."), file("up/.wh.victim")])
    assert _snapshot(outside) == before
    for path in (layer / str(outside.parent).lstrip("/") / "pcoutside", layer / "victim"):
        st = path.lstat()   # overlay whiteouts, inside the layer
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


@pytest.mark.parametrize("name", [".wh...", "a/.wh..", ".wh.", "a/b/../../../.wh.victim"])
def test_whiteouts_naming_dot_dot_are_refused(dirs, name) -> None:
    layer, outside = dirs
    before = _snapshot(outside)
    with pytest.raises(BadParameter) as err:
        extract(layer, [directory("a"), directory("a/b"), file(name)])
    assert "\n" not in str(err.value)
    assert _snapshot(outside) == before


def test_opaque_marker_through_a_link_does_not_mark_outside(dirs) -> None:
    layer, outside = dirs
    _refused_or_inside(layer, outside, [symlink("lnk", str(outside)),
                                        file("lnk/.wh..wh..opq")])
    assert OPAQUE_XATTR not in os.listxattr(outside)


def test_directory_metadata_is_not_applied_through_a_later_link(dirs) -> None:
    """A directory entry (mode 4777, owner 1234) replaced by a link to outside: the deferred
    chmod/chown of directories must not follow the link."""
    layer, outside = dirs
    before = _snapshot(outside)
    extract(layer, [directory("d", mode=0o4777, uid=1234, gid=1234),
                    directory("d/sub", mode=0o777), symlink("d", str(outside))])
    assert _snapshot(outside) == before
    assert os.readlink(layer / "d") == str(outside)


@pytest.mark.parametrize("entry", [
    file("victim_link", b"pwned"),
    hardlink("victim_link", "real"),
    symlink("victim_link", "/etc"),
    chardev("victim_link", 1, 3),
    directory("victim_link"),
])
def test_an_entry_replacing_a_link_to_outside_replaces_the_link(dirs, entry) -> None:
    layer, outside = dirs
    before = _snapshot(outside)
    extract(layer, [file("real", b"inside"), symlink("victim_link", str(outside / "victim")),
                    entry])
    assert _snapshot(outside) == before
    st = (layer / "victim_link").lstat()     # the link itself was replaced, by the new entry
    kind = {b"0": stat.S_ISREG, b"1": stat.S_ISREG, b"2": stat.S_ISLNK, b"3": stat.S_ISCHR,
            b"5": stat.S_ISDIR}[entry.type]
    assert kind(st.st_mode)
    if entry.type == b"2":
        assert os.readlink(layer / "victim_link") == "/etc"
    if entry.type == b"1":
        assert st.st_ino == (layer / "real").lstat().st_ino


def test_hardlink_to_a_link_pointing_outside_links_the_link(dirs) -> None:
    layer, outside = dirs
    before = _snapshot(outside)
    extract(layer, [symlink("s", str(outside / "victim")), hardlink("h", "s")])
    assert _snapshot(outside) == before     # st_nlink of the victim still 1
    assert (layer / "h").is_symlink() and (layer / "h").lstat().st_ino == \
        (layer / "s").lstat().st_ino


@pytest.mark.parametrize("entries", [
    [symlink("lnk", "OUT"), file("real"), hardlink("lnk/victim2", "real")],
    [symlink("lnk", "OUT"), directory("lnk/newdir")],
    [symlink("lnk", "OUT"), chardev("lnk/evil", 1, 3)],
    [symlink("lnk", "OUT"), symlink("lnk/l", "/")],
    [symlink("lnk", "OUT"), file("lnk/victim", b"pwned")],
    [symlink("a", "b"), symlink("b", "OUT"), file("a/victim", b"pwned")],
])
def test_nothing_is_created_through_a_link_to_outside(dirs, entries) -> None:
    layer, outside = dirs
    entries = [Entry(e.name, e.type, e.data, e.linkname.replace("OUT", str(outside)), e.mode,
                     e.uid, e.gid, e.devmajor, e.devminor) for e in entries]
    before = _snapshot(outside)
    with pytest.raises(BadParameter, match="does not contain"):
        extract(layer, entries)
    assert _snapshot(outside) == before


def test_device_and_hardlink_through_a_link_to_root_stay_inside(dirs) -> None:
    layer, outside = dirs
    rel = str(outside).lstrip("/")
    before = _snapshot(outside)
    extract(layer, [symlink("root", "/"), directory(rel),
                    file(f"{rel}/victim", b"the layer's own"),
                    chardev(f"root/{rel}/null", 1, 3),
                    hardlink(f"root/{rel}/h", f"root/{rel}/victim")])
    assert _snapshot(outside) == before
    assert (layer / rel / "h").read_bytes() == b"the layer's own"
    assert (layer / rel / "h").stat().st_nlink == 2
    assert stat.S_ISCHR((layer / rel / "null").lstat().st_mode)
