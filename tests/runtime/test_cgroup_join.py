"""PID 1 joins its cgroup from the daemon side (a thread, while PID 1 sets up): it is in the
container's cgroup in every hierarchy before its command runs, and a join that fails leaves
nothing running."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.errors import EngineError

pytestmark = pytest.mark.integration


def test_the_command_runs_inside_its_cgroup_in_every_hierarchy(box):
    spec = box.spec("cat", "/proc/self/cgroup")
    cg = box.cgroup(spec)
    status, out = box.run(lambda rt: box.capture(rt, spec, cg))
    assert status.code == 0, out
    # "<id>:<controllers>:<path>", the path relative to the hierarchy's root: each of our
    # dirs (the hierarchy's mount point + that path) must be PID 1's own in its hierarchy
    paths = [line.split(":", 2)[2] for line in out.splitlines() if line]
    for d in cg.dirs:
        assert any(p.endswith("/" + cg.name) and str(d).endswith(p) for p in paths), (d, out)


def test_before_exec_and_the_join_both_finish_before_exec(box):
    spec = box.spec("sh", "-c", "cat /proc/self/cgroup")
    cg = box.cgroup(spec)
    seen = []

    async def hook(pid: int) -> None:
        seen.append(pid)

    async def body(rt):
        from tests.runtime.conftest import read_all, start_piped
        proc, r = await start_piped(rt, spec, cg, before_exec=hook)
        try:
            out = await read_all(r)
        finally:
            os.close(r)
        status = await rt.wait(proc)
        rt.release(proc)
        return proc.pid, status, out

    pid, status, out = box.run(body)
    assert status.code == 0 and seen == [pid]
    assert cg.name in out


def test_a_join_that_fails_is_a_clear_error_and_nothing_keeps_running(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)
    victim = cg.dirs[0]
    victim.rmdir()  # the cgroup vanished in one hierarchy: writing cgroup.procs fails

    async def body(rt):
        await rt.start(spec, cg)

    with pytest.raises(EngineError) as info:
        box.run(body)
    message = str(info.value)
    assert message.startswith(f"container set-up: cannot join cgroup {victim}: ")
    assert "\n" not in message
    zygote = box.runtime.zygote_pid
    children = Path(f"/proc/{zygote}/task/{zygote}/children")
    deadline = time.monotonic() + 2
    while children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert children.read_text().split() == []  # the half-made PID 1 was killed and reaped
    os.mkdir(victim)  # so the fixture's cleanup finds what it made
