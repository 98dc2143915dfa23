from __future__ import annotations

import io
import os
import pty
import signal
import socket
import termios
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


def test_raw_terminal_is_raw_inside_and_restored_after():
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        with stdio.raw_terminal(slave, True):
            assert not termios.tcgetattr(slave)[3] & termios.ICANON
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_raw_terminal_leaves_a_pipe_alone_and_survives_a_hung_up_terminal():
    r, w = os.pipe()
    with stdio.raw_terminal(r, True):   # not a terminal: nothing to set, nothing raised
        pass
    os.close(r)
    os.close(w)
    master, slave = pty.openpty()
    try:
        with stdio.raw_terminal(slave, True):
            os.close(master)   # the window closed: restoring its mode now fails with EIO
            master = -1
    finally:
        if master >= 0:
            os.close(master)
        os.close(slave)


def test_follow_window_size_sends_now_and_on_sigwinch_then_lets_go(monkeypatch):
    size = [(24, 80)]
    monkeypatch.setattr(stdio, "terminal_size", lambda: size[0])
    sent = []
    previous = signal.getsignal(signal.SIGWINCH)
    with stdio.follow_window_size(lambda h, w: sent.append((h, w)), True):
        assert sent == [(24, 80)]
        size[0] = (50, 132)
        os.kill(os.getpid(), signal.SIGWINCH)
        assert sent[1:] == [(50, 132)]
    assert signal.getsignal(signal.SIGWINCH) == previous
    with stdio.follow_window_size(sent.append, False):
        pass
    assert len(sent) == 2
