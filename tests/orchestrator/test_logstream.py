"""The client's bulk frame decoding: whatever the frames and however the bytes arrive, the
lines are those of the concatenated payloads (the frame-by-frame reference)."""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from compose.orchestrator.logstream import FrameLines, _one_line_frames

HEADER = struct.Struct(">BxxxL")


def frame(sid: int, data: bytes) -> bytes:
    return HEADER.pack(sid, len(data)) + data


def reference(payloads: list[bytes]) -> list[bytes]:
    lines = b"".join(payloads).split(b"\n")
    rest = lines.pop()
    lines = [x[:-1] if x.endswith(b"\r") else x for x in lines]
    return lines + ([rest] if rest else [])


def decode(wire: bytes, cuts: list[int]) -> list[bytes]:
    d, out, pos = FrameLines(), [], 0
    for cut in sorted(c % (len(wire) + 1) for c in cuts) + [len(wire)]:
        out += d.feed(wire[pos:cut])
        pos = max(pos, cut)
    return out + d.flush()


payloads = st.one_of(
    st.sampled_from([b"1\n", b"123456789\n", b"x" * 2569 + b"\n", b"y" * 5000 + b"\n", b"\n",
                     b"crlf\r\n", b"no newline", b"two\nlines\n",
                     b"\x01\x00\x00\x00\x00\x00\x00\x05", b"a\n\x02\x00\x00\x00\x00\x00\x00\x02b\n"]),
    st.binary(max_size=30), st.text(max_size=12).map(lambda t: (t + "\n").encode()))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2]), payloads), max_size=40),
       st.lists(st.integers(0, 10_000), max_size=6))
def test_lines_equal_the_frame_by_frame_reference(frames, cuts):
    wire = b"".join(frame(s, p) for s, p in frames)
    assert decode(wire, cuts) == reference([p for _s, p in frames])


def test_one_line_frames_take_the_bulk_path_and_others_do_not():
    lines = [b"%d" % i for i in range(1000)] + [b"", b"err"]
    wire = b"".join(frame(2 if x == b"err" else 1, x + b"\n") for x in lines)
    assert _one_line_frames(wire) == lines
    # a frame of two lines, a line over two frames, a foreign stream id: not one-line frames
    assert _one_line_frames(frame(1, b"a\nb\n")) is None
    assert _one_line_frames(frame(1, b"a") + frame(1, b"b\n")) is None
    assert _one_line_frames(frame(3, b"a\n")) is None
    # size 10 puts a newline byte into the header: decoded right, frame by frame
    assert decode(frame(1, b"123456789\n") + frame(1, b"x\n"), []) == [b"123456789", b"x"]


def test_a_chunk_cut_inside_a_header_or_a_line_resumes():
    wire = b"".join(frame(1, b"line %d\n" % i) for i in range(100))
    expected = [b"line %d" % i for i in range(100)]
    for cut in (1, 7, 8, 9, 15, 16, len(wire) - 1):
        assert decode(wire, [cut]) == expected
