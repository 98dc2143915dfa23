"""The whole of `up` as one trio entry point: converge, then (attached) stream until exit, with
Ctrl-C handled at every stage: start-up interrupted → graceful stop of what started, no
traceback; attached → graceful stop, a second Ctrl-C kills."""
from __future__ import annotations

import trio

from compose.logprinter import ByteSink
from compose.orchestrator.attach import (AttachOptions, Interrupts, attach, graceful_stop,
                                         signal_receiver)
from compose.orchestrator.executor import UpOptions, UpResult, summarize_failures


async def run_up(session, up_opts: UpOptions, attach_opts: AttachOptions, *, detach: bool,
                 attached: list[str]) -> int:
    orch = session.orchestrator()
    interrupts = Interrupts()
    with signal_receiver() as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(interrupts.watch, signals, orch.progress)
            try:
                return await _up(orch, interrupts, up_opts, attach_opts, detach, attached)
            finally:
                nursery.cancel_scope.cancel()


async def _up(orch, interrupts: Interrupts, up_opts: UpOptions, attach_opts: AttachOptions,
              detach: bool, attached: list[str]) -> int:
    result: UpResult | None = None
    with interrupts.work():
        result = await orch.up(up_opts)
    if interrupts.count:
        await graceful_stop(orch, interrupts, up_opts.timeout)
        return 130 if detach else 0
    assert result is not None
    error = summarize_failures(result)
    if error is not None:
        raise error
    if detach:
        return 0
    wanted = set(attached)
    containers = [c for c in result.containers if c.service in wanted]
    sink = ByteSink(1)
    try:
        return await attach(orch, containers, attach_opts, interrupts, sink)
    finally:
        try:
            sink.flush()
        except OSError:
            pass
