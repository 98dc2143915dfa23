"""Upper dir -> layer tar: whiteouts, opaque dirs, mount-stub removal (temp dirs, no mounts)."""
from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from engine.build.sandbox import Sandbox
from engine.images.archive import write_diff

pytestmark = pytest.mark.integration   # mknod and trusted.* xattrs need root


def make_box(tmp_path, lowers):
    box = Sandbox(lowers, tmp_path / "work")
    box.upper.mkdir(parents=True)
    return box


def test_upper_dir_whiteouts_become_oci_entries(tmp_path):
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "new.conf").write_text("x")
    os.mknod(upper / "etc" / "gone.conf", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "var" / "cache").mkdir(parents=True)
    os.setxattr(upper / "var" / "cache", "trusted.overlay.opaque", b"y")
    (upper / "var" / "cache" / "kept").write_text("k")
    out = io.BytesIO()
    write_diff(upper, out)
    out.seek(0)
    names = tarfile.open(fileobj=out).getnames()
    assert "etc/.wh.gone.conf" in names and "etc/gone.conf" not in names
    assert "var/cache/.wh..wh..opq" in names and "var/cache/kept" in names
    assert "etc/new.conf" in names


def test_mount_stubs_and_copied_up_parents_are_dropped(tmp_path):
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc").chmod(0o755)
    box = make_box(tmp_path, [lower])
    # what the runtime leaves in the upper dir for mounts on /run/secrets/tok and
    # /etc/resolv.conf: stub files/dirs, and /etc copied up to hold the stub
    (box.upper / "run" / "secrets").mkdir(parents=True)
    (box.upper / "run" / "secrets" / "tok").write_text("")
    (box.upper / "etc").mkdir()
    (box.upper / "etc").chmod(0o755)
    (box.upper / "etc" / "resolv.conf").write_text("")
    (box.upper / "made-by-step").write_text("keep me")
    box.remove_stubs(["/run/secrets/tok", "/run/secrets", "/run", "/etc/resolv.conf"],
                     ["/run/secrets/tok", "/etc/resolv.conf"])
    assert sorted(p.name for p in box.upper.iterdir()) == ["made-by-step"]


def test_stub_with_content_written_by_the_step_is_kept(tmp_path):
    box = make_box(tmp_path, [])
    (box.upper / "cache").mkdir()
    (box.upper / "cache" / "data").write_text("step wrote this")
    (box.upper / "etc").mkdir()
    (box.upper / "etc" / "hosts").write_text("127.0.0.1 x\n")
    box.remove_stubs(["/cache", "/etc/hosts", "/etc"], ["/cache", "/etc/hosts"])
    assert (box.upper / "cache" / "data").exists() and (box.upper / "etc" / "hosts").exists()
