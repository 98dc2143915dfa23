"""Overlay root (upper dir, 120 layers), read-only root, bind and tmpfs mounts."""
from __future__ import annotations

import os

import pytest

from engine.runtime import rootfs
from tests.runtime.conftest import Mount

pytestmark = pytest.mark.integration


def test_writes_go_to_the_upper_dir_and_the_lower_is_untouched(box):
    merged, upper = box.rootfs()
    before = sorted(p.name for p in (box.lower / "etc").iterdir())
    status, out = box.output("sh", "-c", "echo hi > /newfile; rm /etc/group; ls /etc",
                             merged=merged)
    assert status.code == 0, out
    assert "group" not in out.split()
    assert (upper / "newfile").read_text() == "hi\n"
    whiteout = os.lstat(upper / "etc" / "group")  # overlay whiteout: a 0:0 character device
    assert os.major(whiteout.st_rdev) == 0 and os.minor(whiteout.st_rdev) == 0
    assert sorted(p.name for p in (box.lower / "etc").iterdir()) == before
    assert not (box.lower / "newfile").exists()


def test_120_layer_overlay_shows_lowest_and_highest_layer(box):
    layers = [box.lower]
    for i in range(1, 120):
        layer = box.tmp / "layers" / f"sha256-{i:03d}-{'x' * 24}"
        (layer / "layers").mkdir(parents=True)
        (layer / "layers" / f"l{i}").write_text(f"{i}\n")
        (layer / "which").write_text(f"layer {i}\n")  # every layer has it: the top one wins
        layers.append(layer)
    # Too long for mount(2)'s one page: only the new mount API can do this right (P6a).
    assert len(rootfs.overlay_options(layers, box.tmp, box.tmp)) > 4096
    merged, _ = box.rootfs(layers)
    status, out = box.output("sh", "-c", "cat /which; ls /layers | wc -l; cat /layers/l1 "
                             "/layers/l119; test -x /bin/busybox && echo lowest",
                             merged=merged)
    assert status.code == 0, out
    assert out.split() == ["layer", "119", "119", "1", "119", "lowest"]


def test_readonly_rootfs(box):
    status, out = box.output(
        "sh", "-c", "touch /x 2>&1; touch /tmp/x && echo tmp-ok; grep ' / ' /proc/mounts",
        readonly_rootfs=True, mounts=(Mount("/tmp", type="tmpfs", options=("size=1m",)),))
    assert status.code == 0, out
    lines = out.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1] == "tmp-ok"
    assert " ro," in lines[2]


def test_bind_mounts_rw_ro_and_tmpfs(box):
    rw = box.tmp / "rw"
    ro = box.tmp / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "data").write_text("from host\n")
    hosts = box.tmp / "hosts"
    hosts.write_text("10.0.0.2 db\n")
    mounts = (
        Mount("/srv/rw", str(rw)),
        Mount("/srv/ro", str(ro), readonly=True),
        Mount("/etc/hosts", str(hosts), readonly=True),
        Mount("/scratch", type="tmpfs", options=("size=2m", "mode=750")),
    )
    status, out = box.output("sh", "-c", """
        echo written > /srv/rw/out
        cat /srv/ro/data
        (echo x > /srv/ro/nope) 2>/dev/null && echo ro-writable || echo ro-refused
        cat /etc/hosts
        echo t > /scratch/t && grep ' /scratch ' /proc/mounts
    """, mounts=mounts)
    assert status.code == 0, out
    lines = out.splitlines()
    assert lines[0] == "from host"
    assert lines[1] == "ro-refused"
    assert lines[2] == "10.0.0.2 db"
    fields = lines[3].split()
    assert fields[2] == "tmpfs" and "size=2048k" in fields[3] and "mode=750" in fields[3]
    assert "noexec" in fields[3] and "nosuid" in fields[3]
    assert (rw / "out").read_text() == "written\n"
    assert not (ro / "nope").exists()


def test_bind_target_symlink_cannot_escape_the_root(box):
    """An image symlink /etc/evil -> /host-target must not redirect a mount onto the host."""
    merged, upper = box.rootfs()
    outside = box.tmp / "outside"
    outside.mkdir()
    (merged / "etc" / "evil").symlink_to(str(outside))
    src = box.tmp / "src"
    src.mkdir()
    (src / "f").write_text("x")
    status, out = box.output("ls", "/etc/evil", mounts=(Mount("/etc/evil", str(src)),),
                             merged=merged)
    assert status.code == 0, out
    assert out.split() == ["f"]
    assert list(outside.iterdir()) == []  # nothing was mounted over the host dir
    assert (merged / str(outside).lstrip("/")).is_dir()  # the mount point went inside


def test_overlay_falls_back_to_mount2_only_when_the_options_fit(box, monkeypatch):
    """On kernels without fsconfig lowerdir+ (EINVAL), short option strings use mount(2) and
    long ones fail loudly instead of silently dropping layers (P6a)."""
    import errno

    from engine.errors import EngineError

    def old_kernel(*_args):
        raise OSError(errno.EINVAL, "Invalid argument", "fsconfig(lowerdir+)")

    monkeypatch.setattr(rootfs, "_mount_new_api", old_kernel)
    merged, upper = box.rootfs()  # one layer: fits, mounted with mount(2)
    assert (merged / "bin" / "busybox").exists() and rootfs.is_mounted(merged)
    many = [box.lower] + [box.tmp / f"layer-{i:03d}-{'y' * 40}" for i in range(100)]
    for layer in many[1:]:
        layer.mkdir()
    d = box.tmp / "long"
    for name in ("upper", "work", "merged"):
        (d / name).mkdir(parents=True)
    with pytest.raises(EngineError, match="over mount\\(2\\)'s one-page limit"):
        rootfs.mount_overlay(many, d / "upper", d / "work", d / "merged")
    assert not rootfs.is_mounted(d / "merged")
