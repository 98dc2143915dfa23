"""The supervisor of running containers: it starts PID 1 (mount, spec, cgroup, stdio, network
hook, every step rolled back if a later one fails), watches it, stops it, and owns the restart
policy's trackers and the scopes of pending restarts.

Every running container has one supervising task in the TaskHost: it pumps PID 1's output into
the json-file log and to attach subscribers, runs the healthcheck, waits for PID 1, then tears
down (cgroup, network, overlay), records the exit and applies the restart policy.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import trio

from engine.containers import setup, sharing
from engine.containers.background import TaskHost
from engine.containers.events import EventBus, container_event
from engine.containers.execs import ExecRegistry
from engine.containers.health import probe_args, run_healthcheck
from engine.containers.io import cloexec_pipe, fd_stream, read_chunks
from engine.containers.logs import rfc3339_nanos
from engine.containers.model import ContainerConfig, ContainerState
from engine.containers.output import ContainerOutput
from engine.containers.restart import RestartTracker
from engine.containers.running import Running, RunningTable
from engine.containers.statefeed import StateFeed
from engine.containers.store import ContainerRecord, ContainerStore
from engine.containers.wiring import NetworkWiring
from engine.errors import CommandNotExecutable, CommandNotFound, PycomposeError
from engine.runtime import rootfs as rootfs_ops
from engine.runtime.spec import ContainerSpec
from engine.runtime.steptime import step
from engine.volumes import VolumeStore

if TYPE_CHECKING:
    from engine.images.store import ImageStore
    from engine.runtime.cgroups import Cgroup, CgroupDriver
    from engine.runtime.runtime import ExitStatus, Runtime, Stdio

log = logging.getLogger("engine.containers")
DEFAULT_STOP_TIMEOUT = 10
CRASH_EXIT_CODE = 255  # what a container that was running when the daemon died reports


class Supervisor:
    def __init__(self, *, store: ContainerStore, feed: StateFeed, table: RunningTable,
                 tasks: TaskHost, runtime: Runtime, cgroups: CgroupDriver,
                 volumes: VolumeStore, wiring: NetworkWiring, output: ContainerOutput,
                 execs: ExecRegistry, events: EventBus,
                 auto_remove: Callable[[str], Awaitable[None]]) -> None:
        self.store, self.feed, self.table, self.tasks = store, feed, table, tasks
        self.runtime, self.cgroups, self.volumes = runtime, cgroups, volumes
        self.wiring, self.output, self.execs, self.events = wiring, output, execs, events
        self.images: ImageStore | None = None    # the daemon makes it after the manager
        self._auto_remove = auto_remove   # the removal an exited AutoRemove container gets
        self._trackers: dict[str, RestartTracker] = {}
        self._restart_scopes: dict[str, trio.CancelScope] = {}
        self.shutting_down = False

    def track_policy(self, rec: ContainerRecord) -> None:
        """Restarts are decided from here on by the container's current policy (a start, an
        update that changed it)."""
        self._trackers[rec.id] = RestartTracker(rec.config.restart_policy)

    def forget(self, cid: str) -> None:
        self._trackers.pop(cid, None)

    # --- start ------------------------------------------------------------------------------
    async def launch(self, rec: ContainerRecord) -> None:
        """Mount, prepare and start PID 1 (caller holds the container's lock); every completed
        step is rolled back if a later one fails."""
        undo: list[Callable[[], None]] = []
        child_fds: list[int] = []
        try:
            network = self.wiring.mode(rec)
            modes = sharing.check_modes(rec.config.body)
            joins = sharing.donors(modes, rec.id, self.store, self.table) \
                if "join" in (modes.pid, modes.ipc) else None
            if network == "private":
                await self.wiring.networks_ready.wait()
            # From here on a cancelled request (its client left) does not abandon the start:
            # a zygote reply dropped mid-clone would leave a process nobody owns.
            with trio.CancelScope(shield=True):
                # the host-side steps in one worker-thread hop (each hop costs ~1 ms when
                # loaded); it appends to `undo` as it goes
                with step("start.prepare", rec.short_id):
                    spec, cgroup = await trio.to_thread.run_sync(self._prepare, rec, network,
                                                                 modes, undo)
                stdio, parent = _stdio(rec.config, child_fds)
                for fd in parent.values():
                    undo.append(lambda fd=fd: _close(fd))
                hook = self.wiring.hook(rec) if network == "private" else None
                run_networks: dict[str, dict] = {}
                if hook is not None:
                    undo.append(lambda: self.wiring.disconnect_all(rec.id))
                with step("start.runtime", rec.short_id):
                    process = await self.runtime.start(
                        spec, cgroup, stdio,
                        before_exec=(lambda pid: hook(pid, run_networks)) if hook else None,
                        joins=joins)
        except BaseException as exc:
            await self._roll_back(rec, exc, child_fds, undo)
            raise
        for fd in child_fds:
            _close(fd)
        run = _running(rec.config, process, cgroup, spec, parent, run_networks)
        st = rec.state
        st.status, st.pid, st.exit_code, st.error = ContainerState.RUNNING, process.pid, 0, ""
        st.oom_killed, st.started_at = False, rfc3339_nanos(time.time_ns())
        st.health = {"Status": "starting", "FailingStreak": 0, "Log": []} \
            if rec.config.healthcheck else None
        self.table.add(rec.id, run)
        self.feed.record(rec)
        self.tasks.spawn(self._supervise, rec, run)
        self.events.emit(container_event(rec, "start"))
        log.info("started container %s pid %d", rec.short_id, process.pid)

    async def _roll_back(self, rec: ContainerRecord, exc: BaseException, child_fds: list[int],
                         undo: list[Callable[[], None]]) -> None:
        """A failed start: every completed step undone, the failure recorded."""
        for fd in child_fds:
            _close(fd)
        with trio.CancelScope(shield=True):
            for undo_step in reversed(undo):
                try:
                    await trio.to_thread.run_sync(undo_step)
                except Exception as cleanup_exc:  # keep rolling back the rest
                    log.error("rollback of %s failed: %s", rec.short_id, cleanup_exc)
        if isinstance(exc, (CommandNotFound, CommandNotExecutable)):
            rec.state.exit_code = exc.exit_code
        if isinstance(exc, PycomposeError):
            rec.state.error = exc.message
            self.feed.record(rec)

    def _prepare(self, rec: ContainerRecord, network: str, modes: sharing.Modes,
                 undo: list[Callable[[], None]]) -> tuple[ContainerSpec, Cgroup]:
        """Worker thread: mount the root file system, build the spec, make the cgroup."""
        cfg = rec.config
        assert self.images is not None
        image = self.images.get(rec.image_id)
        lowers = self.images.layer_paths(image)
        merged = rec.dir / "merged"
        merged.mkdir(exist_ok=True)
        rootfs_ops.unmount(merged)  # a leftover from a crash
        with step("prepare.overlay", rec.short_id):
            rootfs_ops.mount_overlay(list(lowers), rec.dir / "upper", rec.dir / "work", merged)
        undo.append(lambda: rootfs_ops.unmount(merged))
        mounts = setup.build_mounts(rec, self.volumes, merged, self.store.get)
        user = setup.container_user(merged, cfg, cfg.user)
        hostname = setup.hostname_of(setup.network_owner(rec, self.store.get)) \
            if network != "host" and modes.uts != "host" else os.uname().nodename
        spec = ContainerSpec(
            id=rec.id, rootfs=str(merged), hostname=hostname,
            process=setup.process_spec(cfg, user, hostname, self.wiring.link_env(rec)),
            mounts=tuple(mounts),
            readonly_rootfs=cfg.readonly_rootfs, network=network,
            init_path=setup.init_path(cfg), resources=setup.resources(cfg),
            privileged=cfg.privileged, devices=setup.host_devices(cfg),
            domainname=cfg.domainname, sysctls=cfg.sysctls,
            pid_mode=modes.pid, ipc_mode=modes.ipc, uts_mode=modes.uts)
        with step("prepare.cgroup", rec.short_id):
            cgroup = self.cgroups.create(f"pycompose-{rec.short_id}", spec.resources)
        undo.append(cgroup.remove)
        return spec, cgroup

    # --- supervision ------------------------------------------------------------------------
    async def _supervise(self, rec: ContainerRecord, run: Running) -> None:
        sink = self.output.sink(rec)
        status = None
        try:
            async with trio.open_nursery() as nursery:
                pumps_done = trio.Event()

                async def pump_all() -> None:
                    try:
                        async with trio.open_nursery() as pumps:
                            for stream, fdstream in run.outputs:
                                pumps.start_soon(read_chunks, fdstream, sink.stream(stream))
                    finally:
                        pumps_done.set()

                nursery.start_soon(_guarded, f"output pump of {rec.short_id}", pump_all)
                if rec.config.healthcheck is not None:
                    nursery.start_soon(_guarded, f"healthcheck of {rec.short_id}",
                                       self._health, rec, run)
                try:
                    status = await self.runtime.wait(run.process)
                except Exception as exc:  # the runtime lost the process; treat as died
                    log.error("wait for %s failed: %s", rec.short_id, exc)
                self.runtime.release(run.process)
                run.exited.set()
                if run.spec.pid_mode != "private":
                    # no PID namespace of its own that dies with PID 1: what it left running
                    # goes now, as Docker's runtime does (and stops holding its output open)
                    await trio.to_thread.run_sync(run.cgroup.kill_all)
                # Output ends once every writer in the (now dead) namespace is gone.
                with trio.move_on_after(2), step("exit.pumps", rec.short_id):
                    await pumps_done.wait()
                nursery.cancel_scope.cancel()
            sink.flush()
        except Exception:
            log.exception("supervision of %s failed", rec.short_id)
        finally:
            # Whatever happened above, the exit is recorded: a container left in the running
            # table could never be removed, and shutdown would wait for it.
            run.exited.set()
            with trio.CancelScope(shield=True):
                await self._on_exit(rec, run, status)

    async def _health(self, rec: ContainerRecord, run: Running) -> None:
        hc = rec.config.healthcheck
        assert hc is not None

        async def probe(timeout: float) -> tuple[int, str]:
            try:
                return await self.execs.run_capture(rec, run, probe_args(hc))
            except Exception as exc:
                if run.stop_requested or run.exited.is_set() or self.shutting_down:
                    # the container is going away: this probe does not count, and no more run
                    await trio.sleep_forever()
                log.warning("healthcheck probe of %s failed: %s", rec.short_id, exc)
                return -1, f"health probe failed: {exc}"

        def publish(health: dict) -> None:
            before = (rec.state.health or {}).get("Status")
            rec.state.health = health
            self.feed.record(rec)
            if health["Status"] != before and health["Status"] != "starting":
                self.events.emit(container_event(rec, f"health_status: {health['Status']}"))

        await run_healthcheck(hc, probe, publish)

    async def _on_exit(self, rec: ContainerRecord, run: Running, status: ExitStatus | None
                       ) -> None:
        try:
            await self._record_exit(rec, run, status)
        except Exception:
            log.exception("recording the exit of %s failed", rec.short_id)
            # keep the state consistent: not running, and waiters released
            self.table.drop(rec.id)
            if rec.state.status.is_active():
                rec.state.status, rec.state.pid = ContainerState.EXITED, 0
                rec.state.exit_code = CRASH_EXIT_CODE
                try:
                    self.feed.record(rec)
                except Exception:
                    log.exception("saving the state of %s failed", rec.short_id)
            run.finished.set()

    async def _record_exit(self, rec: ContainerRecord, run: Running,
                           status: ExitStatus | None) -> None:
        async with self.store.lock(rec.id):
            with step("exit.teardown", rec.short_id):
                oom = await trio.to_thread.run_sync(self._teardown, rec, run)
            await _close_streams(run)
            self.execs.container_exited(rec.id)
            st = rec.state
            st.exit_code = status.code if status is not None else CRASH_EXIT_CODE
            st.oom_killed = oom or bool(getattr(status, "oom_killed", False))
            st.status, st.pid = ContainerState.EXITED, 0
            st.finished_at = rfc3339_nanos(time.time_ns())
            if st.health:
                st.health = {**st.health, "Status": "unhealthy"} \
                    if st.health.get("Status") == "starting" else st.health
            self.table.drop(rec.id)
            self.output.hub(rec.id).close_all()
            tracker = self._trackers.setdefault(rec.id, RestartTracker(rec.config.restart_policy))
            decision = tracker.on_exit(st.exit_code, trio.current_time() - run.started,
                                       run.stop_requested or st.stopped_by_user
                                       or self.shutting_down, st.restart_count)
            if decision.restart:
                st.status = ContainerState.RESTARTING
            self.feed.record(rec)
            run.finished.set()
            if st.oom_killed:
                self.events.emit(container_event(rec, "oom"))
            self.events.emit(container_event(rec, "die", exitCode=str(st.exit_code)))
            log.info("container %s exited with %d%s", rec.short_id, st.exit_code,
                     " (OOM killed)" if st.oom_killed else "")
        if decision.restart:
            await self._restart_later(rec, decision.delay)
        elif rec.config.auto_remove:
            await self._auto_remove(rec.id)

    def _teardown(self, rec: ContainerRecord, run: Running) -> bool:
        """Worker thread, after PID 1 died: whether it was OOM-killed, then remove the cgroup,
        the network endpoints and the root file system mount; a failed step is logged and the
        rest still run."""
        oom = False
        try:
            oom = run.cgroup.oom_killed()
        except Exception as exc:
            log.warning("oom check of %s failed: %s", rec.short_id, exc)
        steps = [("cgroup", run.cgroup.remove),
                 # detached now, released (and the upper fs synced) on a thread of its own
                 ("unmount", lambda: rootfs_ops.detach(rec.dir / "merged"))]
        if run.spec.network == "private":
            steps.insert(1, ("network", lambda: self.wiring.disconnect_all(rec.id)))
        for name, fn in steps:
            try:
                with step(f"teardown.{name}", rec.short_id):
                    fn()
            except Exception as exc:
                log.error("teardown of %s: %s", rec.short_id, exc)
        return oom

    async def _restart_later(self, rec: ContainerRecord, delay: float) -> None:
        with trio.CancelScope() as scope:
            self._restart_scopes[rec.id] = scope
            await trio.sleep(delay)
        self._restart_scopes.pop(rec.id, None)
        async with self.store.lock(rec.id):
            if rec.state.status is not ContainerState.RESTARTING or \
                    self.store.by_id(rec.id) is None:
                return
            if scope.cancelled_caught or self.shutting_down:
                rec.state.status = ContainerState.EXITED
                self.feed.record(rec)
                return
            rec.state.restart_count += 1
            try:
                await self.launch(rec)
            except Exception as exc:
                log.error("restart of %s failed: %s", rec.short_id, exc)
                rec.state.status = ContainerState.EXITED
                rec.state.error = str(exc)
                self.feed.record(rec)

    # --- stop / kill / pause ----------------------------------------------------------------
    async def stop(self, rec: ContainerRecord, run: Running, timeout: int | None, *,
                   by_user: bool) -> None:
        """The stop signal, the grace period, then SIGKILL (and the cgroup-wide kill)."""
        run.stop_requested = True
        if timeout is None:
            timeout = rec.config.stop_timeout if rec.config.stop_timeout is not None \
                else DEFAULT_STOP_TIMEOUT
        self.runtime.signal(run.process, rec.config.stop_signal_number)
        # A user's stop with a grace period finishes even if its request is cancelled (the
        # client left): signal sent and no kill would be a half-done stop. Without one (t < 0)
        # only the endless wait is given up; the user's stop still holds when the process
        # exits. The engine's own stops at shutdown stay cancellable (a second SIGTERM).
        with trio.CancelScope(shield=timeout >= 0 and by_user):
            if rec.state.status is ContainerState.PAUSED:
                await self.thaw(rec, run)
            with trio.move_on_after(timeout if timeout >= 0 else float("inf")):
                await run.exited.wait()
            await self.kill_and_wait(rec, run)

    async def kill_and_wait(self, rec: ContainerRecord, run: Running) -> None:
        """SIGKILL, then cgroup-wide kill; never waits forever."""
        if not run.exited.is_set():
            self.runtime.signal(run.process, signal.SIGKILL)
            with trio.move_on_after(10), step("kill.to_exited", rec.short_id):
                await run.exited.wait()
        if not run.exited.is_set():
            log.error("container %s survived SIGKILL; killing its cgroup", rec.short_id)
            await trio.to_thread.run_sync(run.cgroup.kill_all)
        with trio.move_on_after(30), step("kill.exited_to_finished", rec.short_id):
            await run.finished.wait()

    async def signal(self, rec: ContainerRecord, run: Running, sig: int) -> None:
        """Send `sig` to PID 1; a SIGKILL counts as a manual stop (as Docker) and is waited
        for (bounded)."""
        if sig == signal.SIGKILL:
            run.stop_requested = True
        self.runtime.signal(run.process, sig)
        if sig == signal.SIGKILL and rec.state.status is ContainerState.PAUSED:
            await self.thaw(rec, run)  # a v1-frozen task only dies once thawed
        self.events.emit(container_event(rec, "kill", signal=str(sig)))
        if sig == signal.SIGKILL:
            with trio.move_on_after(10):
                await run.finished.wait()

    async def cancel_restart(self, rec: ContainerRecord) -> None:
        scope = self._restart_scopes.get(rec.id)
        if scope is not None:
            scope.cancel()
        elif rec.id not in self.table:  # marked by recover(), not started yet
            async with self.store.lock(rec.id):
                if rec.state.status is ContainerState.RESTARTING and rec.id not in self.table:
                    rec.state.status = ContainerState.EXITED
                    self.feed.record(rec)
        with trio.move_on_after(10):
            while rec.state.status is ContainerState.RESTARTING:
                await self.feed.wait(rec.id)
        run = self.table.get(rec.id)  # a restart raced in: stop that one too
        if run is not None:
            run.stop_requested = True
            await self.kill_and_wait(rec, run)

    async def freeze(self, rec: ContainerRecord, run: Running) -> None:
        await trio.to_thread.run_sync(run.cgroup.freeze)
        rec.state.status = ContainerState.PAUSED
        self.feed.record(rec)
        self.events.emit(container_event(rec, "pause"))

    async def thaw(self, rec: ContainerRecord, run: Running) -> None:
        await trio.to_thread.run_sync(run.cgroup.thaw)
        if rec.state.status is ContainerState.PAUSED:
            rec.state.status = ContainerState.RUNNING
            self.feed.record(rec)
            self.events.emit(container_event(rec, "unpause"))

    # --- daemon stop ------------------------------------------------------------------------
    async def shutdown(self, stop: Callable[[str], Awaitable[None]]) -> None:
        """Stop every running container with `stop` (its own stop timeout, all in parallel);
        restart policies see a daemon shutdown, not a user stop, so they apply again at the
        next start."""
        self.shutting_down = True
        for scope in self._restart_scopes.values():
            scope.cancel()
        timeouts = [DEFAULT_STOP_TIMEOUT] + [
            r.config.stop_timeout for cid in self.table
            if (r := self.store.by_id(cid)) is not None and r.config.stop_timeout]
        # each stop is bounded already (timeout, SIGKILL 10 s, cgroup kill, 30 s teardown);
        # this outer bound only guards against a bug there leaving the daemon unable to exit
        with trio.move_on_after(max(timeouts) + 60) as bound:
            async with trio.open_nursery() as nursery:
                for cid in self.table:
                    nursery.start_soon(_stop_one, stop, cid)
        if bound.cancelled_caught:
            log.error("shutdown: containers still stopping after %ds; giving up on them",
                      max(timeouts) + 60)
        # root file systems detached by the teardowns finish their release before we exit
        if not await trio.to_thread.run_sync(rootfs_ops.wait_all_released, 30):
            log.error("shutdown: overlay releases still running after 30 s")


async def _stop_one(stop: Callable[[str], Awaitable[None]], cid: str) -> None:
    try:
        await stop(cid)
    except PycomposeError:
        pass
    except Exception as exc:
        log.error("stopping %s at shutdown: %s", cid[:12], exc)


async def _guarded(what: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """The boundary of a per-container task: a failure is logged with its traceback and ends
    only this task, never the supervisor (or the daemon) above it."""
    try:
        await fn(*args)
    except Exception:
        log.exception("%s failed", what)


def _stdio(cfg: ContainerConfig, child_fds: list[int]) -> tuple[Stdio, dict[str, int]]:
    """PID 1's stdio: pipes (their child ends in `child_fds`, the parent ends by name), or
    nothing for a TTY (the runtime makes the pty)."""
    from engine.runtime.runtime import Stdio

    if cfg.tty:
        return Stdio(), {}
    parent: dict[str, int] = {}
    stdio = Stdio()
    for name in ("stdout", "stderr"):
        r, w = cloexec_pipe()
        parent[name] = r
        child_fds.append(w)
        setattr(stdio, name, w)
    if cfg.open_stdin:
        r, w = cloexec_pipe()
        parent["stdin"] = w
        child_fds.append(r)
        stdio.stdin = r
    return stdio, parent


def _running(cfg: ContainerConfig, process: Any, cgroup: Cgroup, spec: ContainerSpec,
             parent: dict[str, int], networks: dict[str, dict]) -> Running:
    run = Running(process, cgroup, spec, trio.current_time(), networks=networks)
    if cfg.tty:
        run.pty = fd_stream(process.pty_master)
        run.stdin = run.pty
        run.outputs = [("stdout", run.pty)]
    else:
        run.outputs = [("stdout", fd_stream(parent["stdout"])),
                       ("stderr", fd_stream(parent["stderr"]))]
        if "stdin" in parent:
            run.stdin = fd_stream(parent["stdin"])
    return run


async def _close_streams(run: Running) -> None:
    for stream in {id(s): s for s in [run.stdin, run.pty, *(s for _, s in run.outputs)]
                   if s is not None}.values():
        try:
            await stream.aclose()
        except Exception:
            pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
