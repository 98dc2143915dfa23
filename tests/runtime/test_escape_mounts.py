"""No path out of a container through its mounts: real containers over images and volumes that
plant symlinks at /proc, /sys, /dev and mount targets (#11).

Each test puts a canary on the host (a temp dir the test made, holding a secret) and aims the
planted links at it (and at "/"), then checks the container can neither read nor change it,
that no host directory or cgroup appeared, and that a refused set-up fails the start with one
line naming the path.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from engine.errors import EngineError
from tests.runtime.conftest import Mount

pytestmark = pytest.mark.integration

SECRET = "host secret 7f3a"


@pytest.fixture
def canary(box) -> Path:
    d = box.tmp / f"pccanary-{secrets.token_hex(3)}"
    d.mkdir()
    (d / "shadow").write_text(SECRET + "\n")
    return d


def _unchanged(canary: Path) -> None:
    assert sorted(os.listdir(canary)) == ["shadow"]
    assert (canary / "shadow").read_text() == SECRET + "\n"


def _replace_with_link(path: Path, target: str) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _start_fails(box, merged: Path, mounts=(), *, match: str) -> str:
    with pytest.raises(EngineError) as err:
        box.output("cat", "/etc/passwd", merged=merged, mounts=mounts)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert match in message, message
    return message


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
@pytest.mark.parametrize("link", ["/", "..", "canary"])
def test_image_with_proc_sys_or_dev_as_a_link_does_not_start(box, canary, name, link):
    """An image shipping `/proc -> /` would get procfs (or sysfs, the /dev tmpfs) mounted over
    its whole root, or over the host dir the link names (CVE-2019-19921 class)."""
    merged, _upper = box.rootfs()
    _replace_with_link(merged / name, str(canary) if link == "canary" else link)
    message = _start_fails(box, merged, match=f"/{name} in the image is not a real directory")
    assert f"/{name}" in message
    _unchanged(canary)


@pytest.mark.parametrize("target", ["/proc", "/proc/sys", "/proc/self", "/proc/1/root"])
def test_volume_at_or_under_proc_is_refused(box, canary, target):
    """The reported escape: a volume at /proc holding `sys -> /` made the engine's read-only
    bind of /proc/sys follow the link on the host. Now nothing may be mounted there."""
    vol = box.tmp / "vol"
    vol.mkdir()
    (vol / "sys").symlink_to("/")
    (vol / "self").symlink_to(str(canary))
    _start_fails(box, box.rootfs()[0], (Mount(target, str(vol)),),
                 match=f"destination {target} refused: no mount is allowed on or under /proc")
    _unchanged(canary)


def test_tmpfs_under_proc_is_refused(box):
    _start_fails(box, box.rootfs()[0], (Mount("/proc/sys/fs", type="tmpfs"),),
                 match="no mount is allowed on or under /proc")


@pytest.mark.parametrize("link, resolved", [
    ("/proc/sys", "/proc/sys"),                       # absolute
    ("../../../../../../proc", "/proc"),              # relative, climbing past the root
    ("/srv/../proc/./sys/kernel", "/proc/sys/kernel"),
])
def test_image_link_into_proc_is_refused(box, canary, link, resolved):
    merged, _upper = box.rootfs()
    (merged / "data").symlink_to(link)
    src = box.tmp / "src"
    src.mkdir()
    message = _start_fails(box, merged, (Mount("/data", str(src)),),
                           match=f"/data (it resolves to {resolved}) refused")
    assert "/proc" in message


def test_volume_on_dev_with_links_out_stays_inside(box, canary):
    """A volume replacing /dev whose entries point at the host: the container's view of them
    resolves inside its own root; nothing reaches the canary."""
    merged, upper = box.rootfs()
    vol = box.tmp / "devvol"
    vol.mkdir()
    os.mknod(vol / "null", 0o020666, os.makedev(1, 3))    # masking binds it over proc files
    (vol / "shm").symlink_to(str(canary))
    (vol / "fd").symlink_to("/")
    (vol / "pts").symlink_to("../../../../../../../" + str(canary).lstrip("/"))
    status, out = box.output("sh", "-c", f"""
        cat /dev/shm/shadow /dev/pts/shadow /dev/fd/{canary}/shadow
        echo pwned > /dev/shm/pwned; echo pwned > /dev/pts/pwned
        ls /dev/fd/ | head -3; echo end
    """, merged=merged, mounts=(Mount("/dev", str(vol)),))
    assert out.rstrip().endswith("end"), out
    assert SECRET not in out
    _unchanged(canary)


def test_volume_on_dev_shm_with_link_to_root_stays_inside(box, canary):
    vol = box.tmp / "shmvol"
    vol.mkdir()
    (vol / "x").symlink_to("/")
    status, out = box.output("sh", "-c", f"""
        cat /dev/shm/x/{str(canary).lstrip('/')}/shadow
        ls /dev/shm/x/ ; echo end
    """, mounts=(Mount("/dev/shm", str(vol)),))
    assert SECRET not in out and "bin" in out.split(), out   # the container's own root
    _unchanged(canary)


def test_volume_on_sys_with_links_out_creates_no_host_cgroup(box, canary):
    """`/sys/fs -> /` in a volume over /sys: `mkdir /sys/fs/cgroup/pids/x` must not create a
    cgroup on the host, the masked /sys/firmware link must not mask (or read) the host."""
    merged, upper = box.rootfs()
    vol = box.tmp / "sysvol"
    vol.mkdir()
    (vol / "fs").symlink_to("/")
    (vol / "firmware").symlink_to(str(canary))
    (vol / "devices").symlink_to("../../../../../../..")
    name = f"pcesc{secrets.token_hex(3)}"
    status, out = box.output("sh", "-c", f"""
        mkdir -p /sys/fs/cgroup/pids/{name} /sys/devices/{name}
        cat /sys/firmware/shadow /sys/devices/{str(canary).lstrip('/')}/shadow
        echo pwned > /sys/firmware/pwned; echo end
    """, merged=merged, mounts=(Mount("/sys", str(vol)),))
    assert out.rstrip().endswith("end") and SECRET not in out, out
    _unchanged(canary)
    cgroup_root = Path("/sys/fs/cgroup")
    made = [p for p in cgroup_root.rglob(name)] if cgroup_root.is_dir() else []
    assert made == []
    assert not Path("/", name).exists()
    # the mkdir did run: inside the container's own root (its upper dir)
    assert (upper / "cgroup" / "pids" / name).is_dir()
    assert (upper / name).is_dir()


@pytest.mark.parametrize("relative", [False, True])
def test_etc_file_links_to_a_host_file_get_the_bind_inside(box, canary, relative):
    """`/etc/hosts -> <host>/shadow`: the engine's bind of the hosts file goes onto a new file
    inside the root; the host file is neither shown nor covered nor written."""
    merged, _upper = box.rootfs()
    target = str(canary / "shadow")
    if relative:
        target = "../../../../../../../../.." + target
    _replace_with_link(merged / "etc" / "hosts", target)
    hosts = box.tmp / "hosts"
    hosts.write_text("10.9.9.9 pcdb\n")
    status, out = box.output("sh", "-c", "cat /etc/hosts; (echo x >> /etc/hosts) 2>/dev/null "
                             "&& echo written || echo ro", merged=merged,
                             mounts=(Mount("/etc/hosts", str(hosts), readonly=True),))
    assert status.code == 0, out
    assert out.split("\n")[:2] == ["10.9.9.9 pcdb", "ro"]
    _unchanged(canary)
    assert (merged / str(canary).lstrip("/") / "shadow").is_file()   # the mount point, inside


def test_bind_target_climbing_out_lands_inside(box, canary):
    merged, _upper = box.rootfs()
    (merged / "srv").symlink_to("../../../../../../../../.." + str(canary))
    src = box.tmp / "src"
    src.mkdir()
    (src / "mine").write_text("bound\n")
    status, out = box.output("sh", "-c", "cat /srv/mine; ls /srv", merged=merged,
                             mounts=(Mount("/srv", str(src)),))
    assert status.code == 0 and out.split() == ["bound", "mine"], out
    _unchanged(canary)


def test_proc_dotdot_is_the_containers_own_root(box, canary):
    """The issue's probes, in a container over a normal image: /proc/.. is the container's
    root, the host's shadow and cgroup tree are out of reach."""
    merged, upper = box.rootfs()
    name = f"pcesc{secrets.token_hex(3)}"
    status, out = box.output("sh", "-c", f"""
        ls /proc/.. | tr '\\n' ' '; echo
        cat /proc/../{str(canary).lstrip('/')}/shadow 2>&1
        mkdir /proc/../sys/fs/cgroup/pids/{name} 2>/dev/null || echo refused
        mkdir /proc/sys/{name} 2>/dev/null || echo refused
    """, merged=merged)
    assert status.code == 0, out
    lines = out.splitlines()
    assert "bin" in lines[0].split() and "proc" in lines[0].split()
    assert SECRET not in out, out
    assert lines[-2:] == ["refused", "refused"], out
    assert not list(Path("/sys/fs/cgroup").rglob(name))
    _unchanged(canary)
