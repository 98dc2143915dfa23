"""Attached `up`: every attached container's output interleaved on stdout, lifecycle lines, and
the Ctrl-C protocol (first: graceful stop, second: kill).

Each container's log stream is read by a worker thread that formats whole chunks and writes
them straight to stdout under one lock (the hot path never enters trio); exits are reported to
the trio side through a memory channel.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import trio

from compose.logprinter import ByteSink, LogPresenter, LogStyle
from compose.orchestrator import naming
from compose.orchestrator.executor import Orchestrator, Started
from compose.orchestrator.logstream import log_lines
from engine.errors import PycomposeError


@dataclass(frozen=True)
class AttachOptions:
    style: LogStyle = LogStyle()
    timestamps: bool = False
    abort_on_exit: bool = False
    exit_code_from: str | None = None
    timeout: int | None = None
    tail: str | None = None            # `logs -n`
    follow: bool = True


@dataclass(frozen=True)
class Exit:
    service: str
    name: str
    code: int
    restarting: bool = False


class Interrupts:
    """Counts SIGINT/SIGTERM. The first cancels the current work phase (start-up or attach),
    the second the graceful stop (which then becomes a kill)."""

    def __init__(self) -> None:
        self.count = 0
        self._work: trio.CancelScope | None = None
        self._stopping: trio.CancelScope | None = None

    def work(self) -> trio.CancelScope:
        self._work = trio.CancelScope()
        if self.count:
            self._work.cancel()
        return self._work

    def stopping(self) -> trio.CancelScope:
        self._stopping = trio.CancelScope()
        if self.count > 1:
            self._stopping.cancel()
        return self._stopping

    async def watch(self, signals, progress) -> None:
        async for _ in signals:
            self.count += 1
            if self.count == 1:
                progress.info("Gracefully stopping... (press Ctrl+C again to force)")
                if self._work is not None:
                    self._work.cancel()
            elif self._stopping is not None:
                self._stopping.cancel()


class LogPump:
    """Streams the logs of containers to one sink from worker threads."""

    def __init__(self, orch: Orchestrator, presenter: LogPresenter, sink: ByteSink,
                 opts: AttachOptions) -> None:
        self.orch = orch
        self.presenter = presenter
        self.sink = sink
        self.opts = opts
        self.lock = threading.Lock()

    def emit(self, data: bytes, flush: bool = False) -> None:
        """Queue formatted output; the sink writes when 64 KiB are pending, on `flush`, or
        when `flusher` next wakes up, so a burst of small frames costs few writes."""
        if not data and not flush:
            return
        with self.lock:
            self.sink.write(data)
            if flush:
                self.sink.flush()

    def flush(self) -> None:
        with self.lock:
            self.sink.flush()

    async def flusher(self, period: float = 0.05) -> None:
        """Bounds the delay of buffered output (run it in a nursery; cancel to stop)."""
        while True:
            await trio.sleep(period)
            self.flush()

    def stream(self, c: Started, follow: bool, tail: str | None = None,
               since: float | None = None) -> None:
        """Blocking: copy one container's log until it ends (the container stopped)."""
        name = naming.short_name(c.name, self.orch.project.name)
        client = self.orch.gw.client()
        lines = self.presenter.lines
        for batch in log_lines(client, c.id, follow=follow, timestamps=self.opts.timestamps,
                               tail=tail, since=since):
            self.emit(lines(name, batch))
        self.emit(b"", flush=True)

    def follow_until_exit(self, c: Started) -> Exit:
        """Blocking: stream, then the exit code; restarts (restart policies) keep streaming."""
        import time

        client = self.orch.gw.client()
        since = c.since
        while True:
            self.stream(c, follow=True, since=since)
            ended = time.time()
            info = client.inspect_container(c.id)
            state = info.get("State") or {}
            if state.get("Status") in ("running", "restarting") or state.get("Restarting"):
                name = naming.short_name(c.name, self.orch.project.name)
                self.emit(self.presenter.event(
                    name, f"exited with code {state.get('ExitCode', 0)} (restarting)"))
                if state.get("Status") == "restarting":
                    time.sleep(0.1)
                since = ended   # the next run's output only
                continue
            if state.get("Status") not in ("exited", "dead"):
                state = {"ExitCode": client.wait(c.id).get("StatusCode", 0)}
            return Exit(c.service, c.name, int(state.get("ExitCode", 0)))


async def attach(orch: Orchestrator, containers: Iterable[Started], opts: AttachOptions,
                 interrupts: Interrupts, sink: ByteSink) -> int:
    """Stream until every attached container exited (or an abort); returns the exit code."""
    containers = sorted(containers, key=lambda c: c.name)
    names = [naming.short_name(c.name, orch.project.name) for c in containers]
    presenter = LogPresenter(names, opts.style)
    pump = LogPump(orch, presenter, sink, opts)
    if containers:
        orch.progress.info(f"Attaching to {', '.join(names)}")
    send, receive = trio.open_memory_channel[Exit](len(containers) + 1)
    code = 0
    abort = opts.abort_on_exit or bool(opts.exit_code_from)

    async def watch_one(c: Started) -> None:
        try:
            result = await orch.gw.blocking(lambda: pump.follow_until_exit(c))
        except PycomposeError as e:   # the container vanished under us (removed elsewhere)
            orch.progress.warn(f"{c.name}: {e.message}")
            result = Exit(c.service, c.name, -1)
        await send.send(result)

    with interrupts.work():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.flusher)
            for c in containers:
                nursery.start_soon(watch_one, c)
            remaining = len(containers)
            while remaining:
                exit_ = await receive.receive()
                remaining -= 1
                short = naming.short_name(exit_.name, orch.project.name)
                pump.emit(presenter.event(short, f"exited with code {exit_.code}"), flush=True)
                if opts.exit_code_from and exit_.service == opts.exit_code_from:
                    code = exit_.code
                if abort:
                    if not opts.exit_code_from:
                        code = exit_.code
                    orch.progress.info("Aborting on container exit...")
                    break
            nursery.cancel_scope.cancel()
    if interrupts.count or abort:
        await graceful_stop(orch, interrupts, opts.timeout)
    if opts.exit_code_from and not interrupts.count:
        code = await _exit_code_of(orch, opts.exit_code_from, code)
    pump.flush()
    return 0 if interrupts.count else code


async def _exit_code_of(orch: Orchestrator, service: str, default: int) -> int:
    """The exit code of `service` (its first replica), once stopped."""
    for c in await orch.observed(all=True, service=service, oneoff=False):
        info = await orch.gw.call("inspect_container", c.id)
        state = info.get("State") or {}
        if state.get("Status") in ("exited", "dead"):
            return int(state.get("ExitCode", default))
    return default


async def graceful_stop(orch: Orchestrator, interrupts: Interrupts, timeout: int | None) -> None:
    """Stop the project; a second Ctrl-C during the stop kills instead."""
    scope = interrupts.stopping()
    with scope:
        await orch.stop(timeout=timeout)
    if scope.cancelled_caught:
        with trio.CancelScope(shield=True):
            await orch.kill()


def signal_receiver():
    return trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
