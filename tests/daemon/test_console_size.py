"""HostConfig.ConsoleSize and ExecStart's ConsoleSize: the pty has the caller's size before the
command runs, so a program that reads it at once never sees 0x0 (a resize after the start races
with it)."""
from __future__ import annotations

import time

import pytest

from engine.client import Client
from engine.containers.model import parse_console_size
from engine.errors import BadParameter


def test_console_size_is_height_then_width_and_zero_means_none():
    assert parse_console_size([40, 100]) == (40, 100)
    assert parse_console_size([0, 0]) is None
    assert parse_console_size(None) is None
    for bad in ([40], "40x100", [40, -1], [True, 3], [1, 70000]):
        with pytest.raises(BadParameter, match="ConsoleSize"):
            parse_console_size(bad)


def _logs_until(api: Client, cid: str, text: bytes, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    out = b""
    while time.monotonic() < deadline:
        out = b"".join(chunk for _stream, chunk in api.logs(cid, stdout=True, stderr=True))
        if text in out:
            break
        time.sleep(0.05)
    return out


@pytest.mark.integration
def test_run_and_exec_see_the_console_size_from_their_first_instruction(daemon):
    api = Client(daemon.sock)
    created = api.create_container({"Image": "busybox", "Cmd": ["sh", "-c", "stty size; sleep 60"],
                                    "Tty": True, "OpenStdin": True,
                                    "HostConfig": {"ConsoleSize": [40, 100]}})
    cid = created["Id"]
    try:
        api.start(cid)
        assert b"40 100" in _logs_until(api, cid, b"40 100")
        assert api.inspect_container(cid)["HostConfig"]["ConsoleSize"] == [40, 100]

        exec_id = api.exec_create(cid, ["stty", "size"], tty=True)
        sock = api.exec_start(exec_id, tty=True, console_size=(33, 77))
        try:
            out = b""
            deadline = time.monotonic() + 10
            while b"33 77" not in out and time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                out += chunk
        finally:
            sock.close()
        assert b"33 77" in out
    finally:
        api.remove_container(cid, force=True)
        api.close()
