"""json-file writer (lines, partial lines, rotation) and reader (tail, since/until, timestamps)."""
from __future__ import annotations

import json

import pytest

from engine.containers.logs import (LogFile, LogQuery, parse_since, parse_tail, parse_time,
                                    rfc3339_nanos, select)
from engine.errors import BadParameter

T0 = 1_700_000_000_000_000_000


def test_lines_are_json_with_rfc3339_nanos(tmp_path):
    log = LogFile(tmp_path / "c-json.log")
    log.write("stdout", b"hello\nwor", T0)
    log.write("stdout", b"ld\n", T0 + 5)
    log.write("stderr", b"oops\n", T0 + 7)
    lines = [json.loads(x) for x in (tmp_path / "c-json.log").read_text().splitlines()]
    assert lines[0] == {"log": "hello\n", "stream": "stdout", "time": "2023-11-14T22:13:20.000000000Z"}
    assert [x["log"] for x in lines] == ["hello\n", "world\n", "oops\n"]
    assert lines[2]["stream"] == "stderr"
    assert parse_time(lines[1]["time"]) == T0 + 5


def test_partial_line_is_flushed_at_end(tmp_path):
    log = LogFile(tmp_path / "c-json.log")
    log.write("stdout", b"no newline", T0)
    assert list(log.entries()) == []
    log.flush("stdout")
    assert [e.data for e in log.entries()] == [b"no newline"]


def test_rotation_keeps_max_file_files(tmp_path):
    log = LogFile(tmp_path / "c-json.log", max_size=300, max_file=3)
    for i in range(40):
        log.write("stdout", f"line {i:03d}\n".encode(), T0 + i)
    files = log.files()
    assert len(files) == 3
    assert all(p.stat().st_size <= 300 for p in files)
    data = [e.data for e in log.entries()]
    assert data[-1] == b"line 039\n"
    assert data == sorted(data)  # oldest first, contiguous
    assert b"line 000\n" not in data


def test_query_tail_since_until_and_streams(tmp_path):
    log = LogFile(tmp_path / "c-json.log")
    for i in range(10):
        log.write("stdout" if i % 2 == 0 else "stderr", f"{i}\n".encode(), T0 + i * 1_000_000_000)
    entries = list(log.entries())
    assert [e.data for e in select(iter(entries), LogQuery(tail=3))] == [b"7\n", b"8\n", b"9\n"]
    assert select(iter(entries), LogQuery(tail=0)) == []
    only_out = select(iter(entries), LogQuery(stderr=False))
    assert [e.data for e in only_out] == [b"0\n", b"2\n", b"4\n", b"6\n", b"8\n"]
    since = parse_since(str(T0 // 10**9 + 5), "since")
    until = parse_since(rfc3339_nanos(T0 + 7 * 10**9), "until")
    window = select(iter(entries), LogQuery(since_ns=since, until_ns=until))
    assert [e.data for e in window] == [b"5\n", b"6\n", b"7\n"]
    q = LogQuery(timestamps=True)
    assert q.render(entries[0]) == b"2023-11-14T22:13:20.000000000Z 0\n"


def test_read_from_offset_follows_and_survives_rotation(tmp_path):
    log = LogFile(tmp_path / "c-json.log", max_size=200, max_file=2)
    log.write("stdout", b"a\n", T0)
    first, offset, inode = log.read_from(0, None)
    assert [e.data for e in first] == [b"a\n"]
    log.write("stdout", b"b\n", T0)
    new, offset, inode = log.read_from(offset, inode)
    assert [e.data for e in new] == [b"b\n"]
    for i in range(10):  # forces a rotation: the reader restarts at the new file's start
        log.write("stdout", f"x{i}\n".encode(), T0)
    new, offset, inode = log.read_from(offset, inode)
    assert new and new[-1].data == b"x9\n"


def test_tail_and_since_parsing():
    assert parse_tail("all") is None and parse_tail("5") == 5 and parse_tail("-1") is None
    with pytest.raises(BadParameter):
        parse_tail("many")
    assert parse_since("0", "since") is None
    assert parse_since("1700000000.5", "since") == 1_700_000_000_500_000_000
    with pytest.raises(BadParameter):
        parse_since("yesterday", "since")
