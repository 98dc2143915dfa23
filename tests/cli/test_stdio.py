from __future__ import annotations

import io
import os
import socket
import threading

from engine.client.cli import stdio
from engine.client.streams import Hijacked, encode_frame


class _Stdin(io.RawIOBase):
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def test_relay_demuxes_output_and_forwards_stdin_until_eof(capfd, monkeypatch):
    ours, engine_side = socket.socketpair()
    r, w = os.pipe()
    monkeypatch.setattr("sys.stdin", _Stdin(r))
    received = []

    def engine() -> None:
        # echo stdin back framed on stdout until the client half-closes, then say bye on stderr
        while data := engine_side.recv(100):
            received.append(data)
            engine_side.sendall(encode_frame(1, data.upper()))
        engine_side.sendall(encode_frame(2, b"bye\n"))
        engine_side.close()

    thread = threading.Thread(target=engine)
    thread.start()
    # a frame that arrived together with the 101 response head comes first
    hijacked = Hijacked(ours, encode_frame(1, b"early\n")[:5], tty=False)
    ours_pending_rest = encode_frame(1, b"early\n")[5:]
    engine_side.sendall(ours_pending_rest)
    os.write(w, b"hello\n")
    os.close(w)
    stdio.relay(hijacked, stdin=True)
    thread.join(5)
    out, err = capfd.readouterr()
    assert out == "early\nHELLO\n" and err == "bye\n"
    assert b"".join(received) == b"hello\n"
    os.close(r)
    ours.close()


def test_relay_tty_stream_is_raw(capfd):
    ours, engine_side = socket.socketpair()
    engine_side.sendall(b"\x01\x00\x00\x00raw bytes, no frames")
    engine_side.close()
    stdio.relay(Hijacked(ours, b"", tty=True), stdin=False)
    assert capfd.readouterr().out == "\x01\x00\x00\x00raw bytes, no frames"
    ours.close()
