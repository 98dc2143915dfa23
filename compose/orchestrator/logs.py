"""`logs` as one trio entry point: each container's log streamed by a worker thread."""
from __future__ import annotations

import time
from datetime import datetime

import trio

from compose.logprinter import ByteSink, LogPresenter, LogStyle
from compose.orchestrator import labels as L
from compose.orchestrator import naming
from compose.orchestrator.attach import AttachOptions, LogPump, signal_receiver
from compose.orchestrator.executor import Started
from compose.orchestrator.logstream import log_lines
from compose.orchestrator.session import UsageError
from compose.values import parse_duration


def parse_time(value: str | None, now: float | None = None) -> float | None:
    """`--since`/`--until`: a duration before now (`10m`), a unix time, or RFC 3339."""
    if not value:
        return None
    now = time.time() if now is None else now
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return now - parse_duration(value) / 1e9
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"invalid time {value!r}: use a duration (10m), a unix time or "
                         "RFC 3339") from None


async def run_logs(session, services: list[str], *, style: LogStyle, follow: bool,
                   tail: str | None, timestamps: bool, since: str | None, until: str | None,
                   index: int | None) -> int:
    orch = session.orchestrator()
    since_t, until_t = parse_time(since), parse_time(until)
    items = await orch.containers(all=True, oneoff=False)  # as Compose: `run` one-offs excluded
    wanted = set(services)
    chosen = []
    for item in sorted(items, key=lambda i: (i.get("Names") or [""])[0]):
        labels = item.get("Labels") or {}
        if wanted and labels.get(L.SERVICE) not in wanted:
            continue
        if index is not None and L.number_of(labels) != index:
            continue
        chosen.append(Started(labels.get(L.SERVICE, ""), item["Names"][0].lstrip("/"),
                              item["Id"]))
    names = [naming.short_name(c.name, orch.project.name) for c in chosen]
    presenter = LogPresenter(names, style)
    sink = ByteSink(1)
    pump = LogPump(orch, presenter, sink, AttachOptions(style=style, timestamps=timestamps))

    def one(c: Started) -> None:
        name = naming.short_name(c.name, orch.project.name)
        client = orch.gw.client()
        for batch in log_lines(client, c.id, follow=follow, timestamps=timestamps, tail=tail,
                               since=since_t, until=until_t):
            pump.emit(presenter.lines(name, batch))
        pump.emit(b"", flush=True)

    with signal_receiver() as signals:
        async with trio.open_nursery() as nursery:
            async def stop_on_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            nursery.start_soon(pump.flusher)
            async with trio.open_nursery() as streams:
                for c in chosen:
                    streams.start_soon(orch.gw.blocking, lambda c=c: one(c))
            nursery.cancel_scope.cancel()
    pump.flush()
    return 0
