from __future__ import annotations

import pytest

from engine.errors import BadParameter
from engine.images.tarpath import (Compression, Whiteout, WhiteoutKind, clean_name,
                                   detect_compression, whiteout_of)


@pytest.mark.parametrize("name, parts", [
    ("a/b/c", ("a", "b", "c")),
    ("./a//b/", ("a", "b")),
    ("/etc/passwd", ("etc", "passwd")),      # absolute: re-rooted at the layer
    ("a/../b", ("b",)),
    ("./", ()),
    ("a/./b/..", ("a",)),
])
def test_clean_name(name: str, parts: tuple[str, ...]) -> None:
    assert clean_name(name) == parts


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/../etc", "..", "a\x00b"])
def test_clean_name_refuses_escapes(name: str) -> None:
    with pytest.raises(BadParameter) as err:
        clean_name(name)
    assert repr(name) in str(err.value)


def test_whiteouts() -> None:
    assert whiteout_of(("a", ".wh.gone"), is_regular=True) == Whiteout(
        WhiteoutKind.DELETE, ("a",), "gone")
    assert whiteout_of(("d", ".wh..wh..opq"), is_regular=True) == Whiteout(
        WhiteoutKind.OPAQUE, ("d",))
    assert whiteout_of((".wh..wh.plnk",), is_regular=True).kind is WhiteoutKind.META
    assert whiteout_of(("a", "normal"), is_regular=True) is None
    # Only regular files are markers.
    assert whiteout_of(("a", ".wh.gone"), is_regular=False) is None


@pytest.mark.parametrize("base", [".wh.", ".wh..", ".wh..."])
def test_whiteout_naming_dir_itself_is_refused(base: str) -> None:
    with pytest.raises(BadParameter, match="names no file"):
        whiteout_of(("d", base), is_regular=True)


def test_detect_compression() -> None:
    assert detect_compression(b"\x1f\x8b\x08\x00") is Compression.GZIP
    assert detect_compression(b"\x28\xb5\x2f\xfd\x00") is Compression.ZSTD
    assert detect_compression(b"BZh91AY") is Compression.BZIP2
    assert detect_compression(b"\xfd7zXZ\x00") is Compression.XZ
    assert detect_compression(b"usr/\x00\x00") is Compression.NONE
