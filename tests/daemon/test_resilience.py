"""The daemon stays up whatever clients and containers do: streams whose client went away,
healthcheck probes racing a kill, waits that must answer before the container starts."""
from __future__ import annotations

import json
import socket
import time

import pytest

from tests.daemon.conftest import ping, wait_for

pytestmark = pytest.mark.integration


def _open(daemon, method: str, path: str) -> tuple[socket.socket, bytes]:
    """Send a request on a raw socket and return it with the response head (read within 5 s)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(daemon.sock))
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data


def _alive(daemon) -> bool:
    return daemon.proc.poll() is None and ping(daemon.sock)


def test_events_client_gone_then_container_events_daemon_survives(daemon, client):
    s, head = _open(daemon, "GET", "/events")
    assert head.startswith(b"HTTP/1.1 200")
    s.close()  # the client dies with its stream open
    time.sleep(0.2)
    c = client.containers.run("busybox", ["true"], detach=True)
    c.wait()
    c.remove()
    time.sleep(0.5)
    assert _alive(daemon), daemon.output()
    # and events still flow to a new client
    since = int(time.time()) - 5
    seen = [ev["Action"] for ev in client.events(since=since, until=int(time.time()) + 1,
                                                 decode=True)]
    assert "destroy" in seen


def test_follow_streams_end_when_client_goes(daemon, client):
    c = client.containers.run("busybox", ["sh", "-c", "while true; do echo x; sleep 0.05; done"],
                              detach=True)
    try:
        for path in (f"/containers/{c.id}/logs?stdout=1&follow=1",
                     f"/containers/{c.id}/stats?stream=1",
                     f"/containers/{c.id}/attach?stream=1&stdout=1"):
            method = "POST" if "attach" in path else "GET"
            s, head = _open(daemon, method, path)
            assert head.startswith(b"HTTP/1.1 200"), (path, head)
            s.recv(100)
            s.close()
        time.sleep(0.5)
        assert _alive(daemon), daemon.output()
    finally:
        c.remove(force=True)
    assert _alive(daemon), daemon.output()


def test_health_probes_racing_force_remove_never_crash(daemon, client):
    hc = {"test": ["CMD", "true"], "interval": 100_000_000, "timeout": 2_000_000_000,
          "retries": 3}
    for _round in range(3):
        cs = [client.containers.run("busybox", ["sleep", "100"], detach=True, healthcheck=hc)
              for _ in range(4)]
        time.sleep(0.35)  # probes running
        for c in cs:
            c.remove(force=True)
        assert _alive(daemon), daemon.output()
    assert client.containers.list(all=True) == []
    log = (daemon.root / "engine.log").read_text()
    assert "started again while being removed" not in log
    assert "survived SIGKILL" not in log


def test_wait_head_is_sent_before_the_container_starts(daemon, client):
    c = client.containers.create("busybox", ["true"])
    s, head = _open(daemon, "POST", f"/containers/{c.id}/wait?condition=removed")
    try:
        assert head.startswith(b"HTTP/1.1 200"), head
        c.start()
        c.wait()
        c.remove()
        body = head.split(b"\r\n\r\n", 1)[1]
        while b"StatusCode" not in body or not body.endswith(b"0\r\n\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        doc = json.loads(body.split(b"\r\n")[1])
        assert doc == {"StatusCode": 0, "Error": None}
    finally:
        s.close()


def test_wait_unknown_container_and_bad_condition_are_errors(daemon, client):
    s, head = _open(daemon, "POST", "/containers/nosuch/wait")
    s.close()
    assert head.startswith(b"HTTP/1.1 404")
    c = client.containers.create("busybox", ["true"])
    try:
        s, head = _open(daemon, "POST", f"/containers/{c.id}/wait?condition=bogus")
        s.close()
        assert head.startswith(b"HTTP/1.1 400")
    finally:
        c.remove()


def test_percent_encoded_path_segments(daemon, client):
    s, head = _open(daemon, "GET", "/images/busybox%3Alatest/json")
    s.close()
    assert head.startswith(b"HTTP/1.1 200"), head
    wait_for(lambda: _alive(daemon))
