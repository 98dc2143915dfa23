"""Docker's --privileged in the runtime: the host's devices, every device allowed by the cgroup,
/sys writable and nothing masked; and the default's device refusal for comparison."""
from __future__ import annotations

import os
import stat

import pytest

from engine.runtime import devices, mounts
from engine.runtime import syscalls as sc
from engine.runtime.spec import ContainerSpec, Device, ProcessSpec, Resources, spec_from_dict, \
    spec_to_dict, validate_spec
from engine.errors import BadParameter


def _spec(**kw) -> ContainerSpec:
    return ContainerSpec(id="a" * 64, rootfs="/r", hostname="h",
                         process=ProcessSpec(args=("true",)), **kw)


def test_privileged_plan_has_writable_sys_no_masks_and_the_given_devices():
    devs = (Device("/dev/loop0", "b", 7, 0, 0o660), Device("/dev/net/tun", "c", 10, 200, 0o666))
    plan = mounts.plan_mounts(_spec(privileged=True, devices=devs))
    assert plan[1].target == "/sys" and not plan[1].flags & sc.MS_RDONLY
    assert not any(isinstance(op, (mounts.MaskPath, mounts.ReadonlyPath)) for op in plan)
    nodes = [op for op in plan if isinstance(op, mounts.MakeNode)]
    assert mounts.MakeNode("/dev/loop0", 7, 0, 0o660, True) in nodes
    assert mounts.MakeNode("/dev/net/tun", 10, 200, 0o666, False) in nodes
    default = mounts.plan_mounts(_spec())
    assert default[1].flags & sc.MS_RDONLY
    assert sum(isinstance(op, mounts.MaskPath) for op in default) == len(mounts.MASKED_PATHS)


def test_devices_travel_to_the_zygote_and_are_checked():
    spec = _spec(privileged=True, devices=(Device("/dev/loop0", "b", 7, 0),),
                 resources=Resources(all_devices=True))
    assert spec_from_dict(spec_to_dict(spec)) == spec
    for bad in (Device("/etc/passwd", "c", 1, 1), Device("/dev/../x", "c", 1, 1),
                Device("/dev/x", "p", 1, 1)):
        with pytest.raises(BadParameter, match="invalid device"):
            validate_spec(_spec(devices=(bad,)))


@pytest.mark.integration
def test_host_devices_lists_nodes_and_skips_the_containers_own(tmp_path):
    for name, kind, dev in (("loop9", stat.S_IFBLK, (7, 9)), ("null", stat.S_IFCHR, (1, 3)),
                            ("input/event3", stat.S_IFCHR, (13, 67)),
                            ("pts/5", stat.S_IFCHR, (136, 5)),
                            ("console", stat.S_IFCHR, (5, 1))):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        os.mknod(path, kind | 0o640, os.makedev(*dev))
    (tmp_path / "regular").write_text("x")
    os.symlink("/proc/self/fd", tmp_path / "fd")
    found = sorted(devices.host_devices(str(tmp_path)), key=lambda d: d.path)
    assert found == [Device("/dev/input/event3", "c", 13, 67, 0o640),
                     Device("/dev/loop9", "b", 7, 9, 0o640)]


@pytest.mark.integration
def test_privileged_container_opens_host_devices_and_sees_unmasked_proc(box):
    spec = box.spec("sh", "-c", ": < /dev/kmsg && echo kmsg=ok; "
                    "grep -E ' /sys sysfs' /proc/mounts; "
                    "grep -c ' /proc/kcore ' /proc/mounts; echo done",
                    privileged=True, devices=devices.host_devices(),
                    resources=Resources(all_devices=True),
                    process_kw={"cap_add": ("ALL",)})
    st, out = box.run(lambda rt: box.capture(rt, spec))
    assert st.code == 0, out
    assert "kmsg=ok" in out
    assert " /sys sysfs rw," in out
    assert "\n0\ndone" in out  # /proc/kcore not masked


@pytest.mark.integration
def test_default_container_cannot_open_a_device_it_makes(box):
    """CAP_MKNOD lets it make the node; the devices cgroup refuses to open it."""
    st, out = box.output("sh", "-c", "mknod /tmp/kmsg c 1 11 && echo made; "
                         "true < /tmp/kmsg; echo rc=$?")
    assert "made" in out and "Operation not permitted" in out and "rc=1" in out
