"""The bulk log read path (`raw_records` + `render_records`) gives exactly what the general
path (JSON decode per line + `select` + `render`) gives, for any output and query."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.containers.logs import (MAX_PARTIAL, LogEntry, LogFile, LogQuery, parse_lines,
                                    raw_records, render_records, rfc3339_nanos, select)

SIDS = {"stdout": 1, "stderr": 2}

payloads = st.one_of(
    st.sampled_from([b"1\n", b"plain line\n", b'quote " and \\ backslash\n', b"no newline",
                     b'\\n", "stream": "stderr", "time": "x"}\n', "h\u00e9llo \u2603\n".encode(),
                     b"tab\tand\x01ctl\n", b"\n", b"x" * 300 + b"\n"]),
    st.text(max_size=20).map(lambda t: (t + "\n").encode()))
entries = st.lists(st.builds(LogEntry, st.sampled_from(["stdout", "stderr"]), payloads,
                             st.sampled_from(["2026-01-01T00:00:00.000000001Z",
                                              "2026-01-01T00:00:01.5Z"])), max_size=30)
T1 = 1767225600_000_000_001  # 2026-01-01T00:00:00.000000001Z
bounds = st.one_of(st.none(), st.sampled_from([T1 - 1, T1, T1 + 1, T1 + 1_500_000_000,
                                               T1 + 2_000_000_000]))
queries = st.builds(LogQuery, stdout=st.booleans(), stderr=st.booleans(), since_ns=bounds,
                    until_ns=bounds, tail=st.one_of(st.none(), st.integers(0, 40)),
                    timestamps=st.booleans())


@settings(max_examples=300, deadline=None)
@given(entries, queries)
def test_bulk_path_equals_general_path(items, query):
    data = b"".join(e.to_line() for e in items)
    records = raw_records(data)
    assert records is not None  # everything we write is taken by the bulk path
    rendered = render_records(records, query)
    expected = select(iter(parse_lines(data)), query)
    assert list(rendered.sids) == [SIDS[e.stream] for e in expected]
    assert list(rendered.datas) == [query.render(e) for e in expected]


def test_foreign_or_torn_lines_are_left_to_the_general_path():
    ours = LogEntry("stdout", b"a\n", "2026-01-01T00:00:00Z").to_line()
    assert raw_records(ours + b'{"log":"x\\n","stream":"stdout","time":"t"}\n') is None
    assert raw_records(ours + b'{"log": "torn') is None
    assert raw_records(b"") == ([], [], [])


def reference_write(partial: dict[str, bytes], stream: str, data: bytes, now: str) -> bytes:
    """What the writer did line by line before it wrote in bulk: the format to keep."""
    buf = partial.get(stream, b"") + data
    *lines, rest = buf.split(b"\n")
    entries = [LogEntry(stream, line + b"\n", now) for line in lines]
    if len(rest) >= MAX_PARTIAL:
        entries.append(LogEntry(stream, rest, now))
        rest = b""
    partial[stream] = rest
    return b"".join(e.to_line() for e in entries)


chunks = st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.one_of(
    st.binary(max_size=40), st.text(max_size=30).map(str.encode),
    st.sampled_from([b"\n\n", b'"\\n\r\t', b"\xe2\x98", b"\x83\n", b"x" * (MAX_PARTIAL + 3),
                     b"y" * 10 + b"\n" + b"z" * MAX_PARTIAL]))), max_size=12)


@settings(max_examples=300, deadline=None)
@given(chunks)
def test_bulk_write_is_the_line_by_line_format(tmp_path_factory, items):
    """One C-level batch per chunk writes exactly the bytes of one `to_line` per line
    (partial lines, the 16 KiB partial flush, invalid UTF-8, escapes), and reads back."""
    path = tmp_path_factory.mktemp("w") / "c-json.log"
    log, partial, expected = LogFile(path), {}, b""
    for i, (stream, data) in enumerate(items):
        ns = T1 + i
        log.write(stream, data, ns)
        expected += reference_write(partial, stream, data, rfc3339_nanos(ns))
    assert (path.read_bytes() if path.exists() else b"") == expected
    assert raw_records(expected) is not None


def test_since_until_filter_on_parsed_times():
    lines = b"".join(LogEntry("stdout", b"%d\n" % i, f"2026-01-01T00:00:0{i}Z").to_line()
                     for i in range(4))
    got = render_records(raw_records(lines), LogQuery(since_ns=1767225601_000_000_000,
                                                      until_ns=1767225602_000_000_000))
    assert got.datas == [b"1\n", b"2\n"]


def test_framed_batches_are_docker_frames_or_raw_for_tty():
    import trio

    from engine.api.framing import frame
    from engine.api.streams import framed
    from engine.containers.logs import Rendered

    async def batches():
        yield Rendered([1, 2, 1], [b"a\n", b"bb\n", b""])
        yield Rendered([], [])

    async def collect(tty: bool) -> list[bytes]:
        return [c async for c in framed(batches(), tty)]

    assert trio.run(collect, False) == [frame(1, b"a\n") + frame(2, b"bb\n") + frame(1, b""), b""]
    assert trio.run(collect, True) == [b"a\nbb\n", b""]
