"""Namespace sharing (PidMode, IpcMode, UTSMode) and cpusets, on real namespaces and cgroups."""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest
import trio

from engine.errors import NotRunning
from engine.runtime.spec import Resources

pytestmark = pytest.mark.integration

_IPC_CREAT, _IPC_RMID = 0o1000, 0
_libc = ctypes.CDLL(None, use_errno=True)


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _host_process() -> subprocess.Popen:
    """A process of the test's own on the host, recognisable by its argv."""
    return subprocess.Popen(["sleep", f"{1000 + secrets.randbelow(9000)}.{os.getpid()}"])


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _sysv_keys(table: str) -> set[int]:
    """The keys of /proc/sysvipc/shm text (the reader's IPC namespace)."""
    return {int(line.split()[0]) for line in table.splitlines()[1:] if line.split()}


class _Segment:
    """A SysV shared memory segment made in the test's (the host's) IPC namespace."""

    def __init__(self) -> None:
        self.key = 0x70630000 + secrets.randbelow(0xFFFF)
        self.id = _libc.shmget(self.key, 4096, _IPC_CREAT | 0o600)
        assert self.id >= 0, os.strerror(ctypes.get_errno())

    def remove(self) -> None:
        _libc.shmctl(self.id, _IPC_RMID, None)


async def _start_sleeper(box, rt, **kw):
    spec = box.spec("sleep", "1000", **kw)
    return spec, await rt.start(spec, box.cgroup(spec))


async def _stop(rt, proc) -> None:
    rt.signal(proc, signal.SIGKILL)
    await rt.wait(proc)
    rt.release(proc)


def test_pid_host_sees_a_host_process_and_ps_lists_it(box):
    mine = _host_process()
    try:
        status, out = box.output("sh", "-c", f"ps -o pid,args; echo ---; cat /proc/{mine.pid}/"
                                 "cmdline; echo; echo ---; readlink /proc/self/ns/pid",
                                 pid_mode="host")
    finally:
        _reap(mine)
    assert status.code == 0, out
    listing, cmdline, ns = out.split("---\n")
    argv = " ".join(mine.args)
    assert any(line.split(None, 1) == [str(mine.pid), argv] for line in listing.splitlines()), out
    assert cmdline.split("\0")[:2] == list(mine.args)
    assert ns.strip() == _ns("self", "pid")


def test_pid_join_sees_the_other_containers_process(box):
    async def body(rt):
        x_spec, x = await _start_sleeper(box, rt)
        try:
            spec = box.spec("sh", "-c", "ps -o pid,args; readlink /proc/self/ns/pid",
                            pid_mode="join")
            status, out = await box.capture(rt, spec, joins={"pid": x})
            return status, out, _ns(x.pid, "pid")
        finally:
            await _stop(rt, x)

    status, out, x_ns = box.run(body)
    assert status.code == 0, out
    lines = out.splitlines()
    assert ["1", "sleep 1000"] in [line.split(None, 1) for line in lines[1:]], out
    assert lines[-1] == x_ns


def test_joining_a_pid_namespace_whose_process_is_gone_is_not_running(box):
    async def body(rt):
        _, x = await _start_sleeper(box, rt)
        await _stop(rt, x)   # reaped and released: its pidfd is closed
        spec = box.spec("true", pid_mode="join")
        with pytest.raises(NotRunning, match="cannot join PID of a non running container"):
            await rt.start(spec, box.cgroup(spec), joins={"pid": x})
        # a pidfd of a process that died but whose pidfd is still open: the zygote's ESRCH
        _, y = await _start_sleeper(box, rt)
        rt.signal(y, signal.SIGKILL)
        await rt.wait(y)
        try:
            with pytest.raises(NotRunning, match="cannot join PID of a non running container"):
                await rt.start(spec, box.cgroup(spec), joins={"pid": y})
        finally:
            rt.release(y)
        return True

    assert box.run(body)


def test_ipc_host_shares_sysv_and_posix_shm_with_the_host(box):
    seg = _Segment()
    name = f"pcshm-{secrets.token_hex(4)}"
    with open(f"/dev/shm/{name}", "w") as f:
        f.write("from the host")
    try:
        status, out = box.output("sh", "-c", f"cat /proc/sysvipc/shm; echo; cat /dev/shm/{name}",
                                 ipc_mode="host")
    finally:
        seg.remove()
        os.unlink(f"/dev/shm/{name}")
    assert status.code == 0, out
    table, posix = out.split("\n\n")
    assert seg.key in _sysv_keys(table)
    assert posix == "from the host"


def test_private_ipc_does_not_see_the_hosts_segment(box):
    seg = _Segment()
    try:
        status, out = box.output("cat", "/proc/sysvipc/shm")
    finally:
        seg.remove()
    assert status.code == 0, out
    assert seg.key not in _sysv_keys(out)


def test_ipc_join_shares_sysv_and_dev_shm_with_the_donor(box):
    key = 0x70640000 + secrets.randbelow(0xFFFF)

    async def body(rt):
        x_spec, x = await _start_sleeper(box, rt)
        try:
            await trio.sleep(0.1)
            # a segment made in X's IPC namespace, and a file in X's /dev/shm
            make = ("import ctypes; l = ctypes.CDLL(None); "
                    f"assert l.shmget({key}, 4096, 0o1600) >= 0")
            subprocess.run(["nsenter", f"--target={x.pid}", "--ipc", sys.executable, "-c",
                            make], check=True, timeout=30)
            subprocess.run(["nsenter", f"--target={x.pid}", "--mount", "sh", "-c",
                            "echo from-x > /dev/shm/note"], check=True, timeout=30)
            spec = box.spec("sh", "-c", "cat /proc/sysvipc/shm; echo; cat /dev/shm/note; "
                            "echo from-y > /dev/shm/reply", ipc_mode="join")
            status, out = await box.capture(rt, spec, joins={"ipc": x})
            reply = subprocess.run(["nsenter", f"--target={x.pid}", "--mount", "cat",
                                    "/dev/shm/reply"], capture_output=True, timeout=30)
            return status, out, reply.stdout
        finally:
            await _stop(rt, x)

    status, out, reply = box.run(body)
    assert status.code == 0, out
    table, note = out.split("\n\n")
    assert key in _sysv_keys(table)
    assert note.strip() == "from-x"
    assert reply == b"from-y\n"


def test_ipc_none_has_no_dev_shm(box):
    status, out = box.output("sh", "-c", "grep -c ' /dev/shm ' /proc/mounts; "
                             "grep -c ' /dev/mqueue ' /proc/mounts", ipc_mode="none")
    assert out.split() == ["0", "1"], out


def test_uts_host_has_the_hosts_name_and_leaves_it_alone(box):
    before = os.uname().nodename
    status, out = box.output("sh", "-c", "hostname; readlink /proc/self/ns/uts",
                             uts_mode="host", hostname=before)
    assert status.code == 0, out
    assert out.split() == [before, _ns("self", "uts")]
    assert os.uname().nodename == before


def test_cpuset_limits_the_sched_affinity(box):
    online = open("/sys/devices/system/cpu/online").read().strip()
    last = online.replace(",", "-").split("-")[-1]
    status, out = box.output("grep", "Cpus_allowed_list", "/proc/self/status",
                             resources=Resources(cpuset_cpus=last, cpuset_mems="0"))
    assert status.code == 0, out
    assert out.split() == ["Cpus_allowed_list:", last]


def test_a_plain_container_makes_no_cpuset_cgroup(box):
    from engine.runtime.cgroups import V1Driver

    spec = box.spec("true")
    cg = box.cgroup(spec)
    if isinstance(box.driver, V1Driver):
        cpuset_parent = box.driver.own["cpuset"]
        assert not (cpuset_parent / cg.name).exists()
        assert all(d.parent != cpuset_parent for d in cg.dirs)
    else:   # v2: one directory, where cpuset is only delegated when a container asks
        assert len(cg.dirs) == 1


def test_a_donor_whose_dev_shm_is_a_link_is_not_followed(box):
    from engine.errors import EngineError

    async def body(rt):
        # only a donor with CAP_SYS_ADMIN can swap its /dev/shm mount for a symlink
        x_spec = box.spec("sh", "-c", "umount /dev/shm && rmdir /dev/shm && ln -s / /dev/shm "
                          "&& exec sleep 1000", process_kw={"cap_add": ("ALL",)})
        x = await rt.start(x_spec, box.cgroup(x_spec))
        try:
            for _ in range(200):
                if os.path.islink(f"/proc/{x.pid}/root/dev/shm"):
                    break
                await trio.sleep(0.01)
            assert os.path.islink(f"/proc/{x.pid}/root/dev/shm")
            spec = box.spec("true", ipc_mode="join")
            with pytest.raises(EngineError, match="container set-up"):
                await rt.start(spec, box.cgroup(spec), joins={"ipc": x})
        finally:
            await _stop(rt, x)
        return True

    assert box.run(body)
