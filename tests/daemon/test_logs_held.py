"""Output held in memory by the log writer (logcache) renders exactly like the json-file lines
it wrote, for any mix of writes and queries, and is only used for what the file really holds."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api.streams import encode_batch
from engine.containers import logcache
from engine.containers.logs import LogFile, LogQuery
from engine.containers.output import (cut_lines, last_lines, read_items, render, render_item,
                                      work_items)

T1 = 1767225600_000_000_001

plain = st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                                       blacklist_characters='"\\'), max_size=10),
                 min_size=1, max_size=5).map(lambda ls: ("\n".join(ls) + "\n").encode())
chunks = st.one_of(plain, plain, st.binary(max_size=12), st.sampled_from([b"tab\there\n",
                                                                          b"partial"]))
writes = st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), chunks), max_size=14)
queries = st.builds(LogQuery, stdout=st.booleans(), stderr=st.booleans(),
                    since_ns=st.sampled_from([None, T1 + 3]),
                    until_ns=st.sampled_from([None, T1 + 8]), timestamps=st.booleans())


def wire(rendered) -> bytes:
    return encode_batch(rendered, False)


@pytest.fixture(autouse=True)
def fresh_cache():
    logcache._logs.clear()
    logcache._held = 0
    yield
    logcache._logs.clear()
    logcache._held = 0


@settings(max_examples=150, deadline=None)
@given(writes, queries, st.integers(0, 20))
def test_held_output_renders_like_the_file(tmp_path_factory, items, query, cut):
    logcache._logs.clear()
    logcache._held = 0
    path = tmp_path_factory.mktemp("h") / "c-json.log"
    log = LogFile(path)
    bounds = [0]
    for i, (stream, data) in enumerate(items):
        log.write(stream, data, T1 + i)
        bounds.append(path.stat().st_size if path.exists() else 0)
    log.flush("stdout")
    log.flush("stderr")
    if not path.exists():
        return
    data = path.read_bytes()
    start = bounds[cut % len(bounds)]   # a follower's offset: after some write
    expected = wire(render([data[start:]], query))
    got = b"".join(wire(render_item(item, query))
                   for item in work_items(str(path), data[start:], start, os.stat(path).st_ino))
    assert got == expected


def test_plain_writes_are_held_and_used(tmp_path):
    path = tmp_path / "c-json.log"
    log = LogFile(path)
    log.write("stdout", b"".join(b"%d\n" % i for i in range(1000)), T1)
    log.write("stderr", b"oops\n", T1 + 1)
    data = path.read_bytes()
    items = work_items(str(path), data, 0, os.stat(path).st_ino)
    assert len(items) == 1 and isinstance(items[0], list) and len(items[0]) == 2
    assert wire(render_item(items[0], LogQuery())) == wire(render([data], LogQuery()))


def test_not_held_when_the_file_is_another_or_a_write_was_not_plain(tmp_path):
    path = tmp_path / "c-json.log"
    log = LogFile(path)
    log.write("stdout", b"a\n", T1)
    log.write("stdout", b"tab\there\n", T1 + 1)     # not plain: kept in the file only
    log.write("stdout", b"b\n", T1 + 2)
    data = path.read_bytes()
    inode = os.stat(path).st_ino
    items = work_items(str(path), data, 0, inode)
    assert [type(i).__name__ for i in items] == ["bytes", "list"]   # only "b" is held
    assert work_items(str(path), data, 0, inode + 1) == [data]      # another file
    # lines appended by someone else are read from the file
    foreign = b'{"log":"x\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\n'
    with open(path, "ab") as f:
        f.write(foreign)
    items = work_items(str(path), data + foreign, 0, inode)
    assert [type(i).__name__ for i in items] == ["bytes", "list", "bytes"]
    assert items[-1] == foreign


def test_memory_is_bounded_and_removal_forgets(tmp_path, monkeypatch):
    monkeypatch.setattr(logcache, "BUDGET", 64 * 1024)
    a, b = LogFile(tmp_path / "a-json.log"), LogFile(tmp_path / "b-json.log")
    for i in range(40):
        a.write("stdout", b"x" * 4095 + b"\n", T1 + i)
    assert logcache.held() <= 64 * 1024
    data = (tmp_path / "a-json.log").read_bytes()
    items = work_items(str(tmp_path / "a-json.log"), data, 0,
                       os.stat(tmp_path / "a-json.log").st_ino)
    assert isinstance(items[0], bytes) and isinstance(items[-1], list)  # oldest went first
    got = b"".join(wire(render_item(i, LogQuery())) for i in items)
    assert got == wire(render([data], LogQuery()))
    b.write("stdout", b"y\n", T1)
    a.remove()
    assert str(tmp_path / "a-json.log") not in logcache._logs
    assert logcache.held() == len(b"y\n") + logcache.SEGMENT_COST


@settings(max_examples=100, deadline=None)
@given(writes, queries, st.sampled_from([0, 1, 3, 10, 1000]), st.integers(20, 400))
def test_a_tail_renders_from_the_end_like_the_whole(tmp_path_factory, items, query, tail, piece):
    logcache._logs.clear()
    logcache._held = 0
    path = tmp_path_factory.mktemp("t") / "c-json.log"
    log = LogFile(path)
    for i, (stream, data) in enumerate(items):
        log.write(stream, data, T1 + i)
    log.flush("stdout")
    if not path.exists():
        return
    data = path.read_bytes()
    query = LogQuery(**{**query.__dict__, "tail": tail})
    pieces = [p for item in work_items(str(path), data, 0, os.stat(path).st_ino)
              for p in (cut_lines(item, piece, piece) if isinstance(item, bytes) else [item])]
    got = b"".join(wire(r) for r in last_lines(pieces, query))
    assert got == wire(render([data], query))


def test_read_items_skips_the_file_when_all_of_it_is_held(tmp_path, monkeypatch):
    path = tmp_path / "c-json.log"
    log = LogFile(path)
    log.write("stdout", b"one\ntwo\n", T1)
    size = path.stat().st_size
    log.write("stderr", b"three\n", T1 + 1)
    reader = LogFile(path)
    whole = wire(render([path.read_bytes()], LogQuery()))
    unread = LogFile(path)
    monkeypatch.setattr(unread, "read_raw_from", lambda *a: pytest.fail("file read"))
    items, offset, inode = read_items(unread, 0, None)
    assert offset == path.stat().st_size and inode == os.stat(path).st_ino
    assert b"".join(wire(render_item(i, LogQuery())) for i in items) == whole
    items, _o, _i = read_items(unread, size, inode)             # a follower's next read
    assert wire(render_item(items[0], LogQuery())) == wire(render(
        [path.read_bytes()[size:]], LogQuery()))
    log.write("stdout", b"tab\there\n", T1 + 2)                 # not held: the file is read
    items, offset, _i = read_items(reader, 0, None)
    assert offset == path.stat().st_size
    assert b"".join(wire(render_item(i, LogQuery())) for i in items) == \
        wire(render([path.read_bytes()], LogQuery()))
