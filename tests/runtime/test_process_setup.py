"""What the runtime sets up for a process (#11): HOME as Docker, a working directory that must
be inside the container (CVE-2024-21626), and PID 1's own set-up failure reported as the cause."""
from __future__ import annotations

import errno
import os
import signal

import pytest
import trio

from engine.errors import EngineError, NotRunning, PycomposeError
from engine.runtime import child
from engine.runtime.runtime import Stdio
from engine.runtime.spec import Mount, ProcessSpec
from tests.runtime.conftest import User, read_all

pytestmark = pytest.mark.integration

PATH_ONLY = ("PATH=/usr/sbin:/usr/bin:/sbin:/bin",)


@pytest.mark.parametrize("user,env,home", [
    (User(), PATH_ONLY, "/root"),
    (User(1000, 1000), PATH_ONLY, "/home/app"),
    (User(4242, 4242), PATH_ONLY, "/"),                       # no passwd entry
    (User(1000, 1000), (*PATH_ONLY, "HOME=/custom"), "/custom"),
])
def test_home_as_docker_sets_it(box, user, env, home):
    status, out = box.output("sh", "-c", 'echo "$HOME"', env=env, user=user)
    assert status.code == 0, out
    assert out.strip() == home


def test_exec_gets_home_of_its_own_user(box):
    spec = box.spec("sleep", "1000", env=PATH_ONLY)
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        try:
            outs = []
            for user in (User(1000, 1000), User()):
                r, w = os.pipe()
                ex = await rt.exec(proc, spec, ProcessSpec(args=("sh", "-c", 'echo "$HOME"'),
                                                           env=PATH_ONLY, user=user), cg,
                                   Stdio(stdout=w, stderr=w))
                os.close(w)
                outs.append((await read_all(r)).strip())
                os.close(r)
                await rt.wait(ex)
            return outs
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    assert box.run(body) == ["/home/app", "/root"]


@pytest.mark.timeout(120)
def test_home_survives_a_fifo_as_passwd(box):
    merged, upper = box.rootfs()
    os.makedirs(upper / "etc", exist_ok=True)
    os.remove(merged / "etc/passwd")
    os.mkfifo(merged / "etc/passwd")
    status, out = box.output("sh", "-c", 'echo "$HOME"', env=PATH_ONLY, merged=merged)
    assert status.code == 0 and out.strip() == "/"


@pytest.mark.parametrize("cwd", ["/proc/self/fd/3", "/proc/self/fd/5", "/proc/self/fd/8",
                                 "/proc/self/fd/12"])
def test_workdir_through_proc_fd_fails_the_start_cleanly(box, cwd):
    spec = box.spec("true", cwd=cwd)
    cg = box.cgroup(spec)

    async def body(rt):
        with pytest.raises(PycomposeError) as err:
            await rt.start(spec, cg)
        return err.value.message  # (box.run re-raises a returned exception)

    message = box.run(body)
    assert "\n" not in message and "Traceback" not in message
    assert cg.pids() == []


def test_workdir_through_proc_fd_fails_an_exec_cleanly(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        try:
            errors = []
            for n in (3, 4, 5, 6, 7, 9):
                with pytest.raises(PycomposeError) as err:
                    await rt.exec(proc, spec, ProcessSpec(args=("true",), env=PATH_ONLY,
                                                          cwd=f"/proc/self/fd/{n}"), cg)
                errors.append(err.value.message)
            r, w = os.pipe()
            ex = await rt.exec(proc, spec, ProcessSpec(args=("pwd",), env=PATH_ONLY,
                                                       cwd="/proc/self/cwd/../.."), cg,
                               Stdio(stdout=w, stderr=w))
            os.close(w)
            pwd = await read_all(r)
            os.close(r)
            await rt.wait(ex)
            return errors, pwd
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    errors, pwd = box.run(body)
    assert all("\n" not in e and "Traceback" not in e for e in errors), errors
    assert pwd.strip() == "/"  # through /proc, but still inside: allowed


def test_cwd_outside_the_root_is_refused():
    """The CVE-2024-21626 situation itself: a cwd that is not below the root."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir("/proc")       # cwd outside the root chosen below
            os.chroot("/dev")
            for where in ("outside", "inside"):
                try:
                    child.check_cwd_inside("/x")
                    os.write(w, f"{where}:ok\n".encode())
                except child._Stage as e:
                    os.write(w, f"{where}:{e.errno}:{e.message}\n".encode())
                os.chdir("/")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    outside, inside = data.decode().splitlines()
    assert outside == f'outside:{errno.EPERM}:working directory "/x" is outside the container'
    assert inside == "inside:ok"


def test_pid1s_own_set_up_failure_wins_over_the_netns_error_it_causes(box, tmp_path):
    spec = box.spec("true", mounts=(Mount("/data", str(tmp_path / "missing")),))
    cg = box.cgroup(spec)

    async def wire(pid: int) -> None:
        # what the network hook runs into once PID 1 died in set-up
        with trio.fail_after(5):
            while os.path.exists(f"/proc/{pid}/ns/net"):
                await trio.sleep(0.005)
        raise EngineError(f"cannot open netns /proc/{pid}/ns/net")

    async def body(rt):
        with pytest.raises(PycomposeError) as err:
            await rt.start(spec, cg, before_exec=wire)
        return err.value.message  # (box.run re-raises a returned exception)

    message = box.run(body)
    assert "netns" not in message and "missing" in message, message


def test_a_failing_before_exec_is_reported_when_pid1_is_fine(box):
    spec = box.spec("true")
    cg = box.cgroup(spec)

    async def wire(pid: int) -> None:
        raise EngineError("network set-up failed")

    async def body(rt):
        with pytest.raises(EngineError) as err:
            await rt.start(spec, cg, before_exec=wire)
        return err.value.message  # (box.run re-raises a returned exception)

    assert box.run(body) == "network set-up failed"
    assert cg.pids() == []


def test_exec_into_a_dead_container_is_not_running(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        rt.signal(proc, signal.SIGKILL)
        await rt.wait(proc)
        with pytest.raises(NotRunning):
            await rt.exec(proc, spec, ProcessSpec(args=("true",), env=PATH_ONLY), cg)

    box.run(body)


def test_exec_at_the_pids_limit_says_why(box):
    from engine.runtime.spec import Resources
    spec = box.spec("sleep", "1000", resources=Resources(pids_limit=1))
    cg = box.cgroup(spec)

    async def body(rt):
        proc = await rt.start(spec, cg)
        try:
            with pytest.raises(EngineError) as err:
                await rt.exec(proc, spec, ProcessSpec(args=("true",), env=PATH_ONLY), cg)
            return err.value.message
        finally:
            rt.signal(proc, signal.SIGKILL)
            await rt.wait(proc)

    message = box.run(body)
    assert message == ("exec: cannot create the process in the container: "
                       "resource temporarily unavailable"), message


def test_resolve_user_reads_no_fifo_as_passwd(tmp_path):
    """The daemon resolves `-u` from the image's /etc/passwd before the start: a FIFO there
    would block that thread forever; it reads as no user database (numeric ids still work)."""
    from engine.runtime import users

    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/passwd")
    assert users.resolve_user(tmp_path, "1000:1000").uid == 1000
