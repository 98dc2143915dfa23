"""The collaborators ContainerManager is composed of, without a daemon or a kernel: state
changes wake their waiters, the network mode a start gets, output that reaches the log and the
live subscribers even when the log cannot be written, and the facade's wiring."""
from __future__ import annotations

import json
import logging
import signal
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from engine.containers.manager import ContainerManager
from engine.containers.model import ContainerState, parse_create
from engine.containers.output import ContainerOutput
from engine.containers.running import Running, RunningTable
from engine.containers.statefeed import StateFeed
from engine.containers.store import ContainerRecord, ContainerStore, new_id
from engine.containers.wiring import NetworkWiring
from engine.errors import BadParameter, Conflict
from engine.runtime.spec import ContainerSpec
from engine.volumes import VolumeStore


def _record(store: ContainerStore, name: str, **body: object) -> ContainerRecord:
    cid = new_id()
    rec = ContainerRecord(cid, name, "2026-01-01T00:00:00Z", "sha256:" + "0" * 64,
                          parse_create({"Image": "busybox", "Cmd": ["true"], **body}),
                          store.root / cid)
    rec.dir.mkdir()
    store.write_new(rec)
    store.add(rec)
    return rec


def _running(pid: int) -> Running:
    spec = ContainerSpec(id="x", rootfs="/", hostname="h", process=None)  # type: ignore[arg-type]
    return Running(SimpleNamespace(pid=pid), None, spec, 0.0)  # type: ignore[arg-type]


def test_a_recorded_state_is_saved_and_wakes_the_waiter_that_took_the_event_before(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "alpha")
    feed = StateFeed(store)
    woke: list[str] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            async def waiter() -> None:
                await feed.wait(rec.id)
                woke.append(rec.state.status.value)
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert woke == []
            rec.state.status = ContainerState.EXITED
            feed.record(rec)

    trio.run(main)
    assert woke == ["exited"]
    assert json.loads((rec.dir / "state.json").read_text())["Status"] == "exited"
    taken = feed.event(rec.id)
    feed.changed(rec.id)
    assert taken.is_set() and not feed.event(rec.id).is_set()   # the next waiter gets a new one


def test_the_running_table_iterates_over_a_snapshot():
    table = RunningTable()
    table.add("a", _running(1))
    table.add("b", _running(2))
    for cid in table:
        table.drop(cid)   # a container that exits while shutdown walks the table
    assert "a" not in table and table.get("b") is None


def test_network_mode_of_a_start(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    table = RunningTable()
    owner = _record(store, "owner")
    joiner = _record(store, "joiner", HostConfig={"NetworkMode": "container:owner"})
    plain = _record(store, "plain")
    host = _record(store, "host", HostConfig={"NetworkMode": "host"})
    without = NetworkWiring(None, store, table)
    assert without.networks_ready.is_set()   # nothing to wait for
    assert without.mode(plain) == "none"     # no backend: no network, not a failure
    assert without.mode(host) == "host"
    with pytest.raises(Conflict, match="non running container"):
        without.mode(joiner)
    owner.state.status = ContainerState.RUNNING
    table.add(owner.id, _running(4242))
    assert without.mode(joiner) == "ns:/proc/4242/ns/net"
    backend = SimpleNamespace()
    with_backend = NetworkWiring(backend, store, table)   # type: ignore[arg-type]
    assert with_backend.mode(plain) == "private"
    assert not with_backend.networks_ready.is_set()   # the daemon sets it after recovery
    assert callable(backend.container_links)         # the resolver asks the wiring for links


def test_network_connect_without_a_backend_is_a_one_line_refusal(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "alpha")
    wiring = NetworkWiring(None, store, RunningTable())
    with pytest.raises(BadParameter, match="^networking is not available in this engine$"):
        trio.run(wiring.connect, rec.id, "front", {})
    shown = wiring.networks_json(rec)
    assert list(shown) == ["bridge"] and shown["bridge"]["IPAddress"] == ""


def test_output_reaches_log_and_subscribers_and_a_log_failure_is_said_once(tmp_path, caplog):
    store = ContainerStore(tmp_path / "containers")
    rec = _record(store, "alpha")
    table = RunningTable()
    output = ContainerOutput(store, table, StateFeed(store), tasks=None,  # type: ignore[arg-type]
                             stop=None)  # type: ignore[arg-type]
    got: list[tuple[int, bytes]] = []

    async def main() -> None:
        receive = output.hub(rec.id).subscribe()
        sink = output.sink(rec)
        sink.stream("stdout")(b"one\n")
        sink.stream("stderr")(b"two")
        sink.flush()
        rec.log_path.unlink()
        rec.log_path.mkdir()    # the log can no longer be opened: writes fail
        broken = output.sink(rec)
        with caplog.at_level(logging.ERROR, "engine.containers"):
            broken.stream("stdout")(b"three\n")
            broken.stream("stdout")(b"four\n")
        output.hub(rec.id).close_all()
        async for chunk in receive:
            got.append(chunk)

    trio.run(main)
    assert got == [(1, b"one\n"), (2, b"two"), (1, b"three\n"), (1, b"four\n")]
    assert len([r for r in caplog.records if "log of" in r.message]) == 1


def test_the_manager_hands_the_image_store_to_its_supervisor(tmp_path):
    manager = ContainerManager(tmp_path, runtime=None, cgroups=None,  # type: ignore[arg-type]
                               images=None, volumes=VolumeStore(tmp_path / "volumes"))
    images = SimpleNamespace(get=None)
    manager.images = images   # type: ignore[assignment]  (the daemon sets it after the manager)
    assert manager.supervisor.images is images and manager.images is images
    assert manager.networks is None and manager.networks_ready.is_set()


def test_list_filters_by_network_and_by_creation_order(tmp_path):
    from engine.containers.execs import ExecRegistry
    from engine.containers.queries import ContainerQueries

    store = ContainerStore(tmp_path / "containers")
    table = RunningTable()
    old, mid, new = (_record(store, n) for n in ("old", "mid", "new"))
    old.created, mid.created, new.created = ("2026-01-01T00:00:0%dZ" % i for i in (1, 2, 3))
    _record(store, "hosted", HostConfig={"NetworkMode": "host"}).created = "2026-01-01T00:00:04Z"
    queries = ContainerQueries(store, table, VolumeStore(tmp_path / "volumes"),
                               ExecRegistry(store, table, None, None),  # type: ignore[arg-type]
                               NetworkWiring(None, store, table))

    def names(**filters: list[str]) -> list[str]:
        return [c["Names"][0] for c in queries.list(all_=True, filters=dict(filters))]

    assert names(network=["bridge"]) == ["/new", "/mid", "/old"]   # newest first
    assert names(network=["host"]) == ["/hosted"]
    assert names(before=["mid"]) == ["/old"]
    assert names(since=["mid"]) == ["/hosted", "/new"]
    with pytest.raises(BadParameter, match="invalid filter 'colour'"):
        names(colour=["red"])


class _FakeRuntime:
    """A runtime whose processes ignore every signal but SIGKILL, which ends them at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, int]] = []
        self.runs: dict[int, Running] = {}

    def signal(self, process: SimpleNamespace, sig: int) -> None:
        self.sent.append((trio.current_time(), sig))
        if sig == signal.SIGKILL:
            run = self.runs[process.pid]
            run.exited.set()
            run.finished.set()


def _supervisor(tmp_path, runtime: _FakeRuntime):
    from engine.containers.background import TaskHost
    from engine.containers.events import EventBus
    from engine.containers.execs import ExecRegistry
    from engine.containers.supervisor import Supervisor

    store = ContainerStore(tmp_path / "containers")
    table = RunningTable()
    feed = StateFeed(store)
    tasks = TaskHost()
    output = ContainerOutput(store, table, feed, tasks, stop=None)  # type: ignore[arg-type]

    async def no_removal(cid: str) -> None:
        raise AssertionError("nothing is auto-removed here")

    sup = Supervisor(store=store, feed=feed, table=table, tasks=tasks,
                     runtime=runtime, cgroups=None, volumes=None,  # type: ignore[arg-type]
                     wiring=NetworkWiring(None, store, table), output=output,
                     execs=ExecRegistry(store, table, runtime, tasks),  # type: ignore[arg-type]
                     events=EventBus(), auto_remove=no_removal)
    return store, table, sup


def _started(store: ContainerStore, table: RunningTable, runtime: _FakeRuntime, name: str,
             pid: int, **body: object) -> tuple[ContainerRecord, Running]:
    rec = _record(store, name, **body)
    rec.state.status = ContainerState.RUNNING
    run = _running(pid)
    table.add(rec.id, run)
    runtime.runs[pid] = run
    return rec, run


def test_stop_sends_the_stop_signal_then_sigkill_after_the_grace_period(tmp_path):
    runtime = _FakeRuntime()
    store, table, sup = _supervisor(tmp_path, runtime)
    rec, run = _started(store, table, runtime, "web", 101, StopSignal="SIGQUIT")

    async def main() -> None:
        await sup.stop(rec, run, 3, by_user=True)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert runtime.sent == [(0.0, signal.SIGQUIT), (3.0, signal.SIGKILL)]
    assert run.stop_requested


def test_shutdown_stops_every_container_at_once(tmp_path):
    runtime = _FakeRuntime()
    store, table, sup = _supervisor(tmp_path, runtime)
    started = [_started(store, table, runtime, f"c{i}", 200 + i, StopTimeout=5)
               for i in range(3)]
    finished_at: list[float] = []

    async def stop(cid: str) -> None:
        rec = store.get(cid)
        run = table.get(cid)
        assert run is not None
        await sup.stop(rec, run, None, by_user=False)

    async def main() -> None:
        await sup.shutdown(stop)
        finished_at.append(trio.current_time())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    kills = [t for t, sig in runtime.sent if sig == signal.SIGKILL]
    assert kills == [5.0, 5.0, 5.0]          # each its own grace period, in parallel
    assert finished_at == [5.0] and sup.shutting_down
    assert all(run.stop_requested for _, run in started)


class _FakeCgroup:
    def oom_killed(self) -> bool:
        return False

    def remove(self) -> None:
        pass


def _exit_then(tmp_path, monkeypatch, action: str
               ) -> tuple[ContainerRecord, list[float], list[float]]:
    """A restart=always container's PID 1 exits with 1 at t=0; then `action` at t=0.05 (during
    the 0.1 s back-off): nothing, or the user's stop. Returns the record, when the supervisor
    launched it again, and when the state changed to exited."""
    # The exit's teardown runs in a worker thread; on an autojumping clock the virtual 0.05 s
    # would pass while that thread is still being scheduled (the loop looks idle), so the check
    # below raced it. The fake's teardown is instant: run it inline.
    async def inline(fn, *args, **_kw):
        return fn(*args)
    monkeypatch.setattr(trio.to_thread, "run_sync", inline)
    runtime = _FakeRuntime()
    store, table, sup = _supervisor(tmp_path, runtime)
    rec, run = _started(store, table, runtime, "web", 301, HostConfig={
        "RestartPolicy": {"Name": "always"}})
    run.cgroup = _FakeCgroup()   # type: ignore[assignment]
    sup.track_policy(rec)
    launched: list[float] = []
    exited: list[float] = []

    async def launch(again: ContainerRecord) -> None:   # what a start would do, minus the kernel
        launched.append(trio.current_time())
        again.state.status = ContainerState.RUNNING

    sup.launch = launch   # type: ignore[method-assign]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sup._on_exit, rec, run, SimpleNamespace(code=1, oom_killed=False))
            await trio.sleep(0.05)
            assert rec.state.status is ContainerState.RESTARTING
            if action == "stop":
                await sup.cancel_restart(rec)
                exited.append(trio.current_time())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return rec, launched, exited


def test_an_exit_under_restart_always_starts_it_again_after_the_back_off(tmp_path, monkeypatch):
    rec, launched, _ = _exit_then(tmp_path, monkeypatch, "nothing")
    assert launched == [0.1]
    assert rec.state.restart_count == 1 and rec.state.status is ContainerState.RUNNING


def test_a_stop_during_the_back_off_cancels_the_restart(tmp_path, monkeypatch):
    rec, launched, exited = _exit_then(tmp_path, monkeypatch, "stop")
    assert launched == []
    assert exited == [0.05] and rec.state.status is ContainerState.EXITED
    assert json.loads((rec.dir / "state.json").read_text())["Status"] == "exited"
