"""json-file container logs: one `{"log","stream","time"}` object per line, size-based rotation.

The writer splits output into lines (a partial line is kept until its newline, or flushed at
16 KiB and at end of stream, like Docker); the reader applies since/until/tail and renders
with or without timestamps. Following is done by the manager on top of `LogFile.read_from`.
"""
from __future__ import annotations

import datetime as _dt
import functools
import itertools
import json
import operator
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from engine.errors import BadParameter

MAX_PARTIAL = 16 * 1024


def rfc3339_nanos(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(secs, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def parse_time(text: str) -> int:
    """RFC 3339 (with up to nanosecond digits) → ns since the epoch."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    main, frac, rest = t, "", ""
    if "." in t:
        main, _, tail = t.partition(".")
        i = 0
        while i < len(tail) and tail[i].isdigit():
            i += 1
        frac, rest = tail[:i], tail[i:]
        main += rest
    dt = _dt.datetime.fromisoformat(main)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def parse_since(value: str | None, name: str) -> int | None:
    """Docker's since/until: unix seconds ("1700000000", "1700000000.5") or RFC 3339; 0 = unset."""
    if value is None or value in ("", "0"):
        return None
    try:
        return int(round(float(value) * 1e9)) if _is_number(value) else parse_time(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}: {value!r}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


# The exact shape `LogEntry.to_line` writes; matched over a whole buffer in one C pass.
_OUR_LINE = re.compile(rb'^\{"log": "((?:[^"\\]|\\.)*)", "stream": "(stdout|stderr)", '
                       rb'"time": "([^"\\]*)"\}$', re.M)
_NEWLINE_END = b'\\n", "stream": "'


def _unescape(esc: bytes) -> bytes:
    if b"\\" not in esc:
        return esc
    if esc.endswith(b"\\n") and b"\\" not in esc[:-2]:  # the usual line: only its newline
        return esc[:-2] + b"\n"
    return json.loads(b'"' + esc + b'"').encode("utf-8")


# What separates one plain line's payload from the next (its stream and time captured).
_BETWEEN = re.compile(rb'", "stream": "(stdout|stderr)", "time": "([^"\\]*)"\}\n(?:\{"log": ")?')
_QUOTES_PER_LINE = 12  # {"log": "…", "stream": "…", "time": "…"} with nothing escaped


class Records(NamedTuple):
    """Lines as columns: 200k tuples would cost more (allocation and GC passes) than the rest."""
    payloads: list[bytes]
    streams: list[bytes]     # b"stdout" | b"stderr"
    times: list[bytes]


class Rendered(NamedTuple):
    sids: list[int]          # 1 stdout, 2 stderr
    datas: list[bytes]


def raw_records(data: bytes) -> Records | None:
    """(payload, b"stdout" | b"stderr", time) for each complete line, or None when a line is not
    in the shape we write (torn, or another writer's): then `parse_lines` must be used.

    The bulk read path: no JSON decoding and no per-line Python work. Plain text output (whose
    only escapes are the lines' final newlines) is cut by one regex split over the whole buffer;
    anything else of ours by one regex scan plus an unescape per line."""
    if not data:
        return Records([], [], [])
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if (data.count(b"\\") == lines == data.count(_NEWLINE_END)
            and data.count(b'"') == _QUOTES_PER_LINE * lines
            and data.startswith(b'{"log": "') and data.endswith(b'"}\n')):
        parts = _BETWEEN.split(data[9:].replace(_NEWLINE_END, b'\n", "stream": "'))
        if len(parts) == 3 * lines + 1 and not parts[-1]:
            return Records(parts[0:-1:3], parts[1::3], parts[2::3])
    found = _OUR_LINE.findall(data)
    if len(found) != lines:
        return None
    return Records([_unescape(esc) for esc, _s, _t in found], [s for _e, s, _t in found],
                   [t for _e, _s, t in found])


def join_records(parts: list[Records]) -> Records:
    if len(parts) == 1:
        return parts[0]
    return Records([p for r in parts for p in r.payloads], [s for r in parts for s in r.streams],
                   [t for r in parts for t in r.times])


def parse_lines(data: bytes) -> list[LogEntry]:
    """Complete json-file lines → entries, decoded in one call (one C pass instead of one per
    line); a torn line (crash mid-write) makes us fall back to line by line, skipping it."""
    lines = data.splitlines()
    if not lines:
        return []
    try:
        objs = json.loads(b"[" + b",".join(lines) + b"]")
        return [LogEntry(o["stream"], o["log"].encode("utf-8"), o["time"]) for o in objs]
    except (ValueError, KeyError, TypeError, AttributeError):
        return [e for e in (LogEntry.from_line(line) for line in lines) if e is not None]


@functools.lru_cache(maxsize=4096)
def _cached_time(text: str) -> int:
    return parse_time(text)


class LogEntry(NamedTuple):  # a tuple: cheap to build 200k of
    stream: str      # "stdout" | "stderr"
    data: bytes
    time: str        # RFC 3339 with nanoseconds, as stored; parsed only when a query needs it

    @property
    def time_ns(self) -> int:
        return _cached_time(self.time)

    def to_line(self) -> bytes:
        # same bytes as json.dumps of the dict, without building one per line
        return (f'{{"log": {_encode_str(self.data.decode("utf-8", "replace"))}, '
                f'"stream": "{self.stream}", "time": "{self.time}"}}\n').encode()

    @classmethod
    def from_line(cls, line: bytes) -> LogEntry | None:
        try:
            obj = json.loads(line)
            return cls(obj["stream"], obj["log"].encode("utf-8"), obj["time"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a torn last line after a crash


class LogFile:
    """The json-file log of one container: `<id>-json.log`, rotated to `.1`, `.2`, … (oldest last)."""

    def __init__(self, path: Path, max_size: int | None = None, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._partial: dict[str, bytearray] = {}

    # writing --------------------------------------------------------------------------------
    def write(self, stream: str, data: bytes, now_ns: int | None = None) -> int:
        """Append output; returns how many entries (lines) were written.

        One read's lines share one time (Docker stamps per read too) and are encoded in one
        batch of C-level passes (decode, split, JSON string escape, join): no Python per line,
        so the pump keeps up with a fast writer."""
        buf = self._partial.setdefault(stream, bytearray())
        buf += data
        end = buf.rfind(b"\n") + 1
        pieces: list[str] = []
        if end:
            pieces = bytes(buf[:end]).decode("utf-8", "replace").split("\n")
            pieces.pop()  # what followed the last newline: nothing
            pieces = list(map(operator.add, pieces, itertools.repeat("\n")))
            del buf[:end]
        if len(buf) >= MAX_PARTIAL:
            pieces.append(bytes(buf).decode("utf-8", "replace"))
            buf.clear()
        if pieces:
            self._append_encoded(stream, pieces, time.time_ns() if now_ns is None else now_ns)
        return len(pieces)

    def _append_encoded(self, stream: str, texts: list[str], now_ns: int) -> None:
        tail = f', "stream": "{stream}", "time": "{rfc3339_nanos(now_ns)}"}}\n'
        head = '{"log": '
        encoded = list(map(_encode_str, texts))
        out = (head + (tail + head).join(encoded) + tail).encode()
        if self.max_size is not None:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size + len(out) > self.max_size:
                # rotation is decided per line: the rare chunk that crosses the limit
                self._append_lines([(head + e + tail).encode() for e in encoded])
                return
        self._write([out])

    def flush(self, stream: str) -> list[LogEntry]:
        buf = self._partial.pop(stream, None)
        if not buf:
            return []
        entries = [LogEntry(stream, bytes(buf), rfc3339_nanos(time.time_ns()))]
        self._append(entries)
        return entries

    def _append(self, entries: list[LogEntry]) -> None:
        if entries:
            self._append_lines([e.to_line() for e in entries])

    def _append_lines(self, lines: list[bytes]) -> None:
        if self.max_size is None:
            self._write(lines)
            return
        # Rotation is decided per line, like Docker's json-file: no file grows past max-size
        # (unless one line alone is bigger).
        size = self.path.stat().st_size if self.path.exists() else 0
        pending: list[bytes] = []
        pending_size = 0
        for line in lines:
            if size + pending_size + len(line) > self.max_size and size + pending_size > 0:
                self._write(pending)
                self._rotate()
                size, pending, pending_size = 0, [], 0
            pending.append(line)
            pending_size += len(line)
        self._write(pending)

    def _write(self, lines: list[bytes]) -> None:
        if lines:
            with open(self.path, "ab") as f:
                f.write(b"".join(lines))

    def _rotate(self) -> None:
        if self.max_file <= 1:
            self.path.unlink(missing_ok=True)  # docker with max-file 1 truncates
            return
        for i in range(self.max_file - 1, 0, -1):
            src = self._rotated(i - 1)
            if src.exists():
                os.replace(src, self._rotated(i))

    def _rotated(self, i: int) -> Path:
        return self.path if i == 0 else self.path.with_name(f"{self.path.name}.{i}")

    def files(self) -> list[Path]:
        """Oldest first."""
        return [p for p in (self._rotated(i) for i in range(self.max_file - 1, -1, -1))
                if p.exists()]

    def remove(self) -> None:
        for p in self.files():
            p.unlink(missing_ok=True)

    # reading --------------------------------------------------------------------------------
    def entries(self) -> Iterator[LogEntry]:
        for path in self.files():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            yield from parse_lines(data)

    def read_from(self, offset: int, inode: int | None) -> tuple[list[LogEntry], int, int | None]:
        """Complete lines of the current file after `offset` (restart at 0 if it was rotated)."""
        data, offset, inode = self.read_raw_from(offset, inode)
        return parse_lines(data), offset, inode

    def read_raw_from(self, offset: int, inode: int | None) -> tuple[bytes, int, int | None]:
        """Like `read_from`, but the undecoded complete lines (one read of the whole rest)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if inode is not None and (st.st_ino != inode or st.st_size < offset):
                    offset = 0
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return b"", 0, None
        end = data.rfind(b"\n") + 1
        return data[:end], offset + end, st.st_ino

    def read_rotated(self) -> list[bytes]:
        """The rotated files' contents, oldest first (not the current file)."""
        out = []
        for path in self.files():
            if path == self.path:
                continue
            try:
                out.append(path.read_bytes())
            except FileNotFoundError:
                continue
        return out

    def size_and_inode(self) -> tuple[int, int | None]:
        try:
            st = self.path.stat()
            return st.st_size, st.st_ino
        except FileNotFoundError:
            return 0, None


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    since_ns: int | None = None
    until_ns: int | None = None
    tail: int | None = None    # None = all
    timestamps: bool = False

    def wants(self, entry: LogEntry) -> bool:
        if entry.stream == "stdout" and not self.stdout:
            return False
        if entry.stream == "stderr" and not self.stderr:
            return False
        if self.since_ns is None and self.until_ns is None:
            return True
        if self.since_ns is not None and entry.time_ns < self.since_ns:
            return False
        if self.until_ns is not None and entry.time_ns > self.until_ns:
            return False
        return True

    def render(self, entry: LogEntry) -> bytes:
        if self.timestamps:
            return entry.time.encode() + b" " + entry.data
        return entry.data


_SIDS = {b"stdout": 1, b"stderr": 2}


@functools.lru_cache(maxsize=4096)
def _time_of(stamp: bytes) -> int:
    return parse_time(stamp.decode())


def render_records(records: Records, query: LogQuery) -> Rendered:
    """`raw_records` → what `logs` sends; the bulk path of `logs` and of following. since/until
    parse each distinct time once (a read's lines share one), the filters are C-level maps."""
    payloads, streams, times = records
    if not (query.stdout or query.stderr):
        return Rendered([], [])
    if not (query.stdout and query.stderr):
        keep = [s == (b"stdout" if query.stdout else b"stderr") for s in streams]
        payloads, streams, times = (list(itertools.compress(col, keep))
                                    for col in (payloads, streams, times))
    for bound, keeps in ((query.since_ns, "__le__"), (query.until_ns, "__ge__")):
        if bound is not None:
            keep = list(map(getattr(bound, keeps), map(_time_of, times)))
            payloads, streams, times = (list(itertools.compress(col, keep))
                                        for col in (payloads, streams, times))
    if query.tail is not None:
        n = query.tail
        payloads, streams, times = (col[-n:] if n else [] for col in (payloads, streams, times))
    if query.timestamps:
        payloads = [t + b" " + p for t, p in zip(times, payloads)]
    return Rendered(list(map(_SIDS.__getitem__, streams)), payloads)


def parse_tail(value: str | None) -> int | None:
    if value is None or value in ("", "all"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise BadParameter(f"invalid value for tail: {value!r}") from None
    return None if n < 0 else n


def select(entries: Iterator[LogEntry], query: LogQuery) -> list[LogEntry]:
    wanted = [e for e in entries if query.wants(e)]
    if query.tail is not None:
        wanted = wanted[-query.tail:] if query.tail else []
    return wanted
