"""The bulk log read path (`raw_records` + `render_records`) gives exactly what the general
path (JSON decode per line + `select` + `render`) gives, for any output and query."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.containers.logs import (LogEntry, LogQuery, parse_lines, raw_records,
                                    render_records, select)

SIDS = {"stdout": 1, "stderr": 2}

payloads = st.one_of(
    st.sampled_from([b"1\n", b"plain line\n", b'quote " and \\ backslash\n', b"no newline",
                     b'\\n", "stream": "stderr", "time": "x"}\n', "h\u00e9llo \u2603\n".encode(),
                     b"tab\tand\x01ctl\n", b"\n", b"x" * 300 + b"\n"]),
    st.text(max_size=20).map(lambda t: (t + "\n").encode()))
entries = st.lists(st.builds(LogEntry, st.sampled_from(["stdout", "stderr"]), payloads,
                             st.sampled_from(["2026-01-01T00:00:00.000000001Z",
                                              "2026-01-01T00:00:01.5Z"])), max_size=30)
queries = st.builds(LogQuery, stdout=st.booleans(), stderr=st.booleans(),
                    tail=st.one_of(st.none(), st.integers(0, 40)), timestamps=st.booleans())


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


def test_since_until_need_parsed_times():
    ours = LogEntry("stdout", b"a\n", "2026-01-01T00:00:00Z").to_line()
    assert render_records(raw_records(ours), LogQuery(since_ns=1)) is None


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
