"""Pure parts of namespace sharing and cpusets: the create checks, the runtime's clone flags
and mount plan, the cpuset list syntax and the cgroup hierarchies a start uses."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.containers.sharing import Modes, check_modes
from engine.errors import BadParameter
from engine.runtime import cpuset
from engine.runtime import syscalls as sc
from engine.runtime.cgroups import CgroupLayout, CgroupMode, V1Driver
from engine.runtime.mounts import MountOp, plan_mounts
from engine.runtime.spec import ContainerSpec, ProcessSpec, Resources, validate_spec
from engine.runtime.zygote import clone_flags


def _spec(**kw) -> ContainerSpec:
    return ContainerSpec(id="a" * 64, rootfs="/tmp/x", hostname="box",
                         process=ProcessSpec(args=("true",)), network="none", **kw)


def _body(**host) -> dict:
    return {"Image": "busybox", "HostConfig": host}


def test_modes_from_a_create_body():
    assert check_modes(_body()) == Modes()
    assert check_modes(_body(PidMode="", IpcMode="private", UTSMode="")) == Modes()
    assert check_modes(_body(IpcMode="shareable")) == Modes()
    assert check_modes(_body(PidMode="host", IpcMode="none", UTSMode="host")) == \
        Modes(pid="host", ipc="none", uts="host")
    assert check_modes(_body(PidMode="container:db", IpcMode="container:cache")) == \
        Modes(pid="join", ipc="join", pid_donor="db", ipc_donor="cache")


@pytest.mark.parametrize("body, says", [
    (_body(PidMode="container:"), "HostConfig.PidMode: invalid PID mode 'container:'"),
    (_body(PidMode="private"), "invalid PID mode 'private'"),
    (_body(IpcMode="ns:/x"), "HostConfig.IpcMode: invalid IPC mode 'ns:/x'"),
    (_body(UTSMode="container:x"), "HostConfig.UTSMode: invalid UTS mode"),
    (_body(PidMode=3), "HostConfig.PidMode: invalid value 3"),
    ({"Hostname": "web", "HostConfig": {"UTSMode": "host"}},
     "conflicting options: hostname and the UTS mode"),
    ({"Domainname": "example.org", "HostConfig": {"UTSMode": "host"}},
     "conflicting options: domain name and the UTS mode"),
])
def test_modes_docker_refuses(body, says):
    with pytest.raises(BadParameter, match=says):
        check_modes(body)


def test_clone_flags_leave_out_the_shared_namespaces():
    own = sc.CLONE_NEWNS | sc.CLONE_PIDFD | sc.CLONE_NEWPID | sc.CLONE_NEWIPC \
        | sc.CLONE_NEWUTS | sc.CLONE_NEWNET
    assert clone_flags(_spec()) == own
    assert clone_flags(_spec(pid_mode="host")) == own & ~sc.CLONE_NEWPID
    # a joined PID namespace is set before the clone; a joined IPC one after it
    assert clone_flags(_spec(pid_mode="join")) == own & ~sc.CLONE_NEWPID
    assert clone_flags(_spec(ipc_mode="join")) == own
    assert clone_flags(_spec(ipc_mode="host")) == own & ~sc.CLONE_NEWIPC
    assert clone_flags(_spec(ipc_mode="none")) == own
    assert clone_flags(_spec(uts_mode="host")) == own & ~sc.CLONE_NEWUTS


def _shm_ops(spec: ContainerSpec) -> list[MountOp]:
    return [op for op in plan_mounts(spec) if isinstance(op, MountOp) and op.target == "/dev/shm"]


def test_dev_shm_follows_the_ipc_mode():
    (own,) = _shm_ops(_spec())
    assert (own.source, own.fstype) == ("shm", "tmpfs")
    (host,) = _shm_ops(_spec(ipc_mode="host"))
    assert (host.source, host.fstype, host.flags) == ("/dev/shm", None, sc.MS_BIND | sc.MS_REC)
    (joined,) = _shm_ops(_spec(ipc_mode="join"))
    assert joined.clone and joined.source is None
    assert _shm_ops(_spec(ipc_mode="none")) == []
    # /dev/mqueue stays: it is the (own or joined) IPC namespace's
    assert any(isinstance(op, MountOp) and op.target == "/dev/mqueue"
               for op in plan_mounts(_spec(ipc_mode="none")))


def test_spec_refuses_what_a_shared_namespace_cannot_take():
    validate_spec(_spec(ipc_mode="join", sysctls=(("kernel.shmmax", "1"),)))
    with pytest.raises(BadParameter, match="host's IPC namespace"):
        validate_spec(_spec(ipc_mode="host", sysctls=(("kernel.shmmax", "1"),)))
    with pytest.raises(BadParameter, match="host's IPC namespace"):
        validate_spec(_spec(ipc_mode="host", sysctls=(("fs.mqueue.msg_max", "10"),)))
    with pytest.raises(BadParameter, match="host's UTS namespace"):
        validate_spec(_spec(uts_mode="host", sysctls=(("kernel.domainname", "x"),)))
    with pytest.raises(BadParameter, match="domain name"):
        validate_spec(_spec(uts_mode="host", domainname="example.org"))
    with pytest.raises(BadParameter, match="invalid pid namespace mode"):
        validate_spec(_spec(pid_mode="container:x"))


def test_cpuset_lists():
    assert cpuset.parse_list("0-2,5") == {0, 1, 2, 5}
    assert cpuset.parse_list("3") == {3}
    for bad in ("", "a", "1-", "2-1", "0,,1", "-1"):
        with pytest.raises(ValueError, match="invalid format"):
            cpuset.parse_list(bad)
    cpuset.check("0-1", "0-3", "cpus")
    with pytest.raises(BadParameter, match="Requested CPUs are not available - requested 2-4, "
                                           "available: 0-3"):
        cpuset.check("2-4", "0-3", "cpus")
    with pytest.raises(BadParameter, match="Requested memory nodes are not available"):
        cpuset.check("1", "0", "mems")
    with pytest.raises(BadParameter, match="Invalid value x for cpuset mems: invalid format: x"):
        cpuset.check("x", "0", "mems")


def test_cpuset_host_config_reads_the_host_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(cpuset, "ONLINE_CPUS", tmp_path / "missing")
    cpuset.check_available({"CpusetCpus": ""})       # nothing asked: nothing read
    cpuset.check_available({"CpusetCpus": "0"})      # no such file: one CPU, 0
    with pytest.raises(BadParameter, match="requested 1, available: 0"):
        cpuset.check_available({"CpusetCpus": "1"})
    with pytest.raises(BadParameter, match="HostConfig.CpusetMems: invalid value 1"):
        cpuset.check_available({"CpusetMems": 1})
    # a body is parsed again later (a stored record, an update): only its syntax is checked
    # there, never the host as it is then
    cpuset.check_syntax({"CpusetCpus": "4095"})
    with pytest.raises(BadParameter, match="Invalid value 0-x for cpuset cpus"):
        cpuset.check_syntax({"CpusetCpus": "0-x"})


def test_v1_makes_a_cpuset_cgroup_only_for_a_container_that_asks():
    own = {c: Path(f"/sys/fs/cgroup/{c}/engine") for c in ("memory", "cpu", "pids", "cpuset")}
    driver = V1Driver(CgroupLayout(CgroupMode.V1, own))
    assert "cpuset" not in driver._used(Resources())
    assert driver._used(Resources(cpuset_cpus="0"))["cpuset"] == own["cpuset"]
    assert driver._used(Resources(cpuset_mems="0"))["cpuset"] == own["cpuset"]
    assert own["cpuset"] in driver.parents()    # stale cleanup still looks there
    assert own["cpuset"] not in driver.parents_for(Resources())
    assert own["cpuset"] in driver.parents_for(Resources(cpuset_cpus="1"))
    # a cpuset co-mounted with a controller we use anyway must be filled all the same
    shared = {**own, "cpuset": own["cpu"]}
    assert "cpuset" in V1Driver(CgroupLayout(CgroupMode.V1, shared))._used(Resources())


def test_v2_delegates_cpuset_on_first_use_and_writes_the_lists(tmp_path, monkeypatch):
    """cgroup v2 logic over plain files (this machine's v2 has no controllers to test on):
    cpuset joins subtree_control only when a container asks, then its lists are written."""
    from engine.errors import EngineError
    from engine.runtime import cgroups
    from engine.runtime.cgroups import V2Driver

    # the kernel makes a cgroup's files; here a write makes the file
    monkeypatch.setattr(cgroups, "_write", lambda path, value: Path(path).write_text(str(value)))

    own = tmp_path / "engine"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    driver = V2Driver(CgroupLayout(CgroupMode.V2, v2=own))
    assert "cpuset" not in driver.enabled
    plain = driver.create("pycompose-aaaaaaaaaaaa-1", Resources(all_devices=True))
    assert not (plain.dirs[0] / "cpuset.cpus").exists()
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    pinned = driver.create("pycompose-bbbbbbbbbbbb-1",
                           Resources(all_devices=True, cpuset_cpus="0-1", cpuset_mems="0"))
    assert (own / "cgroup.subtree_control").read_text() == "+cpuset"   # the last write
    assert "cpuset" in driver.enabled
    assert (pinned.dirs[0] / "cpuset.cpus").read_text() == "0-1"
    assert (pinned.dirs[0] / "cpuset.mems").read_text() == "0"
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    without = V2Driver(CgroupLayout(CgroupMode.V2, v2=own))
    with pytest.raises(EngineError, match="the cpuset controller is not available"):
        without.create("pycompose-cccccccccccc-1", Resources(all_devices=True, cpuset_cpus="0"))
    assert not (own / "pycompose-cccccccccccc-1").exists()
