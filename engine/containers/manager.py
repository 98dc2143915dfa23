"""ContainerManager: the container lifecycle the API drives (create / start / stop / kill /
restart / pause / remove / wait / rename / prune, and recovery at daemon start), composed of
collaborators that each own one thing:

- `ContainerStore`: the records on disk and their locks; `StateFeed`: state changes and waiters;
- `Supervisor`: running processes (start, watch, stop), restart policies and pending restarts;
- `NetworkWiring`: network modes, the netns hook, connect/disconnect, NetworkSettings;
- `ContainerOutput`: logs, attach sessions, tty resize; `ContainerQueries`: inspect, list, top,
  stats; `ExecRegistry`: exec instances; `TaskHost`: the background tasks' nursery.

The manager decides what a request may do in the container's current state and delegates.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

import trio

from engine.containers import discarded, setup
from engine.containers.background import TaskHost
from engine.containers.events import EventBus, container_event
from engine.containers.execs import ExecRegistry
from engine.containers.io import IoSession
from engine.containers.logs import LogQuery, Rendered, rfc3339_nanos
from engine.containers.model import (ContainerState, anonymous_targets, merge_image_config,
                                     parse_create, valid_name)
from engine.containers.output import ContainerOutput
from engine.containers.queries import ContainerQueries
from engine.containers.running import Running, RunningTable
from engine.containers.statefeed import StateFeed
from engine.containers.store import ContainerRecord, ContainerStore, generate_name, new_id
from engine.containers.supervisor import CRASH_EXIT_CODE, DEFAULT_STOP_TIMEOUT, Supervisor
from engine.containers.wiring import NetworkBackend, NetworkWiring
from engine.errors import BadParameter, Conflict, EngineError, NotFound
from engine.runtime import cpuset
from engine.runtime import rootfs as rootfs_ops
from engine.runtime.steptime import step
from engine.volumes import VolumeStore

if TYPE_CHECKING:
    from engine.images.store import ImageStore
    from engine.runtime.cgroups import CgroupDriver
    from engine.runtime.runtime import Runtime

__all__ = ["CRASH_EXIT_CODE", "DEFAULT_STOP_TIMEOUT", "ContainerManager", "NotModified",
           "Running"]
log = logging.getLogger("engine.containers")
Filters = dict[str, list[str]]   # a request's filters (the class's own `list` shadows the type)


class NotModified(EngineError):
    """start of a running / stop of a stopped container: Docker answers 304."""
    status = 304


class ContainerManager:
    def __init__(self, root: Path, *, runtime: Runtime, cgroups: CgroupDriver,
                 images: ImageStore | None, volumes: VolumeStore,
                 networks: NetworkBackend | None = None) -> None:
        self.root = root
        self.runtime, self.cgroups, self.volumes = runtime, cgroups, volumes
        self.store = ContainerStore(root / "containers")
        self.events = EventBus()
        self.tasks = TaskHost()
        self.feed = StateFeed(self.store)
        self.table = RunningTable()
        self.wiring = NetworkWiring(networks, self.store, self.table)
        self.execs = ExecRegistry(self.store, self.table, runtime, self.tasks)
        self.output = ContainerOutput(self.store, self.table, self.feed, self.tasks, self.stop)
        self.queries = ContainerQueries(self.store, self.table, volumes, self.execs, self.wiring)
        self.supervisor = Supervisor(
            store=self.store, feed=self.feed, table=self.table, tasks=self.tasks,
            runtime=runtime, cgroups=cgroups, volumes=volumes, wiring=self.wiring,
            output=self.output, execs=self.execs, events=self.events,
            auto_remove=self._auto_remove)
        self.images = images

    # --- what the API and the daemon reach through the manager ------------------------------
    @property
    def images(self) -> ImageStore | None:
        return self._images

    @images.setter
    def images(self, store: ImageStore | None) -> None:
        # the daemon makes the image store after the manager (it asks image_in_use)
        self._images = store
        self.supervisor.images = store

    @property
    def networks(self) -> NetworkBackend | None:
        return self.wiring.networks

    @property
    def networks_ready(self) -> trio.Event:
        return self.wiring.networks_ready

    @property
    def shutting_down(self) -> bool:
        return self.supervisor.shutting_down

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts the background tasks; runs until cancelled."""
        await self.tasks.run(task_status=task_status)

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        self.tasks.spawn(fn, *args)

    def get(self, ref: str) -> ContainerRecord:
        return self.store.get(ref)

    def running(self, cid: str) -> Running | None:
        return self.table.get(cid)

    def emit(self, rec: ContainerRecord, action: str, **extra: str) -> None:
        self.events.emit(container_event(rec, action, **extra))

    def inspect(self, ref: str) -> dict:
        return self.queries.inspect(ref)

    async def top(self, ref: str, ps_args: str | None) -> dict:
        return await self.queries.top(ref, ps_args)

    def stats(self, ref: str, stream: bool) -> AsyncIterator[dict]:
        return self.queries.stats(ref, stream)

    def volume_users(self, name: str) -> list[str]:
        return self.queries.volume_users(name)

    def image_in_use(self, image_id: str) -> bool:
        return self.queries.image_in_use(image_id)

    async def logs(self, ref: str, query: LogQuery, follow: bool) -> AsyncIterator[Rendered]:
        return await self.output.logs(ref, query, follow)

    async def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool, logs: bool,
                     stream: bool) -> IoSession:
        return await self.output.attach(ref, stdin=stdin, stdout=stdout, stderr=stderr,
                                        logs=logs, stream=stream)

    def resize(self, ref: str, height: int, width: int) -> None:
        self.output.resize(ref, height, width)

    async def connect_network(self, ref: str, network: str, endpoint: dict) -> None:
        await self.wiring.connect(ref, network, endpoint)

    async def disconnect_network(self, ref: str, network: str) -> None:
        await self.wiring.disconnect(ref, network)

    # --- create -----------------------------------------------------------------------------
    async def create(self, body: Any, name: str | None) -> tuple[ContainerRecord, list[str]]:
        if not isinstance(body, dict):
            raise BadParameter("body: expected a JSON object")
        parse_create(body)  # validate the request itself before touching the image store
        # against the host as it is now: a stored record is never refused for it later
        cpuset.check_available(body.get("HostConfig") or {})
        assert self.images is not None
        with step("create.image"):
            image = await trio.to_thread.run_sync(self.images.get, body["Image"])
        merged = merge_image_config(body, image.config)
        cfg = parse_create(merged)
        if not cfg.args:
            raise BadParameter("No command specified")
        setup.check_bind_sources(cfg)
        self.wiring.check_create(cfg)
        if name:
            name = valid_name(name)
        else:
            name = generate_name(self.store.names())
        self.store.check_name(name)  # fail before any file is written; add() checks again
        cid = new_id()
        cdir = self.store.root / cid
        rec = ContainerRecord(cid, name, rfc3339_nanos(time.time_ns()), image.id, cfg, cdir)
        try:
            rec.anonymous_volumes = [
                (await trio.to_thread.run_sync(self.volumes.create, None)).name
                for _ in anonymous_targets(cfg)]
            # one worker-thread hop for all of the files (each hop costs ~1 ms when loaded)
            with step("create.files", rec.short_id):
                await trio.to_thread.run_sync(_write_new_container, rec)
            self.store.add(rec)
        except BaseException:
            for vol in rec.anonymous_volumes:
                await trio.to_thread.run_sync(self.volumes.remove, vol, lambda _n: [])
            if self.store.by_id(cid) is not rec:
                shutil.rmtree(cdir, ignore_errors=True)
            raise
        warnings = discarded.warnings(merged.get("HostConfig"))
        self.emit(rec, "create")
        log.info("created container %s (%s) from %s", rec.short_id, name, cfg.image)
        return rec, warnings

    # --- start ------------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        rec = self.get(ref)
        launching = False
        try:
            async with self.store.lock(rec.id):
                launching = self._check_startable(rec)
                await self.supervisor.launch(rec)
        except Exception:   # a cancelled request (its client left) leaves it created
            if launching and rec.config.auto_remove:
                # as Docker: an AutoRemove container whose start failed goes at once (`docker
                # run --rm` waits for `removed`, else forever), with its anonymous volumes
                with trio.CancelScope(shield=True):
                    await self._auto_remove(rec.id)
            raise

    def _check_startable(self, rec: ContainerRecord) -> bool:
        """Refuse a start in the wrong state; else reset what every start resets (True)."""
        status = rec.state.status
        if status is ContainerState.RUNNING:
            raise NotModified("container already started")
        if status is ContainerState.PAUSED:
            raise Conflict("cannot start a paused container, try unpause instead")
        if status is ContainerState.RESTARTING:
            raise Conflict(f"container {rec.short_id} is restarting")
        if not status.can_start():
            raise Conflict(f"cannot start container {rec.short_id} in state {status.value}")
        _clear_restart_history(rec)
        self.supervisor.track_policy(rec)
        return True

    # --- stop / kill / restart --------------------------------------------------------------
    async def stop(self, ref: str, timeout: int | None = None, *, by_user: bool = True) -> None:
        rec = self.get(ref)
        if by_user:
            rec.state.stopped_by_user = True
            self.store.save_state(rec)
        if rec.state.status is ContainerState.RESTARTING:
            await self.supervisor.cancel_restart(rec)
            return
        run = self.table.get(rec.id)
        if run is None:
            raise NotModified("container already stopped")
        await self.supervisor.stop(rec, run, timeout, by_user=by_user)
        self.emit(rec, "stop")

    async def kill(self, ref: str, sig: int = signal.SIGKILL) -> None:
        rec = self.get(ref)
        run = self.table.get(rec.id)
        if run is None or rec.state.status not in (ContainerState.RUNNING, ContainerState.PAUSED):
            raise Conflict(f"Cannot kill container: {ref}: Container {rec.id} is not running")
        await self.supervisor.signal(rec, run, sig)

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        """Stop, then start. A cancelled request (its client left) can only cut the wait for
        the old process when that wait has no end (t < 0): nothing is started then, minutes
        later. Once the old process is gone, the new one is always started."""
        rec = self.get(ref)
        if rec.state.status.is_active():
            try:
                await self.stop(rec.id, timeout)
            except NotModified:
                pass
        with trio.CancelScope(shield=True):
            await self.start(rec.id)
        self.emit(rec, "restart")

    # --- pause ------------------------------------------------------------------------------
    async def pause(self, ref: str) -> None:
        rec = self.get(ref)
        async with self.store.lock(rec.id):
            run = self.table.get(rec.id)
            if run is None or not rec.state.status.can_pause():
                if rec.state.status is ContainerState.PAUSED:
                    raise Conflict(f"Container {rec.id} is already paused")
                raise Conflict(f"Container {rec.id} is not running")
            await self.supervisor.freeze(rec, run)

    async def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        async with self.store.lock(rec.id):
            run = self.table.get(rec.id)
            if run is None or not rec.state.status.can_unpause():
                raise Conflict(f"Container {rec.id} is not paused")
            await self.supervisor.thaw(rec, run)

    # --- remove / wait ----------------------------------------------------------------------
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        rec = self.get(ref)
        if rec.state.status.is_active():
            if not force:
                raise Conflict(f"You cannot remove a {rec.state.status.value} container {rec.id}."
                               " Stop the container before attempting removal or force remove")
            await self._stop_for_removal(rec)
        async with self.store.lock(rec.id):
            if self.store.by_id(rec.id) is None:
                raise NotFound(f"No such container: {ref}")
            if rec.id in self.table:
                raise Conflict(f"container {rec.short_id} was started again while being removed")
            # In memory only: unlinking config.json (_discard_dir) is what makes the removal
            # durable; a state write here was a blocking rename on the event loop (1-20 ms
            # under load) for a file deleted moments later.
            rec.state.status = ContainerState.REMOVING
            self.feed.changed(rec.id)
            with step("rm.files", rec.short_id):
                await trio.to_thread.run_sync(_discard_dir, rec.dir)
            self.execs.container_removed(rec.id)
            self.store.forget(rec, delete=False)
            self.supervisor.forget(rec.id)
            self.output.forget(rec.id)
        if volumes:
            for name in rec.anonymous_volumes:
                try:
                    await trio.to_thread.run_sync(self.volumes.remove, name, self.volume_users)
                except (NotFound, Conflict) as exc:
                    log.warning("keeping volume %s: %s", name, exc)
        self.feed.changed(rec.id)
        self.output.log_written(rec.id)
        self.emit(rec, "destroy")
        log.info("removed container %s", rec.short_id)

    async def _stop_for_removal(self, rec: ContainerRecord) -> None:
        """A forced removal of an active container: no restart, PID 1 killed and waited for."""
        rec.state.stopped_by_user = True
        if rec.state.status is ContainerState.RESTARTING:
            await self.supervisor.cancel_restart(rec)
        run = self.table.get(rec.id)
        if run is not None:
            run.stop_requested = True
            if rec.state.status is ContainerState.PAUSED:
                await self.supervisor.thaw(rec, run)
            with step("rm.kill_and_wait", rec.short_id):
                await self.supervisor.kill_and_wait(rec, run)

    async def _auto_remove(self, cid: str) -> None:
        """The removal an AutoRemove container gets when it exits or its start fails."""
        try:
            await self.remove(cid, force=True, volumes=True)
        except NotFound:
            pass

    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        rec = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed"):
            raise BadParameter(f"invalid condition: {condition!r}")
        if condition == "not-running" and not rec.state.status.is_active() \
                and rec.state.status is not ContainerState.REMOVING:
            return {"StatusCode": rec.state.exit_code, "Error": None}
        if condition == "removed" and self.store.by_id(rec.id) is None:
            return {"StatusCode": rec.state.exit_code, "Error": None}
        seen_active = rec.state.status.is_active()
        while True:
            await self.feed.wait(rec.id)
            gone = self.store.by_id(rec.id) is None
            if condition == "removed":
                if gone:
                    break
                continue
            if gone:
                break
            active = rec.state.status in (ContainerState.RUNNING, ContainerState.PAUSED)
            if active:
                seen_active = True
            elif seen_active or condition == "not-running":
                if rec.state.status is not ContainerState.CREATED:
                    break
        return {"StatusCode": rec.state.exit_code, "Error": None}

    # --- rename / prune ---------------------------------------------------------------------
    async def rename(self, ref: str, new_name: str) -> None:
        rec = self.get(ref)
        new_name = valid_name(new_name)
        async with self.store.lock(rec.id):
            old = rec.name
            self.store.rename(rec, new_name)
            self.emit(rec, "rename", oldName="/" + old)

    async def prune(self, filters: Filters) -> tuple[list[str], int]:
        """Remove stopped containers the filters select: their ids and the bytes their
        writable layers took."""
        from engine.containers.changes import upper_size
        from engine.containers.filters import matches
        from engine.containers.logs import parse_since, parse_time

        until = [parse_since(v, "until") for v in filters.pop("until", [])]
        deleted, reclaimed = [], 0
        for rec in list(self.store.all()):
            if rec.state.status not in (ContainerState.EXITED, ContainerState.CREATED,
                                        ContainerState.DEAD):
                continue
            if until and any(u is not None and parse_time(rec.created) > u for u in until):
                continue
            if not matches(rec, filters, self.queries):
                continue
            try:
                # what the removal frees is its writable layer (Docker's SpaceReclaimed)
                size = await trio.to_thread.run_sync(upper_size, rec.dir / "upper")
                await self.remove(rec.id)
                deleted.append(rec.id)
                reclaimed += size
            except (Conflict, NotFound):
                pass
        return deleted, reclaimed

    # --- daemon start / stop ----------------------------------------------------------------
    async def recover(self) -> tuple[list[ContainerRecord], list[ContainerRecord]]:
        """After a daemon (re)start: nothing recorded as running is (it is marked exited with
        code 255). Returns the containers to start again (their policy's rule at daemon start,
        `RestartPolicy.restarts_at_daemon_start`) and the exited AutoRemove ones, which go now
        (with their anonymous volumes) as Docker's restore removes them."""
        records = self.store.load_all()
        to_restart: list[ContainerRecord] = []
        to_remove: list[ContainerRecord] = []
        for rec in records:
            st = rec.state
            if st.status in (ContainerState.RUNNING, ContainerState.PAUSED,
                             ContainerState.RESTARTING, ContainerState.REMOVING):
                was_removing = st.status is ContainerState.REMOVING
                st.status, st.pid = ContainerState.EXITED, 0
                st.exit_code = CRASH_EXIT_CODE
                st.finished_at = rfc3339_nanos(time.time_ns())
                st.error = "the engine stopped while the container was running"
                self.feed.record(rec)
                if was_removing:
                    self.store.forget(rec)
                    continue
            if st.status is not ContainerState.EXITED:
                continue
            if rec.config.restart_policy.restarts_at_daemon_start(
                    st.exit_code, st.stopped_by_user, st.restart_count):
                st.status = ContainerState.RESTARTING  # what clients see until it runs again
                self.feed.record(rec)
                to_restart.append(rec)
            elif rec.config.auto_remove:
                to_remove.append(rec)
        return to_restart, to_remove

    async def start_recovered(self, rec: ContainerRecord) -> None:
        """Start a container `recover` marked restarting (unless a user stopped it meanwhile)."""
        async with self.store.lock(rec.id):
            if rec.state.status is not ContainerState.RESTARTING or \
                    self.store.by_id(rec.id) is None:
                return
            # a start like any other: the policy applies afresh at the next exit, whatever
            # stop the user made before the daemon restarted (Docker resets both too)
            _clear_restart_history(rec)
            self.supervisor.track_policy(rec)
            try:
                await self.supervisor.launch(rec)
            except Exception:
                rec.state.status = ContainerState.EXITED
                self.feed.record(rec)
                raise

    async def shutdown(self) -> None:
        """Stop every running container (its own stop timeout, all in parallel); restart policies
        see a daemon shutdown, not a user stop, so they apply again at the next start."""
        await self.supervisor.shutdown(lambda cid: self.stop(cid, by_user=False))


    # last in the class: mypy reads a later `list[...]` annotation here as this method
    def list(self, *, all_: bool, filters: Filters,
             limit: int | None = None) -> list[dict]:
        return self.queries.list(all_=all_, filters=filters, limit=limit)

def _clear_restart_history(rec: ContainerRecord) -> None:
    """What every start (by the API or at daemon start) resets, as Docker's does: the user's
    stop and the count of policy restarts (`on-failure:N` counts from here)."""
    rec.state.stopped_by_user = False
    rec.state.restart_count = 0


def _write_new_container(rec: ContainerRecord) -> None:
    """A new container's directory: overlay dirs, /etc files, then its record."""
    rec.dir.mkdir(parents=True)
    for sub in ("upper", "work", "merged"):
        (rec.dir / sub).mkdir()
    setup.write_etc_files(rec)
    ContainerStore.write_new(rec)


def _discard_dir(cdir: Path) -> None:
    """A removed container's directory: unmounted now, deleted on a background thread.

    Without config.json the directory is no record any more: a daemon that dies before the
    deletion finishes removes it at its next start (ContainerStore.load_all).
    """
    rootfs_ops.detach(cdir / "merged")   # already detached by the teardown, normally
    try:
        os.unlink(cdir / "config.json")
    except FileNotFoundError:
        pass
    rootfs_ops.remove_later(cdir, cdir / "merged")
