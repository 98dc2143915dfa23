"""A caller's mount that only a symlink in the container takes into /sys or /dev is refused (#11):
the image's `/data -> /sys` with a volume at /data or /data/x. Targets written under /sys or /dev
keep their rules (host binds allowed there, a volume not on /sys or /dev itself).

Unit tests on temp dirs: `sc.mount` is replaced by a recorder of where each mount would land
(the /proc/self/fd/N target read back), so a refusal is seen to come before anything is mounted
or created. The same through a real daemon and image: tests/daemon/test_mount_links_sys_dev.py.
"""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from engine.runtime import destinations, mounts
from engine.runtime import syscalls as sc
from engine.runtime.mounts import MountOp, TargetRule
from tests.runtime.mount_recorder import mode, recorded  # noqa: F401 - fixtures, used by name


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "root"
    for d in ("proc", "sys/fs/cgroup", "dev/shm", "srv", "etc"):
        (root / d).mkdir(parents=True)
    return root


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("written, resolved, reason", [
    ("/data", "/sys", "into /sys"),
    ("/data/x", "/sys/x", "into /sys"),
    ("/data", "/dev", "into /dev"),
    ("/data/shm", "/dev/shm", "into /dev"),
    ("/srv/../data", "/sys/kernel", "into /sys"),
    ("/sys/class/net/eth0", "/sys/devices/virtual/net/eth0", None),  # sysfs's own links
    ("/dev/stdout", "/dev/pts/0", None),
    ("/sys", "/sys", None),
    ("/dev/shm", "/dev/shm", None),
    ("/data", "/srv/data", None),
    ("/system", "/sysfoo", None),
    ("/devices/x", "/device/x", None),
])
def test_redirect_refusal(written, resolved, reason):
    found = destinations.redirect_refusal(written, resolved)
    if reason is None:
        assert found is None
    else:
        assert found == f"a symlink in the container leads it {reason}"


@pytest.mark.parametrize("kind", ["bind", "volume", "tmpfs"])
@pytest.mark.parametrize("link, target, resolved", [
    ("/sys", "/data", "/sys"),                       # the link's own target: an fd of /sys
    ("/sys", "/data/x", "/sys/x"),                   # missing below it: refused before mkdir
    ("../../../sys/fs", "/data/cgroup", "/sys/fs/cgroup"),
    ("/dev", "/data/null", "/dev/null"),
    ("../dev/shm", "/data", "/dev/shm"),
    ("/srv/../dev", "/data/new/deep", "/dev/new/deep"),
])
def test_a_link_into_sys_or_dev_refuses_the_mount_and_makes_nothing(root, recorded, mode, kind,
                                                                    link, target, resolved):
    (root / "data").symlink_to(link)
    before = _snapshot(root)
    if kind == "bind":
        op = MountOp(target, str(root.parent), None, sc.MS_BIND, None, "auto", TargetRule.CALLER)
    else:
        op = MountOp(target, kind, kind, 0, None, "dir", TargetRule.CALLER)
    with pytest.raises(OSError) as err:
        mounts.apply_op(str(root), op)
    top = resolved.split("/")[1]
    assert err.value.errno == errno.EPERM
    assert str(err.value) == (f"[Errno 1] destination {target} (it resolves to {resolved}) "
                              f"refused: a symlink in the container leads it into /{top}")
    assert recorded == [] and _snapshot(root) == before


@pytest.mark.parametrize("target", ["/sys/fs/cgroup", "/dev/shm", "/dev", "/sys", "/dev/new"])
def test_targets_written_under_sys_or_dev_are_mounted(root, recorded, mode, target):
    """The operator's own choice (`-v /sys/fs/cgroup:/sys/fs/cgroup:ro`, `--tmpfs /dev/shm`)."""
    op = MountOp(target, str(root.parent), None, sc.MS_BIND, None, "auto", TargetRule.CALLER)
    mounts.apply_op(str(root), op)
    assert recorded == [(str(root.parent), f"{root}{target}", None, sc.MS_BIND)]


def test_a_link_that_stays_inside_dev_is_followed(root, recorded, mode):
    """`/dev/shm -> /dev/other` as written under /dev: no link took it there from elsewhere."""
    (root / "dev" / "shm").rmdir()
    (root / "dev" / "other").mkdir()
    (root / "dev" / "shm").symlink_to("/dev/other")
    mounts.apply_op(str(root), MountOp("/dev/shm", "tmpfs", "tmpfs", 0, None, "dir",
                                       TargetRule.CALLER))
    assert recorded == [("tmpfs", f"{root}/dev/other", "tmpfs", 0)]


def test_a_link_elsewhere_is_still_followed_inside_the_root(root, recorded, mode):
    (root / "data").symlink_to("/srv")
    mounts.apply_op(str(root), MountOp("/data/x", "tmpfs", "tmpfs", 0, None, "dir",
                                       TargetRule.CALLER))
    assert recorded == [("tmpfs", f"{root}/srv/x", "tmpfs", 0)]
    assert (root / "srv" / "x").is_dir()
