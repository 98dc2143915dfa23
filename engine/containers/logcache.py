"""Recent plain output of containers, kept in memory beside their json-file logs.

A plain write (complete lines of printable ASCII without quote or backslash: the JSON of its
lines is the output itself plus fixed keys) is stored here as the container wrote it, with the
file range its JSON lines occupy. Log readers (`logs`, followers of an attached `up`) take the
lines of such a range from here instead of reading back and cutting ~12 times as many bytes of
JSON: the file stays the record, this only saves work. A range is used only when it is exactly
what the writer appended to the same file (inode and offsets), so anything else — rotation, a
write that was not plain, a restart of the daemon, a file changed behind our back — simply
falls back to reading the file.

The writer runs on the event loop, readers in worker threads: one lock guards the table.
Memory is bounded over all logs (`BUDGET`): the oldest segments go first. A removed
container's log is dropped by the container store (`forget`).
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import NamedTuple

BUDGET = 16 * 1024 * 1024     # bytes held over all logs (output plus a per-segment cost)
SEGMENT_COST = 128            # what one segment costs besides its output


class Segment(NamedTuple):
    start: int       # file offset of the JSON of its first line
    end: int         # file offset after the JSON of its last line
    stream: bytes    # b"stdout" | b"stderr"
    time: bytes      # RFC 3339 time of its lines, as written
    raw: bytes       # its lines as the container wrote them, each ending with a newline


@dataclass
class _Log:
    inode: int
    segments: list[Segment] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    held: int = 0


_lock = threading.Lock()
_logs: dict[str, _Log] = {}
_held = 0


def record(path: str, inode: int, segment: Segment) -> None:
    """The writer appended `segment` to the log at `path`; kept if it continues what is held
    (otherwise it starts the log's segments afresh)."""
    global _held
    cost = len(segment.raw) + SEGMENT_COST
    with _lock:
        log = _logs.get(path)
        if log is None or log.inode != inode or not log.segments \
                or log.segments[-1].end != segment.start:
            if log is not None:
                _held -= log.held
            log = _logs[path] = _Log(inode)
        log.segments.append(segment)
        log.starts.append(segment.start)
        log.held += cost
        _held += cost
        if _held > BUDGET:
            _evict(log)


def _evict(current: _Log) -> None:
    """Drop other logs (largest first), then the oldest segments of `current`, down to 3/4 of
    the budget (so that a log written at the limit does not shift its lists on every write)."""
    global _held
    target = BUDGET * 3 // 4
    for path, log in sorted(_logs.items(), key=lambda item: -item[1].held):
        if _held <= target:
            return
        if log is not current:
            _held -= log.held
            del _logs[path]
    drop = 0
    while _held > target and drop < len(current.segments) - 1:
        cost = len(current.segments[drop].raw) + SEGMENT_COST
        current.held -= cost
        _held -= cost
        drop += 1
    del current.segments[:drop]
    del current.starts[:drop]


def segments(path: str, inode: int | None, lo: int, hi: int) -> list[Segment]:
    """The held segments of the log at `path` (file `inode`) that lie inside [lo, hi), in
    order and contiguous; [] if none."""
    with _lock:
        log = _logs.get(path)
        if log is None or inode is None or log.inode != inode:
            return []
        first = bisect.bisect_left(log.starts, lo)
        last = bisect.bisect_left(log.starts, hi)
        found = log.segments[first:last]
    while found and found[-1].end > hi:
        found.pop()
    return found


def forget(path: str) -> None:
    """The log was removed."""
    global _held
    with _lock:
        log = _logs.pop(path, None)
        if log is not None:
            _held -= log.held


def held() -> int:
    with _lock:
        return _held
