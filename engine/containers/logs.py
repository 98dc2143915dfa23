"""json-file container logs: one `{"log","stream","time"}` object per line, size-based rotation.

The writer splits output into lines (a partial line is kept until its newline, or flushed at
16 KiB and at end of stream, like Docker); the reader applies since/until/tail and renders
with or without timestamps. Reading is done in bulk, never a JSON decode per line for lines of
ours; plain output written here is also held in memory for readers (logcache.py), and
following is done by the manager (output.py) on top of `LogFile.read_raw_from`.
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

from engine.containers import logcache
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
# What that JSON string encoding keeps as it is (printable ASCII but quote and backslash), and
# the newline that ends lines.
_AS_IS_LINES = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\') + b"\n"


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
_SIDS = {b"stdout": 1, b"stderr": 2}


class Records(NamedTuple):
    """Lines as columns: 200k tuples would cost more (allocation and GC passes) than the rest."""
    payloads: list[bytes]
    streams: list[bytes]     # b"stdout" | b"stderr"
    times: list[bytes]


class Rendered(NamedTuple):
    sids: list[int]          # 1 stdout, 2 stderr
    datas: list[bytes]
    ends: bytes = b""        # what each data lacks at its end (b"\n": see `plain_records`)


_LOG_KEY = b'{"log": "'
_STREAM_KEY = b'", "stream": "'
_TIME_KEY = b'", "time": "'
_LINE_END = b'"}\n'
_RUN_WINDOW = 4096      # bytes first searched for a run's last line (doubled while it goes on)
_SHORT_RUNS = 64        # lines per run below which cutting by runs costs more than a regex
_SPLIT_WINDOW = 16384   # bytes split at once (CPython's plain search is used below 30000)


def _run_end(text: bytes, tail: bytes, first_end: int) -> int:
    """Where the run of lines ending in `tail` whose first line ends at `first_end` ends (the
    lines of one write are contiguous), searched in a window that doubles while the run reaches
    its end: a short run costs a short search, a long one about two passes over it."""
    size = len(text)
    window = _RUN_WINDOW
    while True:
        hi = min(size, first_end + window)
        found = text.rfind(tail, first_end, hi)
        last = first_end if found < 0 else found + len(tail)
        if hi == size or text.find(_LINE_END, last, hi) >= 0:
            return last    # the next line ends inside the window and is not of this run
        window *= 2


def _split(text: bytes, start: int, stop: int, sep: bytes) -> list[bytes]:
    """`text[start:stop].split(sep)`, cut into pieces of about `_SPLIT_WINDOW` bytes: CPython
    searches a long separator in a long text with an algorithm whose set-up is paid again for
    every piece found (~0.4 µs a line here), in a short text with a plain scan."""
    out: list[bytes] = []
    while stop - start > _SPLIT_WINDOW:
        cut = text.find(sep, start + _SPLIT_WINDOW, stop)
        if cut < 0:
            break
        out += text[start:cut].split(sep)
        start = cut + len(sep)
    out += text[start:stop].split(sep)
    return out


def _run_records(text: bytes, lines: int, lead: bytes = b"") -> Records | None:
    """The fastest bulk path, for plain text lines of ours (no escapes but each line's final
    newline): the lines of one write share stream and time, so one split by
    `<lead>", "stream": S, "time": T}\\n{"log": "` cuts a whole run into its payloads, with
    nothing done per line in Python. `lead` is b"" when the newline escapes were already turned
    back into newline bytes (payloads keep them), `b"\\\\n"` on the file's bytes as they are
    (payloads come without their final newline). None when a run is not such lines, or the data
    is made of many short runs (a slow writer: a search per run costs more than the regex)."""
    payloads: list[bytes] = []
    streams: list[bytes] = []
    times: list[bytes] = []
    key = lead + _STREAM_KEY
    k = len(key)
    pos, size, runs = 0, len(text), 0
    while pos < size:
        at = text.find(key, pos)
        end = text.find(_LINE_END, at) + 3
        tail = text[at:end]
        stream = tail[k:k + 6]
        if at < 0 or end < 3 or tail[k + 6:k + 18] != _TIME_KEY or stream not in _SIDS:
            return None
        stop = _run_end(text, tail, end)
        run = _split(text, pos + 9, stop - len(tail), tail + _LOG_KEY)
        payloads += run
        streams += [stream] * len(run)
        times += [tail[k + 18:-3]] * len(run)
        pos = stop
        runs += 1
        if runs >= 16 and len(payloads) < _SHORT_RUNS * runs:
            return None
    # A separator holds the only `"}\\n` of a line (payloads hold no quote), so a line of
    # another write inside a run leaves a line end uncut: fewer payloads than lines.
    return Records(payloads, streams, times) if len(payloads) == lines else None


def _plain(data: bytes, lines: int) -> bool:
    """Every line is ours with nothing escaped but its final newline (cheap counts; the run
    and regex cuts then check the layout itself)."""
    return (data.count(b"\\") == lines and data.count(b'"') == _QUOTES_PER_LINE * lines
            and data.startswith(_LOG_KEY) and data.endswith(_LINE_END))


def plain_records(data: bytes) -> Records | None:
    """Complete lines of ours → their columns with payloads *without* their final newline
    (every line has one), or None when `raw_records` must be used: the cheapest read path,
    for `render_records(..., ends=b"\\n")`. Newline bytes only end lines and every line is cut
    at its `\\n", "stream"`, so one backslash per line means nothing else is escaped, and
    twelve quotes per line that no line holds more than ours (a torn one, another writer's)."""
    lines = data.count(b"\n")
    if not (lines and _plain(data, lines)):
        return None
    return _run_records(data, lines, b"\\n")


def raw_records(data: bytes) -> Records | None:
    """(payload, b"stdout" | b"stderr", time) for each complete line, or None when a line is not
    in the shape we write (torn, or another writer's): then `parse_lines` must be used.

    The bulk read path: no JSON decoding and no per-line Python work. Plain text output (whose
    only escapes are the lines' final newlines) is cut by a split per write (`_run_records`) or
    one regex split over the whole buffer; anything else of ours by one regex scan plus an
    unescape per line."""
    if not data:
        return Records([], [], [])
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if _plain(data, lines) and data.count(_NEWLINE_END) == lines:
        # Payloads keep their newline; they hold no quote, so keys only match as keys.
        text = data.replace(_NEWLINE_END, b'\n", "stream": "')
        records = _run_records(text, lines)
        if records is not None:
            return records
        parts = _BETWEEN.split(text[9:])
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
        batch of C-level passes, no Python per line, so the pump (which runs on the event
        loop) keeps up with a fast writer: plain text (printable ASCII but quote and backslash)
        is its JSON string already, so its lines become JSON lines by one `replace`; anything
        else is decoded, split, JSON-escaped and joined."""
        buf = self._partial.setdefault(stream, bytearray())
        buf += data
        end = buf.rfind(b"\n") + 1
        complete = b""
        if end:
            complete = bytes(buf[:end])
            del buf[:end]
        rest: str | None = None
        if len(buf) >= MAX_PARTIAL:
            rest = bytes(buf).decode("utf-8", "replace")
            buf.clear()
        if not complete and rest is None:
            return 0
        now = time.time_ns() if now_ns is None else now_ns
        if complete and self.max_size is None and not complete.translate(None, _AS_IS_LINES):
            stamp = rfc3339_nanos(now)
            tail = f'\\n", "stream": "{stream}", "time": "{stamp}"}}\n'.encode()
            # every newline becomes the end of a line and the start of the next: the last
            # one's start is cut off again by a view (a read's JSON can be 12 MB: no copies)
            joined = complete.replace(b"\n", tail + _LOG_KEY)
            parts = [_LOG_KEY, memoryview(joined)[:-len(_LOG_KEY)]]
            if rest is not None:
                self._write([b"".join(parts), self._encoded(stream, [rest], now)])
            else:
                self._write_plain(parts, stream, stamp, complete)
            return complete.count(b"\n") + (rest is not None)
        pieces: list[str] = []
        if complete:
            pieces = complete.decode("utf-8", "replace").split("\n")
            pieces.pop()  # what followed the last newline: nothing
            pieces = list(map(operator.add, pieces, itertools.repeat("\n")))
        if rest is not None:
            pieces.append(rest)
        self._append_encoded(stream, pieces, now)
        return len(pieces)

    @staticmethod
    def _encoded(stream: str, texts: list[str], now_ns: int) -> bytes:
        tail = f', "stream": "{stream}", "time": "{rfc3339_nanos(now_ns)}"}}\n'
        head = '{"log": '
        return (head + (tail + head).join(map(_encode_str, texts)) + tail).encode()

    def _append_encoded(self, stream: str, texts: list[str], now_ns: int) -> None:
        out = self._encoded(stream, texts, now_ns)
        if self.max_size is not None:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size + len(out) > self.max_size:
                # rotation is decided per line: the rare chunk that crosses the limit
                self._append_lines([self._encoded(stream, [t], now_ns) for t in texts])
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

    def _write_plain(self, parts: list, stream: str, stamp: str, raw: bytes) -> None:
        """Append the JSON lines (`parts`, written as they are) of the plain output `raw`,
        which readers may then take from memory (see logcache) instead of cutting the JSON
        back into lines."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            st = os.fstat(fd)
            size = sum(map(len, parts))
            written = os.writev(fd, parts)
            while written < size:  # a short write: the rest, from where it stopped
                rest = memoryview(b"".join(parts))[written:]
                written += os.write(fd, rest)
        finally:
            os.close(fd)
        logcache.record(str(self.path), st.st_ino, logcache.Segment(
            st.st_size, st.st_size + size, stream.encode(), stamp.encode(), raw))

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
        logcache.forget(str(self.path))
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


@functools.lru_cache(maxsize=4096)
def _time_of(stamp: bytes) -> int:
    return parse_time(stamp.decode())


def render_records(records: Records, query: LogQuery, ends: bytes = b"") -> Rendered:
    """`raw_records` (or `plain_records` with `ends=b"\\n"`) → what `logs` sends; the bulk path
    of `logs` and of following. since/until parse each distinct time once (a read's lines share
    one), the filters are C-level maps."""
    payloads, streams, times = records
    if not (query.stdout or query.stderr):
        return Rendered([], [], ends)
    if not (query.stdout and query.stderr):
        keep = [s == (b"stdout" if query.stdout else b"stderr") for s in streams]
        payloads, streams, times = (list(itertools.compress(col, keep))
                                    for col in (payloads, streams, times))
    for bound, keeps in ((query.since_ns, "__le__"), (query.until_ns, "__ge__")):
        if bound is not None:
            # Decided per distinct time (a write's lines share one); only a bound that falls
            # inside the lines costs a pass over them.
            test = getattr(bound, keeps)
            distinct = dict.fromkeys(times)
            passing = {t for t in distinct if test(_time_of(t))}
            if len(passing) == len(distinct):
                continue
            keep = list(map(passing.__contains__, times))
            payloads, streams, times = (list(itertools.compress(col, keep))
                                        for col in (payloads, streams, times))
    if query.tail is not None:
        n = query.tail
        payloads, streams, times = (col[-n:] if n else [] for col in (payloads, streams, times))
    if query.timestamps:
        payloads = [t + b" " + p for t, p in zip(times, payloads)]
    if streams.count(b"stdout") == len(streams):
        return Rendered([1] * len(streams), payloads, ends)
    return Rendered(list(map(_SIDS.__getitem__, streams)), payloads, ends)


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
