"""`attach?logs=1` sends the past output (read by the bulk log paths) before the live stream,
framed per line like `logs`."""
from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.integration


def test_attach_with_logs_sends_the_past_output_as_logs_does(client, daemon):
    cmd = ["sh", "-c", "seq 3000; echo 'tab\there'; echo err >&2; printf partial"]
    c = client.containers.create("busybox", cmd)
    try:
        c.start()
        assert c.wait()["StatusCode"] == 0
        body = _attach_body(daemon.sock, c.id)
        assert body == _logs_body(daemon.sock, c.id)
        # stdout and stderr are separate pipes: their order relative to each other is the
        # reader's, so each stream is checked on its own
        frames = _frames(body)
        out = b"".join(f[8:] for f in frames if f[0] == 1)
        err = b"".join(f[8:] for f in frames if f[0] == 2)
        assert out.startswith(b"1\n2\n") and out.endswith(b"3000\ntab\there\npartial")
        assert err == b"err\n"
        assert client.api.attach(c.id, stream=False, logs=True) == c.logs()
    finally:
        c.remove(force=True)


def _request(sock_path, target: str, method: str = "GET") -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(1 << 16):
        data += chunk
    s.close()
    return data


def _attach_body(sock_path, cid: str) -> bytes:
    raw = _request(sock_path, f"/v1.41/containers/{cid}/attach?logs=1&stdout=1&stderr=1",
                   "POST")
    return raw.split(b"\r\n\r\n", 1)[1]


def _logs_body(sock_path, cid: str) -> bytes:
    raw = _request(sock_path, f"/v1.41/containers/{cid}/logs?stdout=1&stderr=1")
    body, out = raw.split(b"\r\n\r\n", 1)[1], b""
    while True:  # undo the chunked transfer encoding
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if not n:
            return out
        out, body = out + rest[:n], rest[n + 2:]


def _frames(body: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos < len(body):
        size = int.from_bytes(body[pos + 4:pos + 8], "big")
        frames.append(body[pos:pos + 8 + size])
        pos += 8 + size
    return frames
