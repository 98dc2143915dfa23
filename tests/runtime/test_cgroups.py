"""Cgroup drivers on the real kernel: freeze/thaw, kill_all, stale cleanup, and the v2 code path
(on this hybrid machine the v2 driver runs on the `unified` hierarchy, which has no controllers
bound but has cgroup.freeze / cgroup.kill / cgroup.events)."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest
import trio

from engine.runtime import cgroups
from engine.runtime.spec import Resources
from tests.runtime.conftest import Mount

pytestmark = pytest.mark.integration


def _counter_spec(box, tmp: Path):
    return box.spec("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /srv/c; sleep 0.01; done",
                    mounts=(Mount("/srv", str(tmp)),))


def _read_counter(tmp: Path) -> str:
    # The shell may be frozen between truncating and writing: "" is a valid, stable reading.
    return (tmp / "c").read_text() if (tmp / "c").exists() else ""


def _freeze_kill_cycle(box, cg: cgroups.Cgroup, tmp: Path):
    spec = _counter_spec(box, tmp)

    async def body(rt):
        proc = await rt.start(spec, cg)
        await trio.sleep(0.15)
        try:
            cg.freeze()
            await trio.sleep(0.05)
            frozen_at = _read_counter(tmp)
            await trio.sleep(0.3)
            still = _read_counter(tmp)
        finally:
            cg.thaw()  # a frozen process cannot even be SIGKILLed
        await trio.sleep(0.3)
        moved_on = _read_counter(tmp)
        cg.kill_all()
        with trio.fail_after(3):
            status = await rt.wait(proc)
        return frozen_at, still, moved_on, status

    frozen_at, still, moved_on, status = box.run(body)
    assert still == frozen_at      # nothing ran while frozen
    assert moved_on != still       # and it resumed
    assert status.code == 137
    assert cg.pids() == []


def test_v1_freeze_thaw_and_kill_all(box, tmp_path):
    if box.driver.mode is cgroups.CgroupMode.V2:
        pytest.skip("machine has no v1 hierarchies")  # CI machine is hybrid: this runs there
    spec_cg = box.driver.create(f"pycompose-{secrets.token_hex(6)}-1", Resources())
    box.cgroups.append(spec_cg)
    _freeze_kill_cycle(box, spec_cg, tmp_path)


def _v2_driver() -> cgroups.V2Driver:
    layout = cgroups.detect_layout(Path("/proc/self/cgroup").read_text(),
                                   Path("/proc/self/mountinfo").read_text())
    if layout.v2 is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    return cgroups.V2Driver(cgroups.CgroupLayout(cgroups.CgroupMode.V2, {}, layout.v2))


def test_v2_driver_runs_freezes_kills_and_removes(box, tmp_path):
    driver = _v2_driver()
    cg = driver.create(f"pycompose-{secrets.token_hex(6)}-1", Resources(pids_limit=50))
    box.cgroups.append(cg)
    assert isinstance(cg, cgroups.V2Cgroup)
    assert cg.procs_files() == [str(driver.own / cg.name / "cgroup.procs")]
    _freeze_kill_cycle(box, cg, tmp_path)
    cg.remove()
    assert not (driver.own / cg.name).exists()


def test_cleanup_stale_kills_and_removes_only_owned_unkept_cgroups(box):
    stale_spec = box.spec("sleep", "1000")
    kept_spec = box.spec("sleep", "1000")
    stale, kept = box.cgroup(stale_spec), box.cgroup(kept_spec)

    async def body(rt):
        p1 = await rt.start(stale_spec, stale)
        p2 = await rt.start(kept_spec, kept)
        removed = box.driver.cleanup_stale(keep={kept_spec.id},
                                           owned={stale_spec.id, kept_spec.id})
        with trio.fail_after(3):
            s1 = await rt.wait(p1)
        alive = rt.exit_status(p2) is None
        rt.signal(p2, 9)
        await rt.wait(p2)
        return removed, s1, alive

    removed, s1, alive = box.run(body)
    assert s1.code == 137 and alive
    assert sorted(removed) == sorted(str(d) for d in stale.dirs)
    assert not any(d.exists() for d in stale.dirs)
    assert all(d.exists() for d in kept.dirs)


def test_create_never_reuses_a_leftover_cgroup(box):
    """A same-named leftover (a crashed daemon's) is killed and replaced by a fresh cgroup."""
    spec = box.spec("sleep", "1000")
    name = f"pycompose-{spec.id[:12]}-1"
    first = box.driver.create(name, Resources(pids_limit=7))
    box.cgroups.append(first)

    async def body(rt):
        proc = await rt.start(spec, first)
        second = box.driver.create(name, Resources(pids_limit=9))
        box.cgroups.append(second)
        with trio.fail_after(3):
            status = await rt.wait(proc)
        return second, status

    second, status = box.run(body)
    assert status.code == 137
    assert second.pids() == []
    assert second.stats()["pids"]["limit"] == 9


def test_closing_the_runtime_kills_even_a_frozen_container(box):
    spec = box.spec("sleep", "1000")
    cg = box.cgroup(spec)
    proc = box.run(lambda rt: rt.start(spec, cg))
    cg.freeze()
    t0 = time.monotonic()
    box.runtime.close()  # the zygote thaws what it started, so SIGKILL can land
    assert time.monotonic() - t0 < 2
    deadline = time.monotonic() + 2
    while cg.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cg.pids() == [] and not os.path.exists(f"/proc/{proc.pid}")
