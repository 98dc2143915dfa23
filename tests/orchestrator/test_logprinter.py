from __future__ import annotations

import os
import time

from compose.logprinter import ByteSink, LineSplitter, LogPresenter, LogStyle


def test_prefix_padded_to_longest_name_without_colour():
    p = LogPresenter(["web-1", "worker-1"], LogStyle(colour=False))
    assert p.lines("web-1", [b"hello", b"world"]) == b"web-1     | hello\nweb-1     | world\n"
    assert p.lines("worker-1", [b"x"]) == b"worker-1  | x\n"


def test_colours_are_stable_per_name_and_cycle():
    p = LogPresenter(["a", "b"], LogStyle(colour=True))
    assert p.lines("a", [b"x"]) == b"\x1b[36ma  | \x1b[0mx\n"
    assert p.lines("b", [b"x"]) == b"\x1b[33mb  | \x1b[0mx\n"
    assert p.lines("a", [b"y"]).startswith(b"\x1b[36m")


def test_no_log_prefix():
    p = LogPresenter(["web-1"], LogStyle(colour=True, prefix=False))
    assert p.lines("web-1", [b"a", b"b"]) == b"a\nb\n"


def test_untrusted_text_is_copied_verbatim():
    p = LogPresenter(["w"], LogStyle(colour=False))
    assert p.lines("w", [b"[bold]x[/bold] \xff"]) == b"w  | [bold]x[/bold] \xff\n"


def test_lifecycle_line():
    p = LogPresenter(["web-1"], LogStyle(colour=False))
    assert p.event("web-1", "exited with code 1") == b"web-1 exited with code 1\n"


def test_splitter_keeps_partial_lines_and_strips_crlf():
    s = LineSplitter()
    assert s.feed(b"ab") == []
    assert s.feed(b"c\nde") == [b"abc"]
    assert s.feed(b"f\r\ng\n") == [b"def", b"g"]
    assert s.feed(b"tail") == []
    assert s.flush() == [b"tail"]


def test_widening_rebuilds_prefixes():
    p = LogPresenter(["a"], LogStyle(colour=False))
    assert p.lines("a", [b"x"]) == b"a  | x\n"
    p.add("long-1")
    assert p.lines("a", [b"x"]) == b"a       | x\n"


def test_two_hundred_thousand_lines_well_under_a_second(tmp_path):
    presenter = LogPresenter(["web-1", "worker-1"], LogStyle(colour=True))
    splitter = LineSplitter()
    chunk = b"".join(b"line number %d of the log\n" % i for i in range(1000))
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    sink = ByteSink(out)
    start = time.perf_counter()
    for i in range(200):
        sink.write(presenter.lines("web-1" if i % 2 else "worker-1", splitter.feed(chunk)))
    sink.flush()
    elapsed = time.perf_counter() - start
    os.close(out)
    data = (tmp_path / "out").read_bytes()
    assert data.count(b"\n") == 200_000
    assert elapsed < 0.3


def test_bulk_frame_decoder_handles_split_frames():
    import struct

    from compose.orchestrator.logstream import BulkFrameDecoder

    framed = b"".join(struct.pack(">BxxxL", s, len(p)) + p
                      for s, p in [(1, b"a\n"), (2, b"err\n"), (1, b"")])
    d = BulkFrameDecoder()
    out = b"".join(d.feed(framed[i:i + 3]) for i in range(0, len(framed), 3))
    assert out == b"a\nerr\n"
