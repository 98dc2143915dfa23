"""Exec instances: create / start / inspect / resize, plus the capture helper healthchecks use."""
from __future__ import annotations

import logging
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from engine.containers import setup
from engine.containers.io import (STDERR, STDOUT, IoSession, cloexec_pipe, fd_stream, read_chunks,
                                  set_winsize, stream_writer)
from engine.containers.model import ContainerState
from engine.containers.detachkeys import parse_detach_keys
from engine.errors import BadParameter, Conflict, NotFound
from engine.runtime.spec import ProcessSpec

if TYPE_CHECKING:
    from engine.containers.background import TaskHost
    from engine.containers.running import Running, RunningTable
    from engine.containers.store import ContainerRecord, ContainerStore
    from engine.runtime.runtime import Runtime

log = logging.getLogger("engine.containers")
MAX_CAPTURE = 64 * 1024


@dataclass
class ExecInstance:
    id: str
    container_id: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    user: str
    working_dir: str
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    privileged: bool = False
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    pty: trio.lowlevel.FdStream | None = None
    pending_size: tuple[int, int] | None = None   # a resize that came before the pty existed
    detach_keys: bytes = b""                      # ExecConfig.DetachKeys (TTY input only)
    done: trio.Event = field(default_factory=trio.Event)

    def to_docker(self) -> dict:
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": self.tty, "entrypoint": self.args[0],
                                  "arguments": list(self.args[1:]), "privileged": self.privileged,
                                  "user": self.user},
                "OpenStdin": self.attach_stdin, "OpenStderr": self.attach_stderr,
                "OpenStdout": self.attach_stdout, "CanRemove": False,
                "ContainerID": self.container_id, "DetachKeys": "", "Pid": self.pid}


def _field(body: dict, name: str) -> Any:
    """A body field matched as Go's JSON decoding does, case-insensitively: the docker SDK
    sends ExecConfig's DetachKeys as `detachKeys`."""
    if name in body:
        return body[name]
    lowered = name.lower()
    return next((v for k, v in body.items() if k.lower() == lowered), None)


def _check_running(rec: ContainerRecord, run: Running | None) -> Running:
    if rec.state.status is ContainerState.PAUSED:
        raise Conflict(f"Container {rec.id} is paused, unpause the container before exec")
    if run is None or rec.state.status is not ContainerState.RUNNING:
        raise Conflict(f"Container {rec.id} is not running")
    return run


class ExecRegistry:
    def __init__(self, store: ContainerStore, table: RunningTable, runtime: Runtime,
                 tasks: TaskHost) -> None:
        self._store, self._table, self._runtime, self._tasks = store, table, runtime, tasks
        self._execs: dict[str, ExecInstance] = {}

    def get(self, exec_id: str) -> ExecInstance:
        inst = self._execs.get(exec_id)
        if inst is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return inst

    def ids_for(self, cid: str) -> list[str]:
        return [e.id for e in self._execs.values() if e.container_id == cid]

    def container_exited(self, cid: str) -> None:
        """Execs die with the container's PID namespace; their watchers record the codes."""

    def container_removed(self, cid: str) -> None:
        for eid in self.ids_for(cid):
            del self._execs[eid]

    def create(self, ref: str, body: Any) -> str:
        rec = self._store.get(ref)
        _check_running(rec, self._table.get(rec.id))
        if not isinstance(body, dict):
            raise BadParameter("body: expected a JSON object")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
            raise BadParameter("Cmd: No exec command specified")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
            raise BadParameter(f"Env: invalid environment {env!r}")
        inst = ExecInstance(
            id=secrets.token_hex(32), container_id=rec.id, args=tuple(cmd), env=tuple(env),
            user=body.get("User") or "", working_dir=body.get("WorkingDir") or "",
            tty=bool(body.get("Tty")), attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout", True)),
            attach_stderr=bool(body.get("AttachStderr", True)),
            privileged=bool(body.get("Privileged")),
            detach_keys=parse_detach_keys(_field(body, "DetachKeys"), "DetachKeys"))
        self._execs[inst.id] = inst
        return inst.id

    def inspect(self, exec_id: str) -> dict:
        return self.get(exec_id).to_docker()

    def resize(self, exec_id: str, height: int, width: int) -> None:
        inst = self.get(exec_id)
        if inst.pty is None:
            if inst.done.is_set():
                raise Conflict(f"Exec {exec_id} is not running")
            inst.pending_size = (height, width)  # applied as soon as the process has its pty
            return
        set_winsize(inst.pty.fileno(), height, width)

    async def _spawn(self, rec: ContainerRecord, run: Running, args: tuple[str, ...],
                     env: tuple[str, ...], user: str, cwd: str, tty: bool, want_stdin: bool,
                     console_size: tuple[int, int] | None = None, privileged: bool = False
                     ) -> tuple[Any, dict[str, trio.lowlevel.FdStream]]:
        from engine.runtime.runtime import Stdio

        cfg = rec.config
        resolved = await trio.to_thread.run_sync(setup.container_user, Path(run.spec.rootfs),
                                                 cfg, user or cfg.user)
        base = setup.container_env(cfg, run.spec.hostname)
        merged = {e.split("=", 1)[0]: e for e in base}
        # what PID 1 got beyond the config (legacy links' variables, fixed at its start): an
        # exec has them too, as Docker's; the container's own variables stay first and win
        for e in run.spec.process.env:
            merged.setdefault(e.split("=", 1)[0], e)
        for e in env:
            merged[e.split("=", 1)[0]] = e
        if tty:
            merged.setdefault("TERM", "TERM=xterm")
        pspec = ProcessSpec(args=args, env=tuple(merged.values()),
                            cwd=cwd or cfg.working_dir or "/", user=resolved, tty=tty,
                            rlimits=cfg.ulimits,   # an exec has its container's, as Docker's
                            oom_score_adj=cfg.oom_score_adj,
                            console_size=console_size if tty else None,
                            **setup.confinement(cfg, privileged))
        stdio, child, parent = Stdio(), [], {}
        try:
            if not tty:
                for name in ("stdout", "stderr"):
                    r, w = cloexec_pipe()
                    parent[name], _ = r, child.append(w)
                    setattr(stdio, name, w)
                if want_stdin:
                    r, w = cloexec_pipe()
                    parent["stdin"], _ = w, child.append(r)
                    stdio.stdin = r
            process = await self._runtime.exec(run.process, run.spec, pspec, run.cgroup,
                                                      stdio)
        except BaseException:
            for fd in parent.values():
                _close(fd)
            raise
        finally:
            for fd in child:
                _close(fd)
        streams = {name: fd_stream(fd) for name, fd in parent.items()}
        if tty:
            streams["pty"] = fd_stream(process.pty_master)
        return process, streams

    def check_startable(self, exec_id: str) -> ExecInstance:
        """The errors `start` would raise, checked before a connection is hijacked."""
        inst = self.get(exec_id)
        rec = self._store.get(inst.container_id)
        _check_running(rec, self._table.get(rec.id))
        if inst.started:
            raise Conflict(f"Exec command {exec_id} has already run" if not inst.running
                           else f"Exec command {exec_id} is already running")
        return inst

    async def start(self, exec_id: str, *, detach: bool, tty: bool | None = None,
                    console_size: tuple[int, int] | None = None) -> IoSession | None:
        """console_size (ExecStart's ConsoleSize, or a resize made before the start) is set on
        the pty before the command runs."""
        inst = self.check_startable(exec_id)
        if console_size:
            inst.pending_size = console_size
        rec = self._store.get(inst.container_id)
        run = _check_running(rec, self._table.get(rec.id))
        # As Docker: the process gets a terminal by the create's Tty; the start's Tty (when
        # given) only says how the stream is framed (raw, or multiplexed by stream).
        framing = inst.tty if tty is None else bool(tty)
        inst.started = True
        try:
            process, streams = await self._spawn(rec, run, inst.args, inst.env, inst.user,
                                                 inst.working_dir, inst.tty,
                                                 inst.attach_stdin and not detach,
                                                 inst.pending_size, inst.privileged)
        except BaseException:
            inst.exit_code = 126
            inst.done.set()
            raise
        inst.running, inst.pid = True, process.pid
        inst.pty = streams.get("pty")
        if inst.pty is not None and inst.pending_size:
            set_winsize(inst.pty.fileno(), *inst.pending_size)
        send, receive = trio.open_memory_channel[tuple[int, bytes]](64)
        self._tasks.spawn(self._watch, inst, process, streams, send)
        if detach:
            await receive.aclose()
            return None
        stdin = streams.get("stdin") or (inst.pty if inst.attach_stdin else None)

        async def write_stdin(data: bytes) -> None:
            await stream_writer(stdin, data)

        async def close_stdin() -> None:
            if stdin is not None and stdin is not inst.pty:
                await stdin.aclose()

        return IoSession(framing, receive, [], write_stdin if stdin else None,
                         close_stdin if stdin else None)

    async def _watch(self, inst: ExecInstance, process: Any,
                     streams: dict[str, trio.lowlevel.FdStream],
                     send: trio.MemorySendChannel[tuple[int, bytes]]) -> None:
        outputs = [(STDOUT, streams["pty"])] if "pty" in streams else \
            [(STDOUT, streams["stdout"]), (STDERR, streams["stderr"])]
        wanted = {STDOUT} if inst.attach_stdout else set()
        if inst.attach_stderr:
            wanted.add(STDERR)
        status = None
        try:
            async with send:
                async with trio.open_nursery() as nursery:
                    pumped = trio.Event()

                    async def pump_all() -> None:
                        try:
                            async with trio.open_nursery() as pumps:
                                for sid, stream in outputs:
                                    pumps.start_soon(_pump, stream, sid, send, sid in wanted)
                        finally:
                            pumped.set()

                    nursery.start_soon(pump_all)
                    try:
                        status = await self._runtime.wait(process)
                    except Exception as exc:
                        log.error("exec %s: wait failed: %s", inst.id[:12], exc)
                    self._runtime.release(process)
                    with trio.move_on_after(2):
                        await pumped.wait()
                    nursery.cancel_scope.cancel()
        except Exception:
            log.exception("exec %s: watcher failed", inst.id[:12])
        finally:
            # the exec always ends (inspect, waiting clients), whatever failed above
            await _close_all(streams)
            inst.exit_code = status.code if status is not None else 255
            inst.running, inst.pty = False, None
            inst.done.set()

    async def run_capture(self, rec: ContainerRecord, run: Running,
                          args: tuple[str, ...]) -> tuple[int, str]:
        """Run a probe to completion; cancelling (the caller's timeout) kills it."""
        process, streams = await self._spawn(rec, run, args, (), "", "", False, False)
        out = bytearray()

        def keep(data: bytes) -> None:
            if len(out) < MAX_CAPTURE:
                out.extend(data[:MAX_CAPTURE - len(out)])

        runtime = self._runtime
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_chunks, streams["stdout"], keep)
                nursery.start_soon(read_chunks, streams["stderr"], keep)
                status = await runtime.wait(process)
                # a probe's own background children may hold the pipes: do not wait for them
                nursery.cancel_scope.deadline = trio.current_time() + 1
            return status.code, out.decode("utf-8", "replace")
        finally:
            await _close_all(streams)
            if runtime.exit_status(process) is None:
                runtime.signal(process, signal.SIGKILL)
                self._tasks.spawn(_reap, runtime, process)
            else:
                runtime.release(process)


async def _reap(runtime: Any, process: Any) -> None:
    with trio.move_on_after(30):
        await runtime.wait(process)
    runtime.release(process)


async def _pump(stream: trio.lowlevel.FdStream, sid: int,
                send: trio.MemorySendChannel[tuple[int, bytes]], forward: bool) -> None:
    """Forward output to the client; once it is gone, keep draining so the process never blocks."""
    while True:
        try:
            data = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        if not data:
            return
        if forward:
            try:
                await send.send((sid, data))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                forward = False


def _close(fd: int) -> None:
    import os
    try:
        os.close(fd)
    except OSError:
        pass


async def _close_all(streams: dict[str, trio.lowlevel.FdStream]) -> None:
    """Close an exec's pipes or pty, shielded: it runs in cleanup, also when cancelled."""
    with trio.CancelScope(shield=True):
        for stream in streams.values():
            try:
                await stream.aclose()
            except Exception:
                pass
