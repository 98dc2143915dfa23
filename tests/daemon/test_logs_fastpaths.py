"""The fast log paths give the bytes of the general ones: the plain-text writer, the cut of a
log by writes (`plain_records`), the framing of lines that lack their newline, and the cut of
a long read into pieces."""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api.streams import encode_batch
from engine.containers.logs import (LogEntry, LogFile, LogQuery, Rendered, parse_lines,
                                    plain_records, raw_records, render_records, rfc3339_nanos)
from engine.containers.output import cut_lines, render

T1 = 1767225600_000_000_001
HEADER = struct.Struct(">BxxxL")

plain_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                                   blacklist_characters='"\\'), max_size=12)
any_text = st.text(max_size=8)


def writes(text):
    return st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]),
                              st.lists(text, min_size=1, max_size=6).map(
                                  lambda ls: ("\n".join(ls) + "\n").encode())),
                    min_size=1, max_size=12)   # fewer than 16 writes: never "short runs"


def reference(items: list[tuple[str, bytes]]) -> bytes:
    """The line-by-line format: one `to_line` per line, one time per write."""
    return b"".join(LogEntry(stream, line + b"\n", rfc3339_nanos(T1 + i)).to_line()
                    for i, (stream, data) in enumerate(items)
                    for line in data.split(b"\n")[:-1])


def write_and_cut(path, items):
    log = LogFile(path)
    for i, (stream, data) in enumerate(items):
        log.write(stream, data, T1 + i)
    data = path.read_bytes()
    assert data == reference(items)
    general = raw_records(data)
    assert general is not None
    plain = plain_records(data)
    if plain is not None:
        assert [p + b"\n" for p in plain.payloads] == general.payloads
        assert plain.streams == general.streams and plain.times == general.times
    return plain


@settings(max_examples=100, deadline=None)
@given(writes(plain_text))
def test_plain_writes_and_their_cut_by_runs_match_the_general_paths(tmp_path_factory, items):
    assert write_and_cut(tmp_path_factory.mktemp("w") / "c-json.log", items) is not None


@settings(max_examples=100, deadline=None)
@given(writes(any_text))
def test_any_writes_match_the_general_paths(tmp_path_factory, items):
    write_and_cut(tmp_path_factory.mktemp("w") / "c-json.log", items)


def test_a_long_plain_write_takes_one_replace_and_reads_back(tmp_path):
    log = LogFile(tmp_path / "c-json.log")
    data = b"".join(b"%d\n" % i for i in range(20_000))
    assert log.write("stdout", data[:-3], T1) == 19_999   # the cut last line waits
    assert log.write("stdout", data[-3:], T1 + 1) == 1
    records = plain_records((tmp_path / "c-json.log").read_bytes())
    assert records.payloads == [b"%d" % i for i in range(20_000)]
    assert set(records.times) == {rfc3339_nanos(T1).encode(), rfc3339_nanos(T1 + 1).encode()}


def test_lines_that_are_not_plain_or_not_ours_leave_the_run_cut():
    def line(stream: str, data: bytes, i: int) -> bytes:
        return LogEntry(stream, data, rfc3339_nanos(T1 + i)).to_line()
    ours = line("stdout", b"a\n", 0) + line("stdout", b"b\n", 0)
    assert plain_records(ours).payloads == [b"a", b"b"]
    assert plain_records(ours + line("stdout", b"tab\there\n", 1)) is None
    assert plain_records(ours + line("stderr", b"no newline", 1)) is None
    assert plain_records(ours + b'{"log":"x\\n","stream":"stdout","time":"t"}\n') is None
    # a line torn by a crash, then the next run's first line: left to the general path
    torn = ours + b'{"log": "ab' + line("stdout", b"c\n", 1)
    assert plain_records(torn) is None
    assert [e.data for e in parse_lines(torn)] == [b"a\n", b"b\n"]
    extra = ours + b'{"x": 1, "log": "c\\n", "stream": "stdout", "time": "t"}\n'
    assert plain_records(extra) is None
    # a line of another write inside a run (times out of order): not cut as one run
    mixed = line("stdout", b"a\n", 0) + line("stdout", b"b\n", 1) + line("stdout", b"c\n", 0)
    got = plain_records(mixed)
    assert got is None or got.payloads == [b"a", b"b", b"c"]
    # many short runs (a slow writer): the regex path is cheaper
    slow = b"".join(line("stdout", b"%d\n" % i, i) for i in range(2000))
    assert plain_records(slow) is None
    assert raw_records(slow).payloads == [b"%d\n" % i for i in range(2000)]


def frames(sids: list[int], datas: list[bytes]) -> bytes:
    return b"".join(HEADER.pack(s, len(d)) + d for s, d in zip(sids, datas))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=12)), max_size=30),
       st.sampled_from([b"", b"\n"]), st.booleans())
def test_encoded_batches_are_one_frame_per_line(lines, ends, one_stream):
    sids = [1 if one_stream else s for s, _d in lines]
    datas = [d for _s, d in lines]
    full = [d + ends for d in datas]
    assert encode_batch(Rendered(sids, datas, ends), False) == frames(sids, full)
    assert encode_batch(Rendered(sids, datas, ends), True) == b"".join(full)


def test_a_line_longer_than_the_header_table_is_framed_too():
    datas = [b"x" * 5000, b"y"]
    assert encode_batch(Rendered([1, 1], datas, b"\n"), False) == \
        frames([1, 1], [d + b"\n" for d in datas])


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"),
                max_size=60), st.integers(1, 64), st.integers(1, 64))
def test_pieces_are_whole_lines_in_order(lines, first, size):
    data = b"".join(lines)
    pieces = cut_lines(data, first, size)
    assert b"".join(pieces) == data
    assert all(p.endswith(b"\n") for p in pieces)


def test_render_of_pieces_equals_render_of_the_whole():
    entries = [LogEntry("stderr" if i % 7 == 0 else "stdout", b"line %d\n" % i,
                        rfc3339_nanos(T1 + i // 100)) for i in range(3000)]
    data = b"".join(e.to_line() for e in entries)
    for query in (LogQuery(), LogQuery(timestamps=True), LogQuery(stdout=False),
                  LogQuery(since_ns=T1 + 10)):
        whole = encode_batch(render([data], query), False)
        pieces = b"".join(encode_batch(render([p], query), False)
                          for p in cut_lines(data, 1000, 5000))
        assert pieces == whole
        expected = render_records(raw_records(data), query)
        assert whole == frames(expected.sids, expected.datas)
