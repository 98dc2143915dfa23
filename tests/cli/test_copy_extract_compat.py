"""Local extraction for `cp` on a Python without tarfile's filters (before 3.11.4; Debian 12's
python3 is 3.11.2): the same refusals as the 'tar' filter, tested on whichever Python runs."""
from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from engine.client.cli import copy as cp
from engine.client.cli.copy import CopyError


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r")


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


@pytest.fixture(params=[True, False], ids=["filters", "no-filters"])
def filters(request, monkeypatch):
    if request.param and not hasattr(tarfile, "tar_filter"):
        pytest.skip(f"this Python ({sys.version.split()[0]}) has no tarfile filters")
    monkeypatch.setattr(cp, "_HAS_FILTERS", request.param)
    return request.param


def test_plain_files_land_with_safe_modes(tmp_path, filters):
    t = _tar(_file("/abs/setuid", b"hi", 0o4777), _file("rel/file", b"ok"))
    for m in t.getmembers():
        cp._extract(t, m, str(tmp_path))
    assert (tmp_path / "abs" / "setuid").read_bytes() == b"hi"   # leading '/' stripped
    assert (tmp_path / "abs" / "setuid").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "rel" / "file").read_bytes() == b"ok"


@pytest.mark.parametrize("members", [
    [_file("../escape")],
    [_link("up", ".."), _file("up/escape")],
    [_link("root", "/"), _file("root/escape")],
], ids=["dotdot", "relative-link", "absolute-link"])
def test_nothing_lands_outside_the_destination(tmp_path, filters, members):
    dest = tmp_path / "dest"
    dest.mkdir()
    t = _tar(*members)
    with pytest.raises(CopyError, match="refusing to extract"):
        for m in t.getmembers():
            cp._extract(t, m, str(dest))
    assert not (tmp_path / "escape").exists() and not Path("/escape").exists()
