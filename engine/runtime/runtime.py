"""The daemon's side of the runtime: `Runtime` talks to the zygote (zygote.py) from trio.

Use:
    runtime = Runtime.launch()             # before trio.run / any thread / importing pyroute2
    async with trio.open_nursery() as n:
        await n.start(runtime.serve)       # the task that reads the zygote's messages
        proc = await runtime.start(spec, cgroup, Stdio(...), before_exec=wire_network)
        status = await runtime.wait(proc)
        runtime.release(proc)
    runtime.close()

`serve` must run while any other method is awaited. All fds are non-blocking on this side;
waiting is `trio.lowlevel.wait_readable`, so nothing blocks the event loop.
"""
from __future__ import annotations

import errno
import itertools
import os
import signal as signal_mod
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import trio

from engine.errors import (CommandNotExecutable, CommandNotFound, EngineError, NotRunning,
                           PycomposeError)
from engine.runtime import protocol
from engine.runtime import syscalls as sc
from engine.runtime.cgroups import Cgroup
from engine.runtime.steptime import step
from engine.runtime.spec import (ContainerSpec, ProcessSpec, spec_to_dict, validate_process,
                                 validate_spec)

_NOT_FOUND = {errno.ENOENT}
_NOT_EXECUTABLE = {errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM, errno.ETXTBSY}


@dataclass
class Stdio:
    stdin: int | None = None    # fds owned by the caller; the runtime dups them into the child
    stdout: int | None = None
    stderr: int | None = None
    # with process.tty the runtime ignores these and returns Process.pty_master


@dataclass
class Process:
    pid: int                    # host pid
    pidfd: int
    pty_master: int | None = None   # master of the container-devpts pty when tty=True; caller owns it


@dataclass(frozen=True)
class ExitStatus:
    code: int                   # exit code, or 128+signal
    signal: int | None
    oom_killed: bool = False    # filled in by the caller from the cgroup

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            return cls(128 - code, -code)
        return cls(code, None)


@dataclass
class _Request:
    replies: list[tuple[protocol.Message, list[int]]] = field(default_factory=list)
    event: trio.Event = field(default_factory=trio.Event)


@dataclass
class _Exit:
    event: trio.Event = field(default_factory=trio.Event)
    status: ExitStatus | None = None


class _Join:
    """Writes `pid` into every cgroup.procs file from a thread of its own, started at once.

    Not trio's thread cache: its idle workers outlive trio.run, and Runtime.launch() (the
    zygote's fork) refuses to run beside any thread; this one is joined before start returns."""

    def __init__(self, procs: list[str], pid: int) -> None:
        self.done = trio.Event()
        self.error: tuple[str, OSError] | None = None
        token = trio.lowlevel.current_trio_token()

        def body() -> None:
            try:
                self._write(procs, pid)
            finally:
                token.run_sync_soon(self.done.set)

        self._thread = threading.Thread(target=body, name="pycompose-cgroup-join", daemon=True)
        self._thread.start()

    def _write(self, procs: list[str], pid: int) -> None:
        data = str(pid).encode()
        for path in procs:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            except OSError as e:
                if e.errno != errno.ESRCH:  # ESRCH: PID 1 died in set-up; the zygote says why
                    self.error = (os.path.dirname(path), e)
                return

    async def finished(self) -> None:
        """The thread is gone (whether it succeeded or not)."""
        await self.done.wait()
        self._thread.join()  # it only has to return now

    async def wait(self) -> None:
        await self.finished()
        if self.error is not None:
            where, e = self.error
            raise EngineError(f"container set-up: cannot join cgroup {where}: {e.strerror}")


def failure_error(msg: protocol.Failed) -> PycomposeError:
    """The typed error for a Failed reply."""
    if msg.kind == "exec" and msg.errno in _NOT_FOUND:
        return CommandNotFound(msg.message)
    if msg.kind == "exec" and msg.errno in _NOT_EXECUTABLE:
        return CommandNotExecutable(msg.message)
    if msg.kind == "notrunning":
        return NotRunning(msg.message)
    return EngineError(msg.message)


class Runtime:
    def __init__(self, sock: socket.socket, zygote_pid: int) -> None:
        self._sock = sock
        self._sock.setblocking(False)
        self.zygote_pid = zygote_pid
        self._reqs: dict[int, _Request] = {}
        self._exits: dict[int, _Exit] = {}
        self._ids = itertools.count(1)
        self._dead = False
        self._send_lock: trio.Lock | None = None

    @classmethod
    def launch(cls) -> Runtime:
        """Fork the zygote (which execs the interpreter afresh through a read-only view of it,
        sealed_exe). Call before trio runs and before any thread starts."""
        import threading

        from engine.runtime import zygote

        if threading.active_count() > 1:
            others = ", ".join(t.name for t in threading.enumerate()
                               if t is not threading.current_thread())
            raise EngineError("Runtime.launch() must run before any thread starts (the zygote "
                              f"is forked from this process); running: {others}")
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        daemon_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the zygote; never returns
            ours.close()
            zygote.main(theirs, daemon_pid)
        theirs.close()
        return cls(ours, pid)

    # --- the reader task ---------------------------------------------------------------------
    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Read the zygote's messages until it goes away. Start it in the daemon's nursery."""
        task_status.started()
        while not self._dead:
            try:
                msg, fds = protocol.receive(self._sock)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._sock)
                continue
            except OSError:
                msg, fds = None, []
            if msg is None:
                self._zygote_gone()
                return
            self._dispatch(msg, fds)

    def _dispatch(self, msg: protocol.Message, fds: list[int]) -> None:
        if isinstance(msg, protocol.Exited):
            ex = self._exits.setdefault(msg.pid, _Exit())
            ex.status = ExitStatus.from_wait_status(msg.status)
            ex.event.set()
            return
        req = self._reqs.get(getattr(msg, "req", -1))
        if req is None:  # nobody waits any more (cancelled start): drop the fds
            for fd in fds:
                os.close(fd)
            return
        req.replies.append((msg, fds))
        req.event.set()

    def _zygote_gone(self) -> None:
        self._dead = True
        for req in self._reqs.values():
            req.event.set()
        for ex in self._exits.values():
            if ex.status is None:
                ex.status = ExitStatus(137, signal_mod.SIGKILL)
            ex.event.set()

    async def _reply(self, req_id: int) -> tuple[protocol.Message, list[int]]:
        req = self._reqs[req_id]
        while not req.replies:
            if self._dead:
                raise EngineError("the runtime's zygote process has exited")
            await req.event.wait()
            req.event = trio.Event()
        return req.replies.pop(0)

    async def _send(self, msg: protocol.Message, fds: list[int] = ()) -> None:
        if self._dead:
            raise EngineError("the runtime's zygote process has exited")
        data = protocol.encode(msg)
        while True:
            try:
                if fds:
                    socket.send_fds(self._sock, [data], list(fds))
                else:
                    self._sock.send(data)
                return
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._sock)

    def _send_nowait(self, msg: protocol.Message) -> None:
        try:
            self._sock.send(protocol.encode(msg))
        except OSError:
            pass

    @staticmethod
    def _stdio_fds(stdio: Stdio | None, tty: bool) -> tuple[list[str], list[int]]:
        if stdio is None or tty:
            return [], []
        names, fds = [], []
        for name in ("stdin", "stdout", "stderr"):
            fd = getattr(stdio, name)
            if fd is not None:
                names.append(name)
                fds.append(fd)
        return names, fds

    # --- operations --------------------------------------------------------------------------
    async def start(self, spec: ContainerSpec, cgroup: Cgroup, stdio: Stdio | None = None,
                    before_exec: Callable[[int], Awaitable[None]] | None = None,
                    joins: dict[str, Process] | None = None) -> Process:
        """Create PID 1 in new namespaces and its cgroup, run before_exec(pid), then exec.
        `joins`: "pid" / "ipc" -> the running PID 1 whose namespace it shares (spec's "join"
        modes); its pidfd goes to the zygote, so a recycled pid can never be joined.

        Raises CommandNotFound / CommandNotExecutable / EngineError; nothing is left running
        then (the zygote reaps before it answers)."""
        validate_spec(spec)
        names, fds = self._stdio_fds(stdio, spec.process.tty)
        # our own copies: the donor's pidfd is closed when it is reaped, which may happen
        # while the request waits to be sent, and its number be reused by then
        dups = [os.dup(donor.pidfd) for donor in (joins or {}).values() if donor.pidfd >= 0]
        if len(dups) != len(joins or {}):
            for fd in dups:
                os.close(fd)
            kind = next(k for k, d in (joins or {}).items() if d.pidfd < 0)
            raise NotRunning(f"cannot join {kind.upper()} of a non running container")
        names, fds = [*names, *(f"join:{k}" for k in joins or {})], [*fds, *dups]
        req_id = next(self._ids)
        self._reqs[req_id] = _Request()
        pidfd = -1
        created_pid: int | None = None
        procs = cgroup.procs_files()
        try:
            with step("runtime.clone", spec.id[:12]):
                await self._send(protocol.Start(req_id, spec_to_dict(spec), procs, names,
                                                go=False, join=False), fds)
                msg, got = await self._reply(req_id)
            if isinstance(msg, protocol.Failed):
                raise failure_error(msg)
            assert isinstance(msg, protocol.Created)
            pid, pidfd = msg.pid, got[0]
            created_pid = pid
            self._exits.setdefault(pid, _Exit())
            # Moving PID 1 into its cgroup waits for an RCU grace period on cgroup v1 (the
            # first migration after a quiet spell: 6-19 ms measured, more than the rest of
            # the set-up); a worker thread does it while PID 1 mounts its root (and while
            # before_exec runs), and Go waits for both.
            joined = _Join(procs, pid)
            try:
                if before_exec is not None:
                    with step("runtime.before_exec", spec.id[:12]):
                        await before_exec(pid)
                with step("runtime.join_wait", spec.id[:12]):
                    await joined.wait()
                with step("runtime.go_to_started", spec.id[:12]):
                    await self._send(protocol.Go(req_id))
                    msg, got = await self._reply(req_id)
            except BaseException as exc:
                with trio.CancelScope(shield=True):
                    await joined.finished()  # no write of this pid once it may be reused
                    self._send_nowait(protocol.Abort(req_id))
                    failed = await self._drain_failure(req_id, pidfd)
                # PID 1 can fail on its own (a missing command, a bad mount) while set-up still
                # runs; then set-up trips over its exit ("cannot open netns /proc/N/ns/net"),
                # but PID 1's own failure is the cause to report.
                if isinstance(exc, Exception) and failed is not None \
                        and failed.kind != "aborted":
                    raise failure_error(failed) from exc
                raise
            if isinstance(msg, protocol.Failed):
                raise failure_error(msg)
            assert isinstance(msg, protocol.Started)
            proc = Process(pid, pidfd, got[0] if msg.tty else None)
            pidfd = -1
            return proc
        finally:
            for fd in dups:
                os.close(fd)
            self._reqs.pop(req_id, None)
            if pidfd >= 0:  # failed after Created: the zygote has reaped it already
                os.close(pidfd)
                self._exits.pop(created_pid, None)

    async def _drain_failure(self, req_id: int, pidfd: int) -> protocol.Failed | None:
        """After Abort: wait for the zygote's final answer so the process is surely reaped;
        returns that answer when it is a failure."""
        with trio.move_on_after(5):
            while not self._dead:
                msg, got = await self._reply(req_id)
                for fd in got:
                    os.close(fd)
                if isinstance(msg, protocol.Failed):
                    return msg
                if isinstance(msg, protocol.Started):  # exec'd just before the abort: kill it
                    self.signal(Process(msg.pid, pidfd), signal_mod.SIGKILL)
                    await self.wait(Process(msg.pid, pidfd))
                    return None
        return None

    async def exec(self, container: Process, spec: ContainerSpec, process: ProcessSpec,
                   cgroup: Cgroup, stdio: Stdio | None = None) -> Process:
        """A new top-level process in the running container (not a child of its PID 1)."""
        validate_process(process)
        ex = self._exits.get(container.pid)
        if ex is not None and ex.status is not None:
            raise NotRunning(f"container {spec.id[:12]} is not running")
        names, fds = self._stdio_fds(stdio, process.tty)
        req_id = next(self._ids)
        self._reqs[req_id] = _Request()
        try:
            await self._send(protocol.Exec(req_id, container.pid, spec_to_dict(spec),
                                           spec_to_dict(process), cgroup.procs_files(), names),
                             fds)
            msg, got = await self._reply(req_id)
        finally:
            self._reqs.pop(req_id, None)
        if isinstance(msg, protocol.Failed):
            if msg.kind == "notrunning":
                raise NotRunning(f"container {spec.id[:12]} is not running")
            raise failure_error(msg)
        assert isinstance(msg, protocol.Started)
        self._exits.setdefault(msg.pid, _Exit())
        return Process(msg.pid, got[0], got[1] if msg.tty else None)

    async def wait(self, proc: Process) -> ExitStatus:
        """The process's exit status once the zygote reaped it; several tasks may wait."""
        if proc.pidfd < 0 and proc.pid not in self._exits:
            raise EngineError(f"process {proc.pid} was already released")
        ex = self._exits.setdefault(proc.pid, _Exit())
        if ex.status is None and self._dead:
            return ExitStatus(137, signal_mod.SIGKILL)
        await ex.event.wait()
        assert ex.status is not None
        return ex.status

    def exit_status(self, proc: Process) -> ExitStatus | None:
        """The status if the process has been reaped already (no waiting)."""
        ex = self._exits.get(proc.pid)
        return ex.status if ex else None

    def signal(self, proc: Process, sig: int) -> None:
        """pidfd_send_signal; a no-op when the process is gone."""
        if proc.pidfd < 0:
            return  # released: never signal by bare pid (it may be reused)
        try:
            sc.pidfd_send_signal(proc.pidfd, sig)
        except OSError as e:
            if e.errno not in (errno.ESRCH, errno.EBADF):
                raise

    def release(self, proc: Process) -> None:
        """Forget a reaped process: close its pidfd and drop its exit record."""
        if proc.pidfd >= 0:
            os.close(proc.pidfd)
            proc.pidfd = -1
        ex = self._exits.get(proc.pid)
        if ex is not None and ex.status is not None:
            del self._exits[proc.pid]

    def close(self) -> None:
        """Stop the zygote (it SIGKILLs and reaps whatever still runs) and wait for it."""
        if self._sock.fileno() >= 0:
            self._sock.close()
        self._dead = True
        deadline = time.monotonic() + 10  # the zygote gives its children 5 s at most
        try:
            while os.waitpid(self.zygote_pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > deadline:
                    os.kill(self.zygote_pid, signal_mod.SIGKILL)
                    os.waitpid(self.zygote_pid, 0)
                    break
                time.sleep(0.002)
        except ChildProcessError:
            pass
