"""Pure parts of the runtime (no root): users, cgroup detection, capabilities, spec validation,
the mount plan, the protocol, exit statuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import (BadParameter, CommandNotExecutable, CommandNotFound, EngineError,
                           NotRunning)
from engine.runtime import capabilities as caps
from engine.runtime import cgroups, mounts, protocol
from engine.runtime import syscalls as sc
from engine.runtime.rootfs import overlay_options
from engine.runtime.runtime import ExitStatus, failure_error
from engine.runtime.spec import (ContainerSpec, Mount, ProcessSpec, Resources, Rlimit, User,
                                 spec_from_dict, spec_to_dict, validate_spec)
from engine.runtime.users import parse_group, parse_passwd, resolve_user_from
from tests.support.busybox import GROUP, PASSWD

ID = "ab" * 32


# --- users -----------------------------------------------------------------------------------

@pytest.fixture
def db():
    return parse_passwd(PASSWD), parse_group(GROUP)


@pytest.mark.parametrize("spec,expected", [
    ("0", User(0, 0)),
    ("root", User(0, 0)),
    ("1000", User(1000, 1000, (50,))),      # numeric uid with an entry: its gid and groups
    ("4242", User(4242, 0)),                # numeric uid without an entry: gid 0, like docker
    ("1000:1000", User(1000, 1000, (50,))),
    ("4242:4343", User(4242, 4343)),
    ("app", User(1000, 1000, (50,))),
    ("app:staff", User(1000, 50)),
    ("app:0", User(1000, 0, (50,))),
    ("nobody", User(65534, 65534)),
])
def test_resolve_user(db, spec, expected):
    assert resolve_user_from(spec, *db) == expected


def test_unknown_user_or_group_names_it(db):
    with pytest.raises(BadParameter, match="unable to find user ghost: no matching entries"):
        resolve_user_from("ghost", *db)
    with pytest.raises(BadParameter, match="unable to find group ghosts"):
        resolve_user_from("app:ghosts", *db)


def test_passwd_parser_skips_garbage():
    entries = parse_passwd("# comment\nbad\nx:x:notanumber:0::/:/bin/sh\nok:x:5:6::/h:/bin/sh\n")
    assert [(e.name, e.uid, e.gid, e.home) for e in entries] == [("ok", 5, 6, "/h")]


# --- cgroup detection ------------------------------------------------------------------------

HYBRID_CGROUP = """9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/process_api/e3b6
2:cpuacct:/
1:cpu:/
0::/
"""
HYBRID_MOUNTINFO = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_detects_hybrid_with_nested_memory_path():
    layout = cgroups.detect_layout(HYBRID_CGROUP, HYBRID_MOUNTINFO)
    assert layout.mode is cgroups.CgroupMode.HYBRID
    assert layout.v1["memory"] == Path("/sys/fs/cgroup/memory/process_api/e3b6")
    assert layout.v1["pids"] == Path("/sys/fs/cgroup/pids")
    assert set(layout.v1) == {"memory", "cpu", "cpuacct", "pids", "freezer", "devices"}
    assert layout.v2 == Path("/sys/fs/cgroup/unified")


def test_detects_pure_v1_with_comounted_cpu_cpuacct():
    mountinfo = ("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                 "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    layout = cgroups.detect_layout("3:cpu,cpuacct:/a\n2:memory:/a\n", mountinfo)
    assert layout.mode is cgroups.CgroupMode.V1
    assert layout.v1 == {"cpu": Path("/sys/fs/cgroup/cpu,cpuacct/a"),
                         "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct/a"),
                         "memory": Path("/sys/fs/cgroup/memory/a")}


def test_detects_v2_and_own_path():
    mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    layout = cgroups.detect_layout("0::/user.slice/user-0.slice/session-1.scope\n", mountinfo)
    assert layout.mode is cgroups.CgroupMode.V2
    assert layout.v2 == Path("/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope")


def test_cgroup_mounted_with_a_subtree_root():
    """Inside a container the cgroupfs root is our own cgroup: paths are relative to it."""
    mountinfo = "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
    layout = cgroups.detect_layout("0::/docker/abc/sub\n", mountinfo)
    assert layout.v2 == Path("/sys/fs/cgroup/sub")


def test_no_cgroup_fs_is_a_clear_error():
    with pytest.raises(EngineError, match="no cgroup filesystem"):
        cgroups.detect_layout("0::/\n", "1 0 0:1 / / rw - ext4 /dev/sda rw\n")


def test_cpu_conversions_and_stale_names():
    assert cgroups.cpu_quota(500_000_000) == 50_000
    assert cgroups.cpu_quota(1_500_000_000) == 150_000
    assert cgroups.cpu_weight(1024) == 39 and cgroups.cpu_weight(2) == 1
    assert cgroups.cpu_weight(262144) == 10000
    assert cgroups._is_stale("pycompose-0123456789ab-2", set())
    assert not cgroups._is_stale("pycompose-0123456789ab-2", {"0123456789ab" + "c" * 52})
    assert not cgroups._is_stale("pycompose-engine", set())
    assert not cgroups._is_stale("system.slice", set())
    assert not cgroups._is_stale("pycompose-build-f490d82d-43d01569a9c9", set())  # not ours
    # with `owned`, another daemon's containers are never candidates
    assert not cgroups._is_stale("pycompose-0123456789ab-2", set(), owned={"ffffffffffff"})
    assert cgroups._is_stale("pycompose-0123456789ab-2", set(), owned={"0123456789ab"})


# --- capabilities ----------------------------------------------------------------------------

def test_docker_default_capability_mask():
    assert caps.DOCKER_DEFAULT_MASK == 0xA80425FB
    assert caps.effective_mask() == 0xA80425FB


def test_cap_add_drop_rules():
    assert caps.effective_mask(("NET_ADMIN",)) == 0xA80425FB | 1 << 12
    assert caps.effective_mask((), ("CAP_CHOWN", "kill")) == 0xA80425FB & ~0b100001
    assert caps.effective_mask(("ALL",)) == caps.ALL_CAPS
    assert caps.effective_mask(("ALL",), last_cap=40) == (1 << 41) - 1
    assert caps.effective_mask(("CHOWN",), ("ALL",)) == 1
    assert caps.effective_mask((), ("ALL",)) == 0
    with pytest.raises(BadParameter, match="unknown capability: 'FLY'"):
        caps.effective_mask(("FLY",))


# --- spec ------------------------------------------------------------------------------------

def _spec(**kw) -> ContainerSpec:
    process = kw.pop("process", ProcessSpec(args=("sh",), env=("PATH=/bin",)))
    return ContainerSpec(id=kw.pop("id", ID), rootfs=kw.pop("rootfs", "/r"), hostname="h",
                         process=process, **kw)


@pytest.mark.parametrize("kw,message", [
    ({"id": "xyz"}, "invalid container id"),
    ({"rootfs": "rel"}, "rootfs must be an absolute path"),
    ({"process": ProcessSpec(args=())}, "no command specified"),
    ({"process": ProcessSpec(args=("sh",), env=("NOEQUALS",))}, "invalid environment variable"),
    ({"process": ProcessSpec(args=("sh",), cwd="rel")}, "needs to be an absolute path"),
    ({"process": ProcessSpec(args=("sh",), rlimits=(Rlimit("nofile", 10, 5),))}, "soft limit"),
    ({"process": ProcessSpec(args=("sh",), rlimits=(Rlimit("bogus", 1, 1),))}, "invalid ulimit"),
    ({"mounts": (Mount("rel", "/x"),)}, "invalid mount target"),
    ({"network": "bridge"}, "invalid network mode"),
    ({"resources": Resources(memory=1024)}, "Minimum memory limit"),
    ({"resources": Resources(memory=64 << 20, memory_swap=32 << 20)}, "memoryswap"),
    ({"resources": Resources(nano_cpus=10**15)}, "Range of CPUs"),
])
def test_spec_validation(kw, message):
    with pytest.raises(BadParameter, match=message):
        validate_spec(_spec(**kw))


def test_spec_json_round_trip():
    spec = _spec(mounts=(Mount("/data", "/host", options=("rbind",), readonly=True),),
                 resources=Resources(memory=64 << 20, pids_limit=10), init_path="/usr/bin/x",
                 process=ProcessSpec(args=("sh", "-c", "x"), env=("A=1",), cwd="/w",
                                     user=User(1, 2, (3, 4)), tty=True, cap_add=("NET_ADMIN",),
                                     rlimits=(Rlimit("nofile", 10, 20),),
                                     console_size=(40, 100)))
    validate_spec(spec)
    assert spec_from_dict(spec_to_dict(spec)) == spec


# --- mount plan ------------------------------------------------------------------------------

def test_mount_plan_order_and_flags():
    spec = _spec(init_path="/usr/bin/catatonit", mounts=(
        Mount("/data/sub", "/h/sub"), Mount("/data", type="tmpfs", options=("size=1m", "exec")),
        Mount("/etc/hosts", "/h/hosts", readonly=True)))
    plan = mounts.plan_mounts(spec)
    assert plan[0] == mounts.MountOp("/proc", "proc", "proc",
                                     sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                                     rule=mounts.TargetRule.REAL_DIR)
    assert plan[1].target == "/sys" and plan[1].flags & sc.MS_RDONLY
    assert plan[2].target == "/dev" and plan[2].fstype == "tmpfs"
    nodes = {op.path for op in plan if isinstance(op, mounts.MakeNode)}
    assert nodes == {f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}
    devpts = next(op for op in plan if isinstance(op, mounts.MountOp) and op.fstype == "devpts")
    assert "newinstance" in devpts.data and "ptmxmode=0666" in devpts.data
    targets = [op.target for op in plan if isinstance(op, mounts.MountOp)]
    # init is bound read-only; user mounts come parents first
    assert targets.index("/dev/init") < targets.index("/data") < targets.index("/data/sub")
    data = next(op for op in plan if isinstance(op, mounts.MountOp) and op.target == "/data")
    assert data.data == "size=1m" and not data.flags & sc.MS_NOEXEC and data.flags & sc.MS_NOSUID
    hosts = [op for op in plan if isinstance(op, mounts.MountOp) and op.target == "/etc/hosts"]
    assert hosts[0].flags == sc.MS_BIND | sc.MS_REC and hosts[0].create == "auto"
    assert hosts[1].flags & sc.MS_REMOUNT and hosts[1].flags & sc.MS_RDONLY
    # masked and read-only paths come last, so no later mount uncovers them
    tail = plan[-(len(mounts.MASKED_PATHS) + len(mounts.READONLY_PATHS)):]
    assert [op.path for op in tail] == list(mounts.MASKED_PATHS + mounts.READONLY_PATHS)
    assert mounts.MaskPath("/proc/kcore") in tail and mounts.ReadonlyPath("/proc/sys") in tail


def test_parse_mount_options():
    flags, data = mounts.parse_options(("ro", "noexec", "size=64m", "rprivate", "mode=1777"))
    assert flags == sc.MS_RDONLY | sc.MS_NOEXEC and data == "size=64m,mode=1777"
    flags, _ = mounts.parse_options(("exec", "suid"), sc.MS_NOEXEC | sc.MS_NOSUID)
    assert flags == 0


def test_secure_join_keeps_symlinks_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "abs").symlink_to("/outside/place")
    (root / "etc" / "rel").symlink_to("../../../../escape")
    (root / "loop").symlink_to("loop")
    r = str(root)
    assert mounts.secure_join(r, "/etc/abs/x") == f"{r}/outside/place/x"
    assert mounts.secure_join(r, "/etc/rel") == f"{r}/escape"
    assert mounts.secure_join(r, "/../../etc") == f"{r}/etc"
    with pytest.raises(OSError):
        mounts.secure_join(r, "/loop/x")


def test_overlay_options_put_the_highest_layer_first():
    opts = overlay_options([Path("/l/base"), Path("/l/top")], Path("/u"), Path("/w"))
    assert opts == "lowerdir=/l/top:/l/base,upperdir=/u,workdir=/w"


# --- protocol and statuses -------------------------------------------------------------------

def test_protocol_round_trip_and_garbage():
    for msg in (protocol.Start(1, {"id": "x"}, ["/c/cgroup.procs"], ["stdout"]),
                protocol.Failed(2, 2, "no", "exec"), protocol.Exited(10, 9),
                protocol.Started(3, 11, tty=True), protocol.Ready(True)):
        assert protocol.decode(protocol.encode(msg)) == msg
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(b'{"type": "Nope"}')
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(b"not json")


def test_exit_status_from_wait_status():
    assert ExitStatus.from_wait_status(3 << 8) == ExitStatus(3, None)
    assert ExitStatus.from_wait_status(9) == ExitStatus(137, 9)
    assert ExitStatus.from_wait_status(15) == ExitStatus(143, 15)


def test_failures_map_to_typed_errors():
    assert isinstance(failure_error(protocol.Failed(1, 2, "m", "exec")), CommandNotFound)
    assert isinstance(failure_error(protocol.Failed(1, 13, "m", "exec")), CommandNotExecutable)
    assert isinstance(failure_error(protocol.Failed(1, 8, "m", "exec")), CommandNotExecutable)
    assert isinstance(failure_error(protocol.Failed(1, 3, "m", "notrunning")), NotRunning)
    err = failure_error(protocol.Failed(1, 2, "container set-up: mount: ENOENT", "setup"))
    assert type(err) is EngineError and str(err) == "container set-up: mount: ENOENT"


# --- cgroup drivers, with writes recorded (the v2 paths cannot run on a hybrid host) ---------

@pytest.fixture
def recorded(monkeypatch, tmp_path):
    import errno as errno_mod
    calls: list[tuple[str, str]] = []
    busy_once = {"cgroup.subtree_control": True}

    def fake_write(path: Path, value) -> None:
        calls.append((path.relative_to(tmp_path).as_posix(), str(value)))
        if busy_once.pop(path.name, False):
            raise OSError(errno_mod.EBUSY, "Device or resource busy")

    monkeypatch.setattr(cgroups, "_write", fake_write)
    return calls


def test_v2_driver_moves_the_daemon_into_a_leaf_then_enables_controllers(recorded, tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (tmp_path / "cgroup.procs").write_text("11\n12\n")
    driver = cgroups.V2Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V2, {}, tmp_path))
    assert recorded == [("cgroup.subtree_control", "+memory +pids +cpu"),   # EBUSY: internal procs
                        ("pycompose-engine/cgroup.procs", "11"),
                        ("pycompose-engine/cgroup.procs", "12"),
                        ("cgroup.subtree_control", "+memory +pids +cpu")]
    assert driver.enabled == {"memory", "pids", "cpu"}


def test_v2_limits(recorded, tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids cpu\n")
    recorded_driver = cgroups.V2Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V2, {}, tmp_path))
    box = tmp_path / "c"
    box.mkdir()
    (box / "memory.swap.max").write_text("max\n")
    recorded.clear()
    recorded_driver._limit(box, Resources(memory=64 << 20, memory_swap=96 << 20,
                                          nano_cpus=1_500_000_000, cpu_shares=512, pids_limit=20))
    assert recorded == [("c/memory.max", str(64 << 20)), ("c/memory.swap.max", str(32 << 20)),
                        ("c/cpu.max", "150000 100000"), ("c/cpu.weight", "20"),
                        ("c/pids.max", "20")]
    recorded.clear()
    recorded_driver._limit(box, Resources(memory=64 << 20, memory_swap=-1, pids_limit=-1))
    assert recorded == [("c/memory.max", str(64 << 20)), ("c/memory.swap.max", "max"),
                        ("c/pids.max", "max")]


def test_v1_limits_and_device_allow_list(recorded, tmp_path):
    dirs = {c: tmp_path / c for c in ("memory", "cpu", "pids", "devices")}
    for d in dirs.values():
        d.mkdir()
    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text("")
    driver = cgroups.V1Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V1, {}))
    driver._limit(dirs, Resources(memory=32 << 20, nano_cpus=500_000_000, cpu_shares=256,
                                  pids_limit=50))
    assert recorded[:6] == [("memory/memory.limit_in_bytes", str(32 << 20)),
                            ("memory/memory.memsw.limit_in_bytes", str(64 << 20)),  # docker: 2x
                            ("cpu/cpu.cfs_period_us", "100000"), ("cpu/cpu.cfs_quota_us", "50000"),
                            ("cpu/cpu.shares", "256"), ("pids/pids.max", "50")]
    assert recorded[6] == ("devices/devices.deny", "a")
    assert ("devices/devices.allow", "c 1:3 rwm") in recorded[7:]
