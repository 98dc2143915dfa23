"""ContainerManager: create / start / stop / kill / restart / remove / wait / pause / logs / attach
for containers, composing the image store, volumes, the runtime (namespaces + exec) and cgroups.

Every running container has one supervisor task in the manager's nursery: it pumps PID 1's
output into the json-file log and to attach subscribers, runs the healthcheck, waits for PID 1,
then tears down (cgroup, overlay), records the exit and applies the restart policy.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import trio

from engine.containers import setup
from engine.containers.admin import AdminMixin
from engine.containers.output import OutputMixin
from engine.containers.queries import QueryMixin
from engine.containers.events import EventBus, event
from engine.containers.execs import ExecRegistry
from engine.containers.health import probe_args, run_healthcheck
from engine.containers.io import STREAM_IDS, OutputHub, cloexec_pipe, fd_stream, read_chunks
from engine.containers.logs import rfc3339_nanos
from engine.containers.model import (ContainerConfig, ContainerState, anonymous_targets,
                                     merge_image_config, parse_create, valid_name)
from engine.containers.restart import RestartTracker
from engine.containers.store import ContainerRecord, ContainerStore, generate_name, new_id
from engine.errors import (BadParameter, CommandNotExecutable, CommandNotFound, Conflict,
                           EngineError, NotFound, PycomposeError)
from engine.runtime import rootfs as rootfs_ops
from engine.runtime.spec import ContainerSpec
from engine.runtime.steptime import step
from engine.volumes import VolumeStore

log = logging.getLogger("engine.containers")
DEFAULT_STOP_TIMEOUT = 10
CRASH_EXIT_CODE = 255  # what a container that was running when the daemon died reports


class NotModified(EngineError):
    """start of a running / stop of a stopped container: Docker answers 304."""
    status = 304


@dataclass
class Running:
    """In-memory state of one started container (lost, by design, when the daemon dies)."""
    process: Any                  # engine.runtime Process
    cgroup: Any                   # engine.runtime.cgroups Cgroup
    spec: ContainerSpec
    started: float                # trio clock
    stdin: trio.lowlevel.FdStream | None = None
    pty: trio.lowlevel.FdStream | None = None
    outputs: list[tuple[str, trio.lowlevel.FdStream]] = field(default_factory=list)
    stop_requested: bool = False
    exited: trio.Event = field(default_factory=trio.Event)    # PID 1 gone
    finished: trio.Event = field(default_factory=trio.Event)  # teardown + state recorded
    health_scope: trio.CancelScope | None = None
    networks: dict[str, dict] = field(default_factory=dict)


class ContainerManager(OutputMixin, QueryMixin, AdminMixin):
    def __init__(self, root: Path, *, runtime: Any, cgroups: Any, images: Any,
                 volumes: VolumeStore, networks: Any = None) -> None:
        self.root = root
        self.store = ContainerStore(root / "containers")
        self.runtime = runtime
        self.cgroups = cgroups
        self.images = images
        self.volumes = volumes
        self.networks = networks     # netbridge NetworkManager, or None
        self.execs = ExecRegistry(self)
        self.events = EventBus()
        self._running: dict[str, Running] = {}
        self._hubs: dict[str, OutputHub] = {}
        self._trackers: dict[str, RestartTracker] = {}
        self._restart_scopes: dict[str, trio.CancelScope] = {}
        self._changed: dict[str, trio.Event] = {}
        self._log_written: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        self.shutting_down = False
        # set by the daemon once netbridge recovered; starts that need a network wait for it
        self.networks_ready = trio.Event()
        if networks is None:
            self.networks_ready.set()
        else:   # the resolver asks for a container's link aliases
            from engine.containers.networking import dns_links
            networks.container_links = lambda cid: dns_links(self, cid)

    # --- plumbing ---------------------------------------------------------------------------
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts the supervisor tasks; runs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run a background task in the manager's nursery; its failure is logged, never allowed
        to take the daemon down."""
        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception:
                log.exception("background task %s failed", getattr(fn, "__name__", fn))

        assert self._nursery is not None
        self._nursery.start_soon(guarded)

    def _notify(self, cid: str) -> None:
        event = self._changed.pop(cid, None)
        if event is not None:
            event.set()

    async def _wait_change(self, cid: str) -> None:
        await self._changed.setdefault(cid, trio.Event()).wait()

    def emit(self, rec: ContainerRecord, action: str, **extra: str) -> None:
        attrs = {**rec.config.labels, "image": rec.config.image, "name": rec.name, **extra}
        self.events.emit(event("container", action, rec.id, attrs))

    def _save(self, rec: ContainerRecord) -> None:
        self.store.save_state(rec)
        self._notify(rec.id)

    def get(self, ref: str) -> ContainerRecord:
        return self.store.get(ref)

    def hub(self, cid: str) -> OutputHub:
        return self._hubs.setdefault(cid, OutputHub())

    def running(self, cid: str) -> Running | None:
        return self._running.get(cid)

    # --- create -----------------------------------------------------------------------------
    async def create(self, body: Any, name: str | None) -> tuple[ContainerRecord, list[str]]:
        if not isinstance(body, dict):
            raise BadParameter("body: expected a JSON object")
        parse_create(body)  # validate the request itself before touching the image store
        with step("create.image"):
            image = await trio.to_thread.run_sync(self.images.get, body["Image"])
        merged = merge_image_config(body, image.config)
        cfg = parse_create(merged)
        if not cfg.args:
            raise BadParameter("No command specified")
        setup.check_bind_sources(cfg)
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
            if self.store._records.get(cid) is not rec:
                shutil.rmtree(cdir, ignore_errors=True)
            raise
        warnings: list[str] = []
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
                await self._launch(rec)
        except Exception:   # a cancelled request (its client left) leaves it created
            if launching and rec.config.auto_remove:
                # as Docker: an AutoRemove container whose start failed goes at once (`docker
                # run --rm` waits for `removed`, else forever), with its anonymous volumes
                with trio.CancelScope(shield=True):
                    try:
                        await self.remove(rec.id, force=True, volumes=True)
                    except NotFound:
                        pass
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
        self._trackers[rec.id] = RestartTracker(rec.config.restart_policy)
        return True

    def _network_mode(self, rec: ContainerRecord) -> str:
        mode = rec.config.network_mode
        if mode in ("host", "none"):
            return mode
        if mode.startswith("container:"):
            other = self.get(mode[len("container:"):])
            run = self._running.get(other.id)
            if run is None or other.state.status is not ContainerState.RUNNING:
                raise Conflict(f"cannot join network of a non running container: {other.short_id}")
            return f"ns:/proc/{run.process.pid}/ns/net"
        if self.networks is None:
            # TODO(netbridge): bridge/default/named networks get a private netns wired by the
            # before_exec hook once the NetworkManager is passed in; until then: no network.
            return "none"
        return "private"

    async def _launch(self, rec: ContainerRecord) -> None:
        """Mount, prepare and start PID 1 (caller holds the container's lock); every completed
        step is rolled back if a later one fails."""
        cfg = rec.config
        undo: list[Callable[[], None]] = []
        child_fds: list[int] = []
        run: Running | None = None
        try:
            network = self._network_mode(rec)
            if network == "private":
                await self.networks_ready.wait()
            # From here on a cancelled request (its client left) does not abandon the start:
            # a zygote reply dropped mid-clone would leave a process nobody owns.
            with trio.CancelScope(shield=True):
                # the host-side steps in one worker-thread hop (each hop costs ~1 ms when
                # loaded); it appends to `undo` as it goes
                with step("start.prepare", rec.short_id):
                    spec, cgroup = await trio.to_thread.run_sync(self._prepare, rec, network, undo)
                stdio, parent = self._stdio(cfg, child_fds)
                for fd in parent.values():
                    undo.append(lambda fd=fd: _close(fd))
                hook = self._network_hook(rec) if network == "private" else None
                run_networks: dict[str, dict] = {}
                if hook is not None:
                    undo.append(lambda: self._disconnect_all(rec.id))
                with step("start.runtime", rec.short_id):
                    process = await self.runtime.start(
                        spec, cgroup, stdio,
                        before_exec=(lambda pid: hook(pid, run_networks)) if hook else None)
        except BaseException as exc:
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
                self._save(rec)
            raise
        for fd in child_fds:
            _close(fd)
        run = Running(process, cgroup, spec, trio.current_time(), networks=run_networks)
        if cfg.tty:
            run.pty = fd_stream(process.pty_master)
            run.stdin = run.pty
            run.outputs = [("stdout", run.pty)]
        else:
            run.outputs = [("stdout", fd_stream(parent["stdout"])),
                           ("stderr", fd_stream(parent["stderr"]))]
            if "stdin" in parent:
                run.stdin = fd_stream(parent["stdin"])
        st = rec.state
        st.status, st.pid, st.exit_code, st.error = ContainerState.RUNNING, process.pid, 0, ""
        st.oom_killed, st.started_at = False, rfc3339_nanos(time.time_ns())
        st.health = {"Status": "starting", "FailingStreak": 0, "Log": []} \
            if cfg.healthcheck else None
        self._running[rec.id] = run
        self._save(rec)
        self.spawn(self._supervise, rec, run)
        self.emit(rec, "start")
        log.info("started container %s pid %d", rec.short_id, process.pid)

    def _prepare(self, rec: ContainerRecord, network: str,
                 undo: list[Callable[[], None]]) -> tuple[ContainerSpec, Any]:
        """Worker thread: mount the root file system, build the spec, make the cgroup."""
        cfg = rec.config
        image = self.images.get(rec.image_id)
        lowers = self.images.layer_paths(image)
        merged = rec.dir / "merged"
        merged.mkdir(exist_ok=True)
        rootfs_ops.unmount(merged)  # a leftover from a crash
        with step("prepare.overlay", rec.short_id):
            rootfs_ops.mount_overlay(list(lowers), rec.dir / "upper", rec.dir / "work", merged)
        undo.append(lambda: rootfs_ops.unmount(merged))
        mounts = setup.build_mounts(rec, self.volumes, merged)
        user = setup.container_user(merged, cfg, cfg.user)
        hostname = setup.hostname_of(rec) if network != "host" else os.uname().nodename
        spec = ContainerSpec(
            id=rec.id, rootfs=str(merged), hostname=hostname,
            process=setup.process_spec(cfg, user, hostname), mounts=tuple(mounts),
            readonly_rootfs=cfg.readonly_rootfs, network=network,
            init_path=setup.init_path(cfg), resources=setup.resources(cfg),
            privileged=cfg.privileged, devices=setup.host_devices(cfg))
        with step("prepare.cgroup", rec.short_id):
            cgroup = self.cgroups.create(f"pycompose-{rec.short_id}", spec.resources)
        undo.append(cgroup.remove)
        return spec, cgroup

    def _stdio(self, cfg: ContainerConfig, child_fds: list[int]) -> tuple[Any, dict[str, int]]:
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

    # --- networking (netbridge) -------------------------------------------------------------
    def _network_hook(self, rec: ContainerRecord) -> Callable[[int, dict], Awaitable[None]] | None:
        if self.networks is None:
            return None
        from engine.containers.networking import connect_container
        return lambda pid, out: connect_container(self, rec, pid, out)

    def _disconnect_all(self, cid: str) -> None:
        if self.networks is None:
            return
        from engine.containers.networking import disconnect_container
        disconnect_container(self, cid)

    # --- supervision ------------------------------------------------------------------------
    async def _supervise(self, rec: ContainerRecord, run: Running) -> None:
        logfile = self._logfile(rec)
        hub = self.hub(rec.id)

        log_failed = False

        def on_output(stream: str) -> Callable[[bytes], None]:
            def handle(data: bytes) -> None:
                nonlocal log_failed
                if logfile is not None:
                    try:
                        logfile.write(stream, data)
                    except OSError as exc:  # e.g. a full disk: keep pumping, say it once
                        if not log_failed:
                            log.error("log of %s: %s", rec.short_id, exc)
                        log_failed = True
                    self._log_notify(rec.id)
                hub.publish((STREAM_IDS[stream], data))
            return handle

        status = None
        try:
            async with trio.open_nursery() as nursery:
                pumps_done = trio.Event()

                async def pump_all() -> None:
                    try:
                        async with trio.open_nursery() as pumps:
                            for stream, fdstream in run.outputs:
                                pumps.start_soon(read_chunks, fdstream, on_output(stream))
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
                # Output ends once every writer in the (now dead) namespace is gone.
                with trio.move_on_after(2), step("exit.pumps", rec.short_id):
                    await pumps_done.wait()
                nursery.cancel_scope.cancel()
            if logfile is not None:
                for stream in ("stdout", "stderr"):
                    logfile.flush(stream)
                self._log_notify(rec.id)
        except Exception:
            log.exception("supervision of %s failed", rec.short_id)
        finally:
            # Whatever happened above, the exit is recorded: a container left in `_running`
            # could never be removed, and shutdown would wait for it.
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
            self._save(rec)
            if health["Status"] != before and health["Status"] != "starting":
                self.emit(rec, f"health_status: {health['Status']}")

        await run_healthcheck(hc, probe, publish)

    async def _on_exit(self, rec: ContainerRecord, run: Running, status: Any) -> None:
        try:
            await self._record_exit(rec, run, status)
        except Exception:
            log.exception("recording the exit of %s failed", rec.short_id)
            # keep the state consistent: not running, and waiters released
            self._running.pop(rec.id, None)
            if rec.state.status.is_active():
                rec.state.status, rec.state.pid = ContainerState.EXITED, 0
                rec.state.exit_code = CRASH_EXIT_CODE
                try:
                    self._save(rec)
                except Exception:
                    log.exception("saving the state of %s failed", rec.short_id)
            run.finished.set()

    async def _record_exit(self, rec: ContainerRecord, run: Running, status: Any) -> None:
        async with self.store.lock(rec.id):
            with step("exit.teardown", rec.short_id):
                oom = await trio.to_thread.run_sync(self._teardown, rec, run)
            for stream in {id(s): s for s in [run.stdin, run.pty, *(s for _, s in run.outputs)]
                           if s is not None}.values():
                try:
                    await stream.aclose()
                except Exception:
                    pass
            self.execs.container_exited(rec.id)
            st = rec.state
            st.exit_code = status.code if status is not None else CRASH_EXIT_CODE
            st.oom_killed = oom or bool(getattr(status, "oom_killed", False))
            st.status, st.pid = ContainerState.EXITED, 0
            st.finished_at = rfc3339_nanos(time.time_ns())
            if st.health:
                st.health = {**st.health, "Status": "unhealthy"} \
                    if st.health.get("Status") == "starting" else st.health
            self._running.pop(rec.id, None)
            self.hub(rec.id).close_all()
            tracker = self._trackers.setdefault(rec.id, RestartTracker(rec.config.restart_policy))
            decision = tracker.on_exit(st.exit_code, trio.current_time() - run.started,
                                       run.stop_requested or st.stopped_by_user
                                       or self.shutting_down, st.restart_count)
            if decision.restart:
                st.status = ContainerState.RESTARTING
            self._save(rec)
            run.finished.set()
            if st.oom_killed:
                self.emit(rec, "oom")
            self.emit(rec, "die", exitCode=str(st.exit_code))
            log.info("container %s exited with %d%s", rec.short_id, st.exit_code,
                     " (OOM killed)" if st.oom_killed else "")
        if decision.restart:
            await self._restart_later(rec, decision.delay)
        elif rec.config.auto_remove:
            try:
                await self.remove(rec.id, force=True, volumes=True)
            except NotFound:
                pass

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
            steps.insert(1, ("network", lambda: self._disconnect_all(rec.id)))
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
            if rec.state.status is not ContainerState.RESTARTING or rec.id not in \
                    self.store._records:
                return
            if scope.cancelled_caught or self.shutting_down:
                rec.state.status = ContainerState.EXITED
                self._save(rec)
                return
            rec.state.restart_count += 1
            try:
                await self._launch(rec)
            except Exception as exc:
                log.error("restart of %s failed: %s", rec.short_id, exc)
                rec.state.status = ContainerState.EXITED
                rec.state.error = str(exc)
                self._save(rec)

    # --- stop / kill / restart --------------------------------------------------------------
    async def stop(self, ref: str, timeout: int | None = None, *, by_user: bool = True) -> None:
        rec = self.get(ref)
        if by_user:
            rec.state.stopped_by_user = True
            self.store.save_state(rec)
        if rec.state.status is ContainerState.RESTARTING:
            await self._cancel_restart(rec)
            return
        run = self._running.get(rec.id)
        if run is None:
            raise NotModified("container already stopped")
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
                await self._thaw(rec, run)
            with trio.move_on_after(timeout if timeout >= 0 else float("inf")):
                await run.exited.wait()
            await self._kill_and_wait(rec, run)
        self.emit(rec, "stop")

    async def _kill_and_wait(self, rec: ContainerRecord, run: Running) -> None:
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

    async def _cancel_restart(self, rec: ContainerRecord) -> None:
        scope = self._restart_scopes.get(rec.id)
        if scope is not None:
            scope.cancel()
        elif rec.id not in self._running:  # marked by recover(), not started yet
            async with self.store.lock(rec.id):
                if rec.state.status is ContainerState.RESTARTING and rec.id not in self._running:
                    rec.state.status = ContainerState.EXITED
                    self._save(rec)
        with trio.move_on_after(10):
            while rec.state.status is ContainerState.RESTARTING:
                await self._wait_change(rec.id)
        run = self._running.get(rec.id)  # a restart raced in: stop that one too
        if run is not None:
            run.stop_requested = True
            await self._kill_and_wait(rec, run)

    async def kill(self, ref: str, sig: int = signal.SIGKILL) -> None:
        rec = self.get(ref)
        run = self._running.get(rec.id)
        if run is None or rec.state.status not in (ContainerState.RUNNING, ContainerState.PAUSED):
            raise Conflict(f"Cannot kill container: {ref}: Container {rec.id} is not running")
        if sig == signal.SIGKILL:
            # like Docker: an explicit SIGKILL counts as a manual stop for restart policies
            run.stop_requested = True
        self.runtime.signal(run.process, sig)
        if sig == signal.SIGKILL and rec.state.status is ContainerState.PAUSED:
            await self._thaw(rec, run)  # a v1-frozen task only dies once thawed
        self.emit(rec, "kill", signal=str(sig))
        if sig == signal.SIGKILL:
            with trio.move_on_after(10):
                await run.finished.wait()

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
            run = self._running.get(rec.id)
            if run is None or not rec.state.status.can_pause():
                if rec.state.status is ContainerState.PAUSED:
                    raise Conflict(f"Container {rec.id} is already paused")
                raise Conflict(f"Container {rec.id} is not running")
            await trio.to_thread.run_sync(run.cgroup.freeze)
            rec.state.status = ContainerState.PAUSED
            self._save(rec)
            self.emit(rec, "pause")

    async def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        async with self.store.lock(rec.id):
            run = self._running.get(rec.id)
            if run is None or not rec.state.status.can_unpause():
                raise Conflict(f"Container {rec.id} is not paused")
            await self._thaw(rec, run)

    async def _thaw(self, rec: ContainerRecord, run: Running) -> None:
        await trio.to_thread.run_sync(run.cgroup.thaw)
        if rec.state.status is ContainerState.PAUSED:
            rec.state.status = ContainerState.RUNNING
            self._save(rec)
            self.emit(rec, "unpause")

    # --- remove / wait ----------------------------------------------------------------------
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        rec = self.get(ref)
        if rec.state.status.is_active():
            if not force:
                raise Conflict(f"You cannot remove a {rec.state.status.value} container {rec.id}."
                               " Stop the container before attempting removal or force remove")
            rec.state.stopped_by_user = True
            if rec.state.status is ContainerState.RESTARTING:
                await self._cancel_restart(rec)
            run = self._running.get(rec.id)
            if run is not None:
                run.stop_requested = True
                if rec.state.status is ContainerState.PAUSED:
                    await self._thaw(rec, run)
                with step("rm.kill_and_wait", rec.short_id):
                    await self._kill_and_wait(rec, run)
        async with self.store.lock(rec.id):
            if rec.id not in self.store._records:
                raise NotFound(f"No such container: {ref}")
            if rec.id in self._running:
                raise Conflict(f"container {rec.short_id} was started again while being removed")
            # In memory only: unlinking config.json (_discard_dir) is what makes the removal
            # durable; a state write here was a blocking rename on the event loop (1-20 ms
            # under load) for a file deleted moments later.
            rec.state.status = ContainerState.REMOVING
            self._notify(rec.id)
            with step("rm.files", rec.short_id):
                await trio.to_thread.run_sync(_discard_dir, rec.dir)
            self.execs.container_removed(rec.id)
            self.store.forget(rec, delete=False)
            self._trackers.pop(rec.id, None)
            self._hubs.pop(rec.id, None)
        if volumes:
            for name in rec.anonymous_volumes:
                try:
                    await trio.to_thread.run_sync(self.volumes.remove, name, self.volume_users)
                except (NotFound, Conflict) as exc:
                    log.warning("keeping volume %s: %s", name, exc)
        self._notify(rec.id)
        self._log_notify(rec.id)
        self.emit(rec, "destroy")
        log.info("removed container %s", rec.short_id)

    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        rec = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed"):
            raise BadParameter(f"invalid condition: {condition!r}")
        if condition == "not-running" and not rec.state.status.is_active() \
                and rec.state.status is not ContainerState.REMOVING:
            return {"StatusCode": rec.state.exit_code, "Error": None}
        if condition == "removed" and rec.id not in self.store._records:
            return {"StatusCode": rec.state.exit_code, "Error": None}
        seen_active = rec.state.status.is_active()
        while True:
            await self._wait_change(rec.id)
            gone = rec.id not in self.store._records
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
                self._save(rec)
                if was_removing:
                    self.store.forget(rec)
                    continue
            if st.status is not ContainerState.EXITED:
                continue
            if rec.config.restart_policy.restarts_at_daemon_start(
                    st.exit_code, st.stopped_by_user, st.restart_count):
                st.status = ContainerState.RESTARTING  # what clients see until it runs again
                self._save(rec)
                to_restart.append(rec)
            elif rec.config.auto_remove:
                to_remove.append(rec)
        return to_restart, to_remove

    async def start_recovered(self, rec: ContainerRecord) -> None:
        """Start a container `recover` marked restarting (unless a user stopped it meanwhile)."""
        async with self.store.lock(rec.id):
            if rec.state.status is not ContainerState.RESTARTING or \
                    rec.id not in self.store._records:
                return
            # a start like any other: the policy applies afresh at the next exit, whatever
            # stop the user made before the daemon restarted (Docker resets both too)
            _clear_restart_history(rec)
            self._trackers[rec.id] = RestartTracker(rec.config.restart_policy)
            try:
                await self._launch(rec)
            except Exception:
                rec.state.status = ContainerState.EXITED
                self._save(rec)
                raise

    async def shutdown(self) -> None:
        """Stop every running container (its own stop timeout, all in parallel); restart policies
        see a daemon shutdown, not a user stop, so they apply again at the next start."""
        self.shutting_down = True
        for scope in self._restart_scopes.values():
            scope.cancel()
        timeouts = [DEFAULT_STOP_TIMEOUT] + [
            r.config.stop_timeout for cid in self._running
            if (r := self.store._records.get(cid)) is not None and r.config.stop_timeout]
        # each stop is bounded already (timeout, SIGKILL 10 s, cgroup kill, 30 s teardown);
        # this outer bound only guards against a bug there leaving the daemon unable to exit
        with trio.move_on_after(max(timeouts) + 60) as bound:
            await self._stop_all()
        if bound.cancelled_caught:
            log.error("shutdown: containers still stopping after %ds; giving up on them",
                      max(timeouts) + 60)
        # root file systems detached by the teardowns finish their release before we exit
        if not await trio.to_thread.run_sync(rootfs_ops.wait_all_released, 30):
            log.error("shutdown: overlay releases still running after 30 s")

    async def _stop_all(self) -> None:
        async with trio.open_nursery() as nursery:
            for cid in list(self._running):
                async def stop_one(cid: str = cid) -> None:
                    try:
                        await self.stop(cid, by_user=False)
                    except PycomposeError:
                        pass
                    except Exception as exc:
                        log.error("stopping %s at shutdown: %s", cid[:12], exc)
                nursery.start_soon(stop_one)


async def _guarded(what: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """The boundary of a per-container task: a failure is logged with its traceback and ends
    only this task, never the supervisor (or the daemon) above it."""
    try:
        await fn(*args)
    except Exception:
        log.exception("%s failed", what)


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


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
