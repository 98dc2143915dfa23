"""Container output: what PID 1 writes goes to the json-file log and to live subscribers
(`OutputSink`); clients read it back as logs (with follow) or attach sessions, and resize a
tty (`ContainerOutput`, a collaborator of ContainerManager)."""
from __future__ import annotations

import dataclasses
import itertools
import operator
import logging
import time
from typing import AsyncIterator, Awaitable, Callable, List, Union

import trio

from engine.containers.background import TaskHost
from engine.containers.io import (STDERR, STDOUT, STREAM_IDS, IoSession, OutputHub, set_winsize,
                                  stream_writer)
from engine.containers import logcache
from engine.containers.logcache import Segment
from engine.containers.logs import (LogFile, LogQuery, Rendered, join_records, parse_lines,
                                   parse_time, plain_records, raw_records, render_records,
                                   select)
from engine.containers.model import ContainerState
from engine.containers.running import Running, RunningTable
from engine.containers.statefeed import StateFeed
from engine.containers.store import ContainerRecord, ContainerStore
from engine.errors import BadParameter, Conflict, EngineError

log = logging.getLogger("engine.containers")

BATCH = 16384  # lines per chunk: few large writes
FIRST_PIECE = 256 * 1024   # log bytes rendered before the first lines are sent
PIECE = 1024 * 1024        # and then per thread hop
HELD_GROUP = 128 * 1024    # bytes of held output rendered per thread hop


def render(datas: list[bytes], query: LogQuery) -> Rendered:
    """Complete json-file lines (oldest first) → what `logs` sends. Ours take the bulk paths
    (no per-line JSON decoding or objects: 200k plain lines in ~0.05 s); torn or foreign lines
    the general one."""
    plain = [plain_records(d) for d in datas]
    if all(r is not None for r in plain):
        return render_records(join_records(plain), query, b"\n")  # type: ignore[arg-type]
    records = [raw_records(d) for d in datas]
    if all(r is not None for r in records):
        return render_records(join_records(records), query)  # type: ignore[arg-type]
    entries = select(iter([e for d in datas for e in parse_lines(d)]), query)
    return Rendered([STREAM_IDS[e.stream] for e in entries], [query.render(e) for e in entries])


def cut_lines(data: bytes, first: int = FIRST_PIECE, size: int = PIECE) -> list[bytes]:
    """Complete lines → pieces of about `size` bytes cut after a newline (the first one
    smaller, to be sent sooner); no piece is empty."""
    pieces: list[bytes] = []
    start, want = 0, first
    while len(data) - start > want:
        end = data.find(b"\n", start + want) + 1
        if not end:
            break
        pieces.append(data[start:end])
        start, want = end, size
    if start < len(data):
        pieces.append(data[start:] if start else data)
    return pieces


Item = Union[bytes, List[Segment]]   # json-file lines to cut, or held output (logcache)
EMPTY = Rendered([], [])


def read_items(logfile: LogFile, offset: int,
               inode: int | None) -> tuple[list[Item], int, int | None]:
    """The complete lines of the current log file after `offset` (from 0 again if the file was
    replaced or cut) as work items, the offset after them and the file's inode. When the writer
    holds all of them in memory the file is not even read."""
    size, now = logfile.size_and_inode()
    if now is not None and (inode is None or (now == inode and size >= offset)):
        held = logcache.segments(str(logfile.path), now, offset, size)
        if held and held[0].start == offset and held[-1].end == size:
            return _held_groups(held), size, now
    data, offset, inode = logfile.read_raw_from(offset, inode)
    return work_items(str(logfile.path), data, offset - len(data), inode), offset, inode


def _held_groups(held: list[Segment]) -> list[Item]:
    """Held segments in groups of about `HELD_GROUP` bytes (one thread hop each)."""
    items: list[Item] = []
    group: list[Segment] = []
    size = 0
    for seg in held:
        group.append(seg)
        size += len(seg.raw)
        if size >= HELD_GROUP:
            items.append(group)
            group, size = [], 0
    if group:
        items.append(group)
    return items


def work_items(path: str, data: bytes, start: int, inode: int | None) -> list[Item]:
    """Complete lines of the current log file (at `start`) → what to render, in order: the
    ranges the writer holds in memory as they are, the rest as pieces of file bytes."""
    held = logcache.segments(path, inode, start, start + len(data))
    if not held:
        return cut_lines(data)  # type: ignore[return-value]
    items: list[Item] = list(cut_lines(data[:held[0].start - start]))
    items += _held_groups(held)
    items += cut_lines(data[held[-1].end - start:])
    return items


def last_lines(items: list[Item], query: LogQuery) -> list[Rendered]:
    """The last `query.tail` lines of what `items` render to: items are rendered from the end
    until that many lines were found, so a short tail of a long log cuts only its end."""
    assert query.tail is not None
    need = query.tail
    whole = dataclasses.replace(query, tail=None)
    found: list[Rendered] = []
    for item in reversed(items):
        if not need:
            break
        out = render_item(item, whole)
        if len(out.datas) > need:
            out = Rendered(out.sids[-need:], out.datas[-need:], out.ends)
        found.append(out)
        need -= len(out.datas)
    return found[::-1]


def render_item(item: Item, query: LogQuery) -> Rendered:
    return render([item], query) if isinstance(item, bytes) else render_held(item, query)


def render_held(segments: list[Segment], query: LogQuery) -> Rendered:
    """Held plain output → what `logs` sends: lines without their newline (`ends`), cut by one
    split per write; since/until and the stream are decided per write (its lines share them)."""
    sids: list[int] = []
    datas: list[bytes] = []
    for seg in segments:
        if not (query.stdout if seg.stream == b"stdout" else query.stderr):
            continue
        if query.since_ns is not None or query.until_ns is not None:
            ns = parse_time(seg.time.decode())
            if (query.since_ns is not None and ns < query.since_ns) or \
                    (query.until_ns is not None and ns > query.until_ns):
                continue
        lines = seg.raw[:-1].split(b"\n")
        if query.timestamps:
            lines = list(map(operator.add, itertools.repeat(seg.time + b" "), lines))
        datas += lines
        sids += [STREAM_IDS[seg.stream.decode()]] * len(lines)
    return Rendered(sids, datas, b"\n")


def past_output(logfile: LogFile, query: LogQuery) -> list[tuple[int, bytes]]:
    """The whole log as (stream id, line) for `attach?logs=1`, by the bulk paths."""
    items: list[Item] = [p for d in logfile.read_rotated() for p in cut_lines(d)]
    items += read_items(logfile, 0, None)[0]
    out: list[tuple[int, bytes]] = []
    for item in items:
        sids, datas, ends = render_item(item, query)
        out += zip(sids, map(operator.add, datas, itertools.repeat(ends)) if ends else datas)
    return out


def logfile_of(rec: ContainerRecord) -> LogFile | None:
    """The container's json-file log, or None for the `none` driver."""
    lc = rec.config.log_config
    if lc.type == "none":
        return None
    return LogFile(rec.log_path, lc.max_size, lc.max_file)


class OutputSink:
    """Where one run's output goes: the log file (a write error is said once, the output
    still flows) and the live subscribers of the container's hub."""

    def __init__(self, rec: ContainerRecord, hub: OutputHub,
                 written: Callable[[str], None]) -> None:
        self._rec, self._hub, self._written = rec, hub, written
        self._logfile = logfile_of(rec)
        self._log_failed = False

    def stream(self, name: str) -> Callable[[bytes], None]:
        sid = STREAM_IDS[name]
        logfile, cid = self._logfile, self._rec.id

        def handle(data: bytes) -> None:
            if logfile is not None:
                try:
                    logfile.write(name, data)
                except OSError as exc:  # e.g. a full disk: keep pumping, say it once
                    if not self._log_failed:
                        log.error("log of %s: %s", self._rec.short_id, exc)
                    self._log_failed = True
                self._written(cid)
            self._hub.publish((sid, data))
        return handle

    def flush(self) -> None:
        """The log's buffered partial lines written out (PID 1 is gone)."""
        if self._logfile is not None:
            for name in ("stdout", "stderr"):
                self._logfile.flush(name)
            self._written(self._rec.id)


class ContainerOutput:
    def __init__(self, store: ContainerStore, table: RunningTable, feed: StateFeed,
                 tasks: TaskHost, stop: Callable[[str], Awaitable[None]]) -> None:
        self._store, self._table, self._feed, self._tasks = store, table, feed, tasks
        self._stop = stop   # the user's stop, for a `run --rm -i` whose client vanished
        self._hubs: dict[str, OutputHub] = {}
        self._log_written: dict[str, trio.Event] = {}

    def hub(self, cid: str) -> OutputHub:
        return self._hubs.setdefault(cid, OutputHub())

    def sink(self, rec: ContainerRecord) -> OutputSink:
        return OutputSink(rec, self.hub(rec.id), self.log_written)

    def log_written(self, cid: str) -> None:
        event = self._log_written.pop(cid, None)
        if event is not None:
            event.set()

    def forget(self, cid: str) -> None:
        """The container is removed: its hub goes."""
        self._hubs.pop(cid, None)

    async def logs(self, ref: str, query: LogQuery,
                   follow: bool) -> AsyncIterator[Rendered]:
        rec = self._store.get(ref)
        logfile = logfile_of(rec)
        if logfile is None:
            raise BadParameter('configured logging driver does not support reading')
        return self._log_stream(rec, logfile, query, follow)

    async def _log_stream(self, rec: ContainerRecord, logfile: LogFile, query: LogQuery,
                          follow: bool) -> AsyncIterator[Rendered]:
        """Batches of lines (stream ids, bytes): one write per batch, not per line. Reading and
        rendering run in a worker thread, in bulk, so neither a long log nor a fast writer being
        followed stalls the event loop (and with it the pump that writes the log). A long read
        is rendered a piece at a time, each sent before the next is rendered, so the client
        works on the first lines while we cut the rest; a tail renders pieces from the end
        until it has its lines."""
        def snapshot() -> tuple[Rendered, list[Item | Rendered], int, int | None]:
            datas = logfile.read_rotated()
            items: list[Item] = [p for d in datas for p in cut_lines(d)]
            current, offset, inode = read_items(logfile, 0, None)
            items += current
            if query.tail is not None:
                return EMPTY, last_lines(items, query), offset, inode
            return render_item(items.pop(0), query) if items else EMPTY, items, offset, inode

        def more(offset: int, inode: int | None) -> tuple[Rendered, list[Item | Rendered],
                                                          int, int | None]:
            items, offset, inode = read_items(logfile, offset, inode)
            return render_item(items.pop(0), later) if items else EMPTY, items, offset, inode

        # Events are taken before each read, so a write during the read wakes the next wait.
        event = self._log_written.setdefault(rec.id, trio.Event())
        out, rest, offset, inode = await trio.to_thread.run_sync(snapshot)
        later = dataclasses.replace(query, tail=None)  # tail counts from the snapshot only
        while True:
            while True:
                for i in range(0, len(out.datas), BATCH):
                    yield Rendered(out.sids[i:i + BATCH], out.datas[i:i + BATCH], out.ends)
                del out
                if not rest:
                    break
                item = rest.pop(0)
                out = item if isinstance(item, Rendered) else \
                    await trio.to_thread.run_sync(render_item, item, later)
            if not follow:
                return
            changed = self._feed.event(rec.id)
            alive = self._store.by_id(rec.id) is not None and rec.state.status in (
                ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING)
            if query.until_ns is not None and time.time_ns() > query.until_ns:
                alive = False
            if alive:
                with trio.move_on_after(1):
                    async with trio.open_nursery() as n:
                        async def on(ev: trio.Event) -> None:
                            await ev.wait()
                            n.cancel_scope.cancel()
                        n.start_soon(on, event)
                        n.start_soon(on, changed)
            event = self._log_written.setdefault(rec.id, trio.Event())
            out, rest, offset, inode = await trio.to_thread.run_sync(more, offset, inode)
            follow = alive

    async def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool, logs: bool,
                     stream: bool) -> IoSession:
        rec = self._store.get(ref)
        wanted = {STDOUT} if stdout else set()
        if stderr:
            wanted.add(STDERR)
        initial: list[tuple[int, bytes]] = []
        if logs:
            logfile = logfile_of(rec)
            if logfile is not None:
                initial = await trio.to_thread.run_sync(
                    past_output, logfile, LogQuery(stdout=stdout, stderr=stderr))
        send, receive = trio.open_memory_channel[tuple[int, bytes]](256)
        if stream:
            source = self.hub(rec.id).subscribe()

            async def forward() -> None:
                async with send, source:
                    async for chunk in source:
                        if chunk[0] in wanted:
                            try:
                                await send.send(chunk)
                            except (trio.BrokenResourceError, trio.ClosedResourceError):
                                return
            self._tasks.spawn(forward)
        else:
            send.close()
        async def write_stdin(data: bytes) -> None:
            run = await self._started_run(rec)
            await stream_writer(run.stdin if run else None, data)

        async def close_stdin() -> None:
            run = await self._started_run(rec)
            if run is not None and run.stdin is not None and rec.config.stdin_once \
                    and run.pty is None:
                await run.stdin.aclose()

        if stdin and rec.config.open_stdin:
            gone = None
            if rec.config.stdin_once and rec.config.auto_remove:
                # `run --rm -i` (compose `run --rm`): the container goes with its client. A
                # client that vanished (killed, terminal closed) can never stop it; Docker would
                # keep it running forever, and the next `down` would wait for it.
                gone = lambda: self._tasks.spawn(self._stop_quietly, rec.id)  # noqa: E731
            return IoSession(rec.config.tty, receive, initial, write_stdin, close_stdin, gone)
        return IoSession(rec.config.tty, receive, initial)

    async def _started_run(self, rec: ContainerRecord) -> Running | None:
        """The running process that attached stdin feeds. The docker CLI attaches before it
        starts the container and sends piped input (and its EOF) at once: as in Docker, where
        stdin is a pipe made before the start, those bytes wait for the process instead of being
        lost (also `docker start -ai` of an exited container). Gives up (None) at a change that
        is no start: a failed start (recorded), a removal."""
        waiting = (ContainerState.CREATED, ContainerState.EXITED)
        run = self._table.get(rec.id)
        if run is not None or rec.state.status not in waiting:
            return run
        await self._feed.wait(rec.id)
        return self._table.get(rec.id)

    async def _stop_quietly(self, cid: str) -> None:
        try:
            await self._stop(cid)
        except EngineError:
            pass   # gone or stopped already

    def resize(self, ref: str, height: int, width: int) -> None:
        rec = self._store.get(ref)
        run = self._table.get(rec.id)
        if run is None:
            raise Conflict(f"Container {rec.id} is not running")
        if run.pty is not None:
            set_winsize(run.pty.fileno(), height, width)
