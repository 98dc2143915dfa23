"""Docker's 8-byte stream framing."""
from __future__ import annotations

from engine.api.framing import frame, parse_frames


def test_frame_header_layout():
    assert frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame(2, b"x" * 300)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x2c"


def test_parse_keeps_incomplete_rest():
    data = frame(1, b"out") + frame(2, b"err") + frame(1, b"partial")[:6]
    frames, rest = parse_frames(data)
    assert frames == [(1, b"out"), (2, b"err")]
    assert rest == frame(1, b"partial")[:6]
    frames, rest = parse_frames(rest + frame(1, b"partial")[6:])
    assert frames == [(1, b"partial")] and rest == b""
