"""Layer extraction: containment proven with hostile tarballs, metadata kept, whiteouts mapped.

These run as root (owners, setuid bits, device nodes and trusted.* xattrs need it).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from engine.errors import BadParameter, EngineError
from engine.images.archive import OPAQUE_XATTR, extract_layer
from tests.images.tarbuild import chardev, directory, file, hardlink, make_tar, symlink

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(layer dir, an outside dir that must stay untouched)."""
    layer, outside = tmp_path / "layer", tmp_path / "outside"
    layer.mkdir()
    outside.mkdir()
    (outside / "victim").write_text("original")
    return layer, outside


def extract(layer: Path, entries, **kw):
    return extract_layer(io.BytesIO(make_tar(entries)), layer, **kw)


def assert_outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "original"


def test_dotdot_is_refused(dirs) -> None:
    layer, outside = dirs
    with pytest.raises(BadParameter, match=r"'\.\./outside/victim'.*escapes"):
        extract(layer, [file("../outside/victim", b"pwned")])
    assert_outside_untouched(outside)


def test_absolute_names_stay_inside(dirs) -> None:
    layer, outside = dirs
    extract(layer, [file(f"{outside}/victim", b"pwned")])
    assert_outside_untouched(outside)
    assert (layer / str(outside).lstrip("/") / "victim").read_bytes() == b"pwned"


def test_write_through_absolute_symlink_stays_inside(dirs) -> None:
    layer, outside = dirs
    # The link itself is kept verbatim (absolute links are legitimate in an image) ...
    with pytest.raises(BadParameter, match="does not contain"):
        extract(layer, [symlink("esc", str(outside)), file("esc/victim", b"pwned")])
    assert os.readlink(layer / "esc") == str(outside)
    assert_outside_untouched(outside)


def test_write_through_dotdot_symlink_is_rerooted(dirs) -> None:
    layer, outside = dirs
    # ".." at the layer root stays at the layer root, so this lands in layer/victim.
    extract(layer, [symlink("up", "../../../../.."), file("up/victim", b"pwned")])
    assert_outside_untouched(outside)
    assert (layer / "victim").read_bytes() == b"pwned"


def test_symlink_inside_layer_is_followed(dirs) -> None:
    layer, _ = dirs
    extract(layer, [directory("usr/lib"), symlink("lib", "/usr/lib"), file("lib/libc.so", b"c")])
    assert (layer / "usr/lib/libc.so").read_bytes() == b"c"
    assert (layer / "lib").is_symlink()


def test_hardlink_escapes_are_refused(dirs) -> None:
    layer, outside = dirs
    with pytest.raises(BadParameter, match="escapes"):
        extract(layer, [hardlink("h", "../outside/victim")])
    with pytest.raises(BadParameter, match="not .yet. in this layer"):
        extract(layer, [hardlink("h2", f"{outside}/victim")])
    with pytest.raises(BadParameter, match="not .yet. in this layer"):
        extract(layer, [symlink("root", "/"), hardlink("h3", f"root{outside}/victim")])
    assert (outside / "victim").stat().st_nlink == 1
    assert_outside_untouched(outside)


def test_hardlink_to_a_later_entry_is_refused(dirs) -> None:
    layer, _ = dirs
    with pytest.raises(BadParameter, match=r"'early' -> 'late'.*not .yet."):
        extract(layer, [hardlink("early", "late"), file("late")])


def test_hardlink_inside_layer(dirs) -> None:
    layer, _ = dirs
    extract(layer, [file("bin/a", b"x"), hardlink("bin/b", "bin/a")])
    assert (layer / "bin/a").stat().st_ino == (layer / "bin/b").stat().st_ino


def test_device_nodes_allowed_in_layers_refused_in_contexts(dirs) -> None:
    layer, _ = dirs
    extract(layer, [directory("dev"), chardev("dev/null", 1, 3)])
    st = (layer / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    ctx = layer.parent / "ctx"
    ctx.mkdir()
    with pytest.raises(BadParameter, match="refusing device node 'dev/null'"):
        extract(ctx, [directory("dev"), chardev("dev/null", 1, 3)], allow_devices=False)


def test_ownership_setuid_sticky_and_mtime_kept(dirs) -> None:
    layer, _ = dirs
    extract(layer, [
        directory("usr/bin"),
        file("usr/bin/su", b"su", mode=0o4755),
        file("usr/bin/chage", b"c", mode=0o2755, gid=42),
        file("home/app/f", b"a", mode=0o600, uid=1000, gid=1000),
        directory("tmp", mode=0o1777),
        symlink("usr/bin/awk", "/usr/bin/mawk"),
    ])
    su, chage, f = (layer / "usr/bin/su").stat(), (layer / "usr/bin/chage").stat(), \
        (layer / "home/app/f").stat()
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert (stat.S_IMODE(chage.st_mode), chage.st_gid) == (0o2755, 42)
    assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) == (1000, 1000, 0o600)
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert int((layer / "tmp").stat().st_mtime) == 1_700_000_000
    assert int(su.st_mtime) == 1_700_000_000
    assert os.readlink(layer / "usr/bin/awk") == "/usr/bin/mawk"


def test_gzip_detected_and_diff_id_is_uncompressed_digest(dirs) -> None:
    layer, _ = dirs
    raw = make_tar([file("hello", b"world")])
    stats = extract_layer(io.BytesIO(gzip.compress(raw)), layer)
    assert stats.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert stats.tar_size == len(raw) and stats.size == 5
    assert (layer / "hello").read_bytes() == b"world"


def test_zstd_layer(dirs) -> None:
    layer, _ = dirs
    raw = make_tar([file("hello", b"world")])
    try:
        import zstandard
    except ImportError:
        # The magic is recognised and the missing module is named, not a tar error.
        with pytest.raises(EngineError, match="zstd-compressed.*zstandard"):
            extract_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 64), layer)
        return
    stats = extract_layer(io.BytesIO(zstandard.ZstdCompressor().compress(raw)), layer)
    assert stats.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_garbage_is_a_clear_error(dirs) -> None:
    layer, _ = dirs
    with pytest.raises(BadParameter, match="broken layer tarball"):
        extract_layer(io.BytesIO(gzip.compress(b"not a tar" * 100)[:40]), layer)


def test_whiteouts_become_overlay_whiteouts(dirs) -> None:
    layer, _ = dirs
    extract(layer, [file(".wh.gone", b""), directory("d"), file("d/.wh..wh..opq", b""),
                    file("d/new", b"n")])
    st = (layer / "gone").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (layer / ".wh.gone").exists() and not (layer / "d/.wh..wh..opq").exists()
    assert os.getxattr(layer / "d", OPAQUE_XATTR) == b"y"
    assert (layer / "d/new").read_bytes() == b"n"


def test_whiteouts_kept_as_files_when_not_converting(dirs) -> None:
    layer, _ = dirs
    extract(layer, [file(".wh.gone", b"")], overlay_whiteouts=False)
    assert (layer / ".wh.gone").is_file()


def test_overlay_mount_honours_whiteouts(tmp_path: Path) -> None:
    lower, upper, merged = tmp_path / "lower", tmp_path / "upper", tmp_path / "merged"
    for d in (lower, upper, merged):
        d.mkdir()
    extract_layer(io.BytesIO(make_tar([
        file("keep", b"k"), file("gone", b"g"), directory("d"), file("d/old", b"o"),
        directory("e"), file("e/old", b"o")])), lower)
    # The opaque marker comes *after* d/new here: the same layer's entries survive anyway.
    extract_layer(io.BytesIO(make_tar([
        file(".wh.gone", b""), directory("d"), file("d/new", b"n"), file("d/.wh..wh..opq", b""),
        file("e/.wh.old", b"")])), upper)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={upper}:{lower}", str(merged)], check=True)
    try:
        names = sorted(p.name for p in merged.iterdir())
        assert names == ["d", "e", "keep"]
        assert sorted(p.name for p in (merged / "d").iterdir()) == ["new"]
        assert list((merged / "e").iterdir()) == []
        assert (merged / "keep").read_bytes() == b"k"
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_xattrs_kept_but_overlay_ones_dropped(dirs) -> None:
    layer, _ = dirs
    extract(layer, [
        file("f", b"x", xattrs=(("user.note", "kept"), ("trusted.overlay.redirect", "/etc"))),
        directory("d", xattrs=(("trusted.overlay.opaque", "y"), ("user.d", "1"))),
    ])
    assert os.getxattr(layer / "f", "user.note") == b"kept"
    assert "trusted.overlay.redirect" not in os.listxattr(layer / "f")
    assert os.listxattr(layer / "d") == ["user.d"]


def test_symlink_loop_is_one_clear_error(dirs) -> None:
    layer, outside = dirs
    with pytest.raises(EngineError, match=r"cannot extract layer entry 'loop/x': .*symbolic links"):
        extract(layer, [symlink("loop", "loop"), file("loop/x")])
    assert_outside_untouched(outside)


def test_later_entries_replace_earlier_ones(dirs) -> None:
    layer, _ = dirs
    extract(layer, [
        directory("a"), file("a/x", b"x"), file("a", b"now a file"),
        symlink("b", "a"), file("b", b"b replaced the link"),
        file("c", b"c"), directory("c"), file("c/inside", b"i"),
        file("d", b"old"), file("d", b"new"),
        # A cached parent must not outlive a replacement: "lib" first resolves through a
        # symlink to lib2, then becomes a real directory.
        directory("lib2"), symlink("lib", "lib2"), file("lib/x", b"1"),
        directory("lib"), file("lib/y", b"2"),
    ])
    assert (layer / "a").read_bytes() == b"now a file"
    assert not (layer / "b").is_symlink() and (layer / "b").read_bytes() == b"b replaced the link"
    assert (layer / "c/inside").read_bytes() == b"i"
    assert (layer / "d").read_bytes() == b"new"
    assert sorted(p.name for p in (layer / "lib2").iterdir()) == ["x"]
    assert not (layer / "lib").is_symlink()
    assert sorted(p.name for p in (layer / "lib").iterdir()) == ["y"]
