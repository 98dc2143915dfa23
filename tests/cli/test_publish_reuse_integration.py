"""A container publishes a host port that a host server used a moment ago (its side of the last
connection still in TIME-WAIT) and serves it at once; a port a host program listens on is still
refused with one line. (UDP: tests/netbridge/test_ports_reuse_integration.py, as busybox has no
UDP server to run in a container.)"""
from __future__ import annotations

import socket
import time
import urllib.request
import uuid

import pytest

from tests.netbridge.test_ports_reserve import (plain_bind_refused, server_closed_connection,
                                                time_wait_on)

pytestmark = pytest.mark.integration

HTTPD = "mkdir /w && echo 'hello from the container' > /w/index.html && exec httpd -f -p 8080 -h /w"


def get(port: int, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_container_publishes_a_port_in_time_wait_at_once(engine):
    n = "pcreuse" + uuid.uuid4().hex[:6]
    port = server_closed_connection()
    assert time_wait_on(port) and plain_bind_refused(port, "127.0.0.1")
    try:
        engine.cli("container", "run", "-d", "--name", n, "-p", f"127.0.0.1:{port}:8080",
                   "busybox", "sh", "-c", HTTPD, check=True)
        assert get(port) == "hello from the container\n"
    finally:
        engine.cli("container", "rm", "-f", n)


def test_port_with_a_live_host_listener_is_one_line_error(engine):
    n = "pcreuse" + uuid.uuid4().hex[:6]
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        try:
            r = engine.cli("container", "run", "-d", "--name", n, "-p", f"127.0.0.1:{port}:8080",
                           "busybox", "sleep", "60")
            assert r.returncode != 0
            assert f"host port 127.0.0.1:{port}/tcp is already in use" in r.stderr
            assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        finally:
            engine.cli("container", "rm", "-f", n)
