"""Bind propagation: the mount plan as data, the source checks (Docker's), and real containers
whose binds do (shared, slave) or do not (private) see the host's mounts made after start, and
whose own mounts do (shared) or do not (slave) reach the host."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from engine.errors import BadParameter
from engine.runtime import mounts, propagation
from engine.runtime import syscalls as sc
from engine.runtime.mounts import MountOp, TargetRule
from engine.runtime.spec import ContainerSpec, Mount, ProcessSpec, validate_spec
from tests.runtime.conftest import read_all, start_piped


def _spec(*mounts_: Mount) -> ContainerSpec:
    return ContainerSpec(id="a" * 64, rootfs="/r", hostname="h",
                         process=ProcessSpec(args=("true",)), mounts=mounts_)


def _user_ops(spec: ContainerSpec) -> list[MountOp]:
    return [op for op in mounts.plan_mounts(spec)
            if isinstance(op, MountOp) and op.rule is TargetRule.CALLER]


# --- the plan (pure) ------------------------------------------------------------------------

def test_without_shared_or_slave_binds_the_plan_and_root_are_as_before():
    spec = _spec(Mount("/a", "/src/a"), Mount("/b", "/src/b", propagation="rprivate"),
                 Mount("/t", type="tmpfs"))
    assert _user_ops(spec) == [
        MountOp("/a", "/src/a", None, sc.MS_BIND | sc.MS_REC, None, "auto", TargetRule.CALLER),
        MountOp("/b", "/src/b", None, sc.MS_BIND | sc.MS_REC, None, "auto", TargetRule.CALLER),
        MountOp("/t", "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, None, "dir",
                TargetRule.CALLER)]
    assert propagation.root_flags(spec.mounts) == sc.MS_REC | sc.MS_PRIVATE


def test_a_shared_bind_is_attached_from_its_clone_and_every_bind_says_its_propagation():
    spec = _spec(Mount("/s", "/src/s", propagation="rshared"),
                 Mount("/v", "/src/v", propagation="slave", readonly=True),
                 Mount("/d", "/src/d"))
    ops = _user_ops(spec)
    rec, bind = sc.MS_REC, sc.MS_BIND
    assert [(op.target, op.source, op.flags, op.clone) for op in ops] == [
        ("/s", "/src/s", bind | rec, True), ("/s", None, sc.MS_SHARED | rec, False),
        ("/v", "/src/v", bind | rec, False), ("/v", None, sc.MS_SLAVE, False),
        ("/v", None, bind | sc.MS_REMOUNT | sc.MS_RDONLY, False),
        ("/d", "/src/d", bind | rec, False), ("/d", None, sc.MS_PRIVATE | rec, False)]
    assert propagation.root_flags(spec.mounts) == sc.MS_REC | sc.MS_SLAVE


def test_propagation_names_and_their_flags():
    assert propagation.flags("") == propagation.flags("rprivate") == sc.MS_PRIVATE | sc.MS_REC
    assert propagation.flags("shared") == sc.MS_SHARED
    assert propagation.flags("rslave") == sc.MS_SLAVE | sc.MS_REC
    with pytest.raises(BadParameter, match="invalid propagation 'rshard' for the bind mount"):
        validate_spec(_spec(Mount("/s", "/src", propagation="rshard")))
    with pytest.raises(BadParameter, match="invalid propagation 'shared' for the tmpfs mount"):
        validate_spec(_spec(Mount("/t", type="tmpfs", propagation="shared")))


MOUNTINFO = """\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:30 / /srv/shared rw shared:7 - ext4 /dev/vdb rw
31 22 0:31 / /srv/slave rw master:7 - ext4 /dev/vdb rw
32 22 0:32 / /srv/private rw - ext4 /dev/vdb rw
33 22 0:33 / /srv/with\\040space rw shared:9 - tmpfs tmpfs rw
"""


def test_mountinfo_and_the_mount_a_path_is_on():
    points = propagation.parse_mountinfo(MOUNTINFO)
    assert points[4].path == "/srv/with space" and points[4].shared
    assert propagation.mount_of("/srv/private/x", points).path == "/srv/private"
    assert propagation.mount_of("/srv/privatex", points).path == "/"
    assert propagation.mount_of("/srv/slave", points).slave


@pytest.mark.parametrize("source,prop,error", [
    ("/srv/shared/a", "rshared", None),
    ("/srv/slave/a", "rshared", "path /srv/slave/a is mounted on /srv/slave but it is not a "
                                "shared mount"),
    ("/srv/slave/a", "rslave", None),
    ("/srv/shared/a", "slave", None),
    ("/srv/private/a", "rslave", "path /srv/private/a is mounted on /srv/private but it is not "
                                 "a shared or slave mount"),
    ("/srv/private/a", "rprivate", None),
])
def test_sources_are_checked_as_docker_checks_them(source, prop, error):
    binds = [Mount("/t", source, propagation=prop)]
    if error is None:
        propagation.check_sources(binds, MOUNTINFO)
    else:
        with pytest.raises(BadParameter, match=error):
            propagation.check_sources(binds, MOUNTINFO)


# --- real containers ------------------------------------------------------------------------

@contextlib.contextmanager
def source_mount(tmp: Path, kind: int):
    """A directory that is its own mount with propagation `kind`, with hsub/ and csub/; every
    mount below it (also one a container left on the host) is gone afterwards."""
    src = tmp / "src"
    (src / "hsub").mkdir(parents=True)
    (src / "csub").mkdir()
    sc.mount(str(src), str(src), None, sc.MS_BIND)
    try:
        sc.mount(None, str(src), None, kind)
        yield src
    finally:
        for sub in (src / "csub", src / "hsub"):
            while os.path.ismount(sub):
                sc.umount2(str(sub), sc.MNT_DETACH)
        sc.umount2(str(src), sc.MNT_DETACH)


# waits for the host's mount, reads it, then mounts on its own side and writes there
SCRIPT = ("i=0; while [ ! -e /data/hsub/hello ] && [ $i -lt 100 ]; do sleep 0.05; "
          "i=$((i+1)); done; cat /data/hsub/hello 2>&1; "
          "mount -t tmpfs tmpfs /data/csub && echo from-container > /data/csub/c; echo end")


def _run_with_host_mount(box, src: Path, prop: str) -> str:
    spec = box.spec("sh", "-c", SCRIPT, privileged=True,
                    mounts=(Mount("/data", str(src), propagation=prop),),
                    process_kw={"cap_add": ("ALL",)})

    async def go(rt):
        proc, r = await start_piped(rt, spec, box.cgroup(spec))
        try:
            # after start: a mount the container's bind must (or must not) receive
            sc.mount("tmpfs", str(src / "hsub"), "tmpfs", 0, "size=1m")
            (src / "hsub" / "hello").write_text("from-host\n")
            output = await read_all(r)
            status = await rt.wait(proc)
            rt.release(proc)
        finally:
            os.close(r)
        assert status.code == 0, output
        return output

    return box.run(go)


@pytest.mark.integration
def test_rshared_bind_sees_the_hosts_later_mount_and_the_host_sees_the_containers(box, tmp_path):
    with source_mount(tmp_path, sc.MS_SHARED) as src:
        out = _run_with_host_mount(box, src, "rshared")
        assert "from-host" in out and out.endswith("end\n")
        assert (src / "csub" / "c").read_text() == "from-container\n"   # both ways


@pytest.mark.integration
def test_rslave_bind_sees_the_hosts_later_mount_and_keeps_its_own(box, tmp_path):
    with source_mount(tmp_path, sc.MS_SHARED) as src:
        out = _run_with_host_mount(box, src, "rslave")
        assert "from-host" in out
        assert not os.path.ismount(src / "csub") and not (src / "csub" / "c").exists()


@pytest.mark.integration
def test_a_default_bind_is_private_both_ways(box, tmp_path):
    with source_mount(tmp_path, sc.MS_SHARED) as src:
        out = _run_with_host_mount(box, src, "")
        assert "from-host" not in out and "No such file" in out
        assert not (src / "csub" / "c").exists()


@pytest.mark.integration
def test_a_shared_bind_of_a_private_mount_is_refused_before_anything_runs(box, tmp_path):
    with source_mount(tmp_path, sc.MS_PRIVATE) as src:
        spec = box.spec("true", mounts=(Mount("/data", str(src), propagation="rshared"),))
        with pytest.raises(BadParameter, match=f"path {src} is mounted on {src} but it is "
                                               "not a shared mount"):
            box.run(lambda rt: box.capture(rt, spec))
        spec = box.spec("true", mounts=(Mount("/data", str(src), propagation="slave"),))
        with pytest.raises(BadParameter, match="not a shared or slave mount"):
            box.run(lambda rt: box.capture(rt, spec))
