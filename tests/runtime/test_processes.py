"""exec into a running container, terminals, a static init for SIGTERM, concurrent starts."""
from __future__ import annotations

import os
import signal
import time

import pytest
import trio

from engine.errors import NotRunning
from engine.runtime.runtime import Stdio
from engine.runtime.spec import ProcessSpec, Resources
from tests.runtime.conftest import ENV, read_all

pytestmark = pytest.mark.integration

CATATONIT = "/usr/bin/catatonit"


def test_exec_sees_pid1_has_ppid0_is_reaped_and_returns_its_code(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        r, w = os.pipe()
        cmd = ProcessSpec(args=("sh", "-c", "echo $PPID; tr '\\0' ' ' < /proc/1/cmdline; echo; "
                                "hostname; exit 7"), env=ENV)
        ex = await rt.exec(proc, spec, cmd, cg, Stdio(stdout=w, stderr=w))
        os.close(w)
        out = await read_all(r)
        os.close(r)
        status = await rt.wait(ex)
        in_cgroup = ex.pid in cg.pids() or not os.path.exists(f"/proc/{ex.pid}")
        reaped = not os.path.exists(f"/proc/{ex.pid}")  # not even a zombie
        rt.signal(proc, signal.SIGKILL)
        pid1 = await rt.wait(proc)
        with pytest.raises(NotRunning):
            await rt.exec(proc, spec, cmd, cg, Stdio())
        return out, status, reaped, in_cgroup, pid1

    out, status, reaped, in_cgroup, pid1 = box.run(body)
    assert out.splitlines() == ["0", "sleep 1000 ", "box"]
    assert status.code == 7 and status.signal is None
    assert reaped and in_cgroup
    assert pid1.code == 137 and pid1.signal == signal.SIGKILL


def test_exec_of_a_missing_command_is_127(box):
    from engine.errors import CommandNotFound
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        try:
            with pytest.raises(CommandNotFound):
                await rt.exec(proc, spec, ProcessSpec(args=("nosuch",), env=ENV), cg)
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    box.run(body)


def test_exec_keeps_pid1_exit_prompt_while_exec_runs(box):
    """An exec'd process is reaped by the zygote at once, so PID 1's death is reported fast (the
    kernel reports it only once every process of the namespace was reaped by its parent)."""
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        ex = await rt.exec(proc, spec, ProcessSpec(args=("sleep", "1000"), env=ENV), cg)
        t0 = time.monotonic()
        rt.signal(proc, signal.SIGKILL)
        with trio.fail_after(2):
            await rt.wait(proc)
            await rt.wait(ex)
        return time.monotonic() - t0

    assert box.run(body) < 0.5


def test_tty_process_gets_pts0_of_the_container_devpts(box):
    spec = box.spec("sh", "-c", "tty; echo rows=$(stty size)", tty=True)
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        assert proc.pty_master is not None
        out = await read_all(proc.pty_master)
        os.close(proc.pty_master)
        return out, await rt.wait(proc)

    out, status = box.run(body)
    assert status.code == 0
    assert out.replace("\r", "").splitlines()[0] == "/dev/pts/0"


def test_init_forwards_sigterm_while_a_bare_pid1_ignores_it(box):
    with_init = box.spec("sleep", "1000", init_path=CATATONIT)
    bare = box.spec("sleep", "1000")

    async def body(rt):
        cg = box.cgroup(with_init)
        proc = await rt.start(with_init, cg)
        # A signal that reaches a namespace init before it installs handlers is dropped:
        # wait until catatonit runs its child, i.e. it is set up.
        with trio.fail_after(2):
            while len(cg.pids()) < 2:
                await trio.sleep(0.005)
        t0 = time.monotonic()
        rt.signal(proc, signal.SIGTERM)
        with trio.fail_after(2):
            init_status = await rt.wait(proc)
        init_time = time.monotonic() - t0

        proc = await rt.start(bare, box.cgroup(bare))
        rt.signal(proc, signal.SIGTERM)
        with trio.move_on_after(0.5):
            await rt.wait(proc)
        ignored = rt.exit_status(proc) is None
        rt.signal(proc, signal.SIGKILL)
        with trio.fail_after(2):
            bare_status = await rt.wait(proc)
        return init_status, init_time, ignored, bare_status

    init_status, init_time, ignored, bare_status = box.run(body)
    assert init_time < 0.3
    assert init_status.code in (0, 143)
    assert ignored
    assert bare_status.code == 137


def test_ten_containers_started_at_once(box):
    specs = [box.spec("sh", "-c", "echo $(hostname) $$", hostname=f"c{i}") for i in range(10)]
    cgs = [box.cgroup(s) for s in specs]

    async def body(rt):
        results: dict[str, tuple] = {}

        async def one(spec, cg):
            results[spec.hostname] = await box.capture(rt, spec, cg)

        async with trio.open_nursery() as n:
            for spec, cg in zip(specs, cgs):
                n.start_soon(one, spec, cg)
        return results

    results = box.run(body)
    assert len(results) == 10
    for i in range(10):
        status, out = results[f"c{i}"]
        assert status.code == 0
        assert out.split() == [f"c{i}", "1"]


def test_before_exec_runs_with_pid1_waiting_and_can_see_its_netns(box):
    spec = box.spec("cat", "/etc/hostname-marker", network="private")
    cg = box.cgroup(spec)
    seen = {}

    async def before_exec(pid):
        seen["netns"] = os.readlink(f"/proc/{pid}/ns/net")
        # PID 1 has not exec'd yet: the file it will read can still be prepared
        with open(os.path.join(spec.rootfs, "etc/hostname-marker"), "w") as f:
            f.write("prepared\n")

    async def body(rt):
        r, w = os.pipe()
        proc = await rt.start(spec, cg, Stdio(stdout=w), before_exec=before_exec)
        os.close(w)
        out = await read_all(r)
        os.close(r)
        return out, await rt.wait(proc)

    out, status = box.run(body)
    assert status.code == 0 and out == "prepared\n"
    assert seen["netns"] != os.readlink("/proc/self/ns/net")


def test_failing_before_exec_leaves_nothing_running(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def before_exec(pid):
        raise RuntimeError("network wiring failed")

    with pytest.raises(RuntimeError):
        box.run(lambda rt: rt.start(spec, cg, before_exec=before_exec))
    assert cg.pids() == []


def test_closing_the_runtime_kills_running_containers(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)
    proc = box.run(lambda rt: rt.start(spec, cg))
    assert os.path.exists(f"/proc/{proc.pid}")
    box.runtime.close()
    assert not os.path.exists(f"/proc/{proc.pid}")
    assert cg.pids() == []


def _alive(pid) -> bool:
    """Running (a zombie waiting for the host's init to reap it counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_daemon_takes_its_containers_along(busybox_lower, tmp_path):
    """PDEATHSIG chain: daemon dies -> zygote dies -> every PID 1 dies (no orphans)."""
    import subprocess
    import sys
    script = f"""
import os, sys, trio, secrets
sys.path.insert(0, {os.getcwd()!r})
from pathlib import Path
from tests.runtime.conftest import Box
box = Box(Path({str(busybox_lower)!r}), Path({str(tmp_path)!r}))
spec = box.spec("sleep", "1000")
cg = box.cgroup(spec)
proc = box.run(lambda rt: rt.start(spec, cg))
print(proc.pid, box.runtime.zygote_pid, spec.id, spec.rootfs, flush=True)
sys.stdin.read()
"""
    daemon = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    pid1 = zygote = cid = merged = None
    try:
        pid1, zygote, cid, merged = daemon.stdout.readline().split()
        assert os.path.exists(f"/proc/{pid1}")
        daemon.kill()
        daemon.wait()
        deadline = time.monotonic() + 3
        while (_alive(pid1) or _alive(zygote)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(pid1)
        assert not _alive(zygote)
    finally:
        for pid in (pid1, zygote):
            if pid and _alive(pid):
                os.kill(int(pid), signal.SIGKILL)
        if daemon.poll() is None:
            daemon.kill()
        # what a crashed daemon leaves (overlay, cgroup) is the cleanup_stale functions' job
        from engine.runtime import cgroups, rootfs
        assert rootfs.cleanup_stale_mounts(tmp_path) == ([merged] if merged else [])
        if cid:
            driver = cgroups.detect()
            removed = driver.cleanup_stale(keep=set(), owned={cid})
            # every hierarchy a plain container's cgroup is made in (cpuset's only when asked)
            assert len(removed) == len(driver.parents_for(Resources()))
            assert not any(p.name.startswith(f"pycompose-{cid[:12]}")
                           for parent in driver.parents() for p in parent.iterdir())


def test_exec_with_tty_user_cwd_and_env(box):
    from engine.runtime.spec import User
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        cmd = ProcessSpec(args=("sh", "-c", "tty; id -u; pwd; echo $GREETING"),
                          env=ENV + ("GREETING=hello",), user=User(1000, 1000), cwd="/work",
                          tty=True)
        ex = await rt.exec(proc, spec, cmd, cg)
        out = await read_all(ex.pty_master)
        os.close(ex.pty_master)
        status = await rt.wait(ex)
        rt.signal(proc, signal.SIGKILL)
        await rt.wait(proc)
        return out, status

    out, status = box.run(body)
    assert status.code == 0
    assert out.replace("\r", "").split() == ["/dev/pts/0", "1000", "/work", "hello"]
