"""examples/webapp, scripted as the README's first five minutes: base image, build, `up -d
--wait`, the page counts visits in PostgreSQL, a change under src/ reaches the served bundle,
`run` with a pty reaches `db` by name, `logs`, `down`/`up` keeps the data, `down -v` removes it,
and afterwards nothing of ours remains on the host.

The base image comes from `harness.base_image` (`pycompose image bootstrap debian:bookworm`, or
today's cached copy of it: see there). Everything above the base — the three builds with apt —
always runs.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.e2e.harness import (CLI, base_image, copy_example, free_port, http_get,
                               running_engine, strip_ansi, wait_for, webapp_page_count)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

POOL = "10.242.0.0/16"   # this suite's alone (hello: 10.241, others: 10.231-10.239)


@pytest.fixture(scope="module")
def engine():
    with running_engine(POOL, "pce2e-webapp-") as eng:
        yield eng


def get_json(port: int, path: str) -> dict:
    status, body = http_get(port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def pty_session(engine, cwd: Path, env: dict, args: list[str], script: bytes,
                timeout: float = 120) -> tuple[int, str]:
    """Run the CLI on a pty like a terminal user: type `script`, read until it exits."""
    pid, fd = pty.fork()
    if pid == 0:   # child: becomes the CLI on the pty's slave side
        try:
            # a terminal has a size (a 0x0 one sends psql's output through a pager)
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            os.chdir(cwd)
            os.execvpe(CLI[0], CLI + args, {**engine.env, **env, "TERM": "dumb"})
        finally:
            os._exit(127)
    output = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not sent and (b"$ " in output or b"# " in output):
                os.write(fd, script)    # the shell's prompt is up: type
                sent = True
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:      # EIO: the slave side closed, the CLI exited
                    break
                if not chunk:
                    break
                output += chunk
        else:
            raise AssertionError(f"pty session timed out; output so far:\n{output.decode()}")
        _, status = os.waitpid(pid, 0)
        pid = 0
        return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def read_until(pipe, needle: bytes, timeout: float) -> bytes:
    """Read a live pipe until `needle` shows up (AssertionError after `timeout`)."""
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([pipe], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"{needle!r} not seen within {timeout:g}s; got:\n{data.decode()}")
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"stream ended before {needle!r}; got:\n{data.decode()}")
        data += chunk
    return data


def test_webapp_first_five_minutes(engine, tmp_path):
    timings: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    t = time.monotonic()
    how = base_image(engine)
    timed(f"base image ({how})", t)

    app = copy_example("webapp", tmp_path)
    port = free_port()
    env = {"WEBAPP_PORT": str(port)}
    try:
        t = time.monotonic()
        engine.cli("build", cwd=app, env=env, timeout=1800, check=True)
        timed("build (3 images, apt)", t)
        images = engine.cli("image", "ls", "--format", "json", check=True).stdout
        for name in ("webapp/db", "webapp/web", "webapp/assets"):
            assert name in images, images

        # up -d --wait: returns once db and web are healthy, migrate has completed, assets built
        t = time.monotonic()
        engine.cli("up", "-d", "--wait", cwd=app, env=env, timeout=300, check=True)
        timed("cold up -d --wait", t)
        ps = engine.cli("ps", "-a", "--format", "json", cwd=app, env=env, check=True).stdout
        rows = {row["Service"]: row for row in map(json.loads, ps.splitlines())}
        assert rows["db"]["Health"] == "healthy" and rows["web"]["Health"] == "healthy", rows
        assert rows["migrate"]["State"] == "exited" and rows["migrate"]["ExitCode"] == 0, rows
        assert rows["assets"]["State"] == "running", rows

        # the page counts visits in PostgreSQL; the API shows the same rows
        first = webapp_page_count(port)
        second = webapp_page_count(port)
        assert second == first + 1
        api = get_json(port, "/api/visits")
        assert api["count"] == second and api["recent"][0]["path"] == "/"
        migrate_log = engine.cli("logs", "migrate", cwd=app, env=env, check=True).stdout
        assert "migrate: applied 1, 2; schema at version 2" in migrate_log

        # the page loads the bundle `assets` built from src/; an edit reaches it in seconds
        status, bundle = http_get(port, "/static/bundle.js")
        assert status == 200 and b"Hello from the webpack bundle" in bundle
        message = app / "src" / "message.js"
        message.write_text(message.read_text().replace("Hello from the webpack bundle",
                                                       "Edited while running"))
        t = time.monotonic()
        wait_for(lambda: b"Edited while running" in http_get(port, "/static/bundle.js")[1],
                 30, "the rebuilt bundle to be served")
        timed("src/ edit -> served bundle", t)

        # `run web bash` on a pty: a shell that reaches db by name, with the app's own check
        # and with psql; the bundle volume is read-only there
        code, out = pty_session(engine, app, env, ["run", "--rm", "web", "bash"], (
            b"python3 /app/app.py check\n"
            b"PGPASSWORD=$(cat /run/secrets/db_password) psql -h db -U app -d app -tAc "
            b"'select count(*) from visits'\n"
            b"touch /srv/assets/probe\n"
            b"exit 7\n"))
        out = strip_ansi(out).replace("\r", "")
        assert code == 7, out
        assert re.search(r"db: connected to db in \d+ ms: PostgreSQL 15\.\d+, \d+ visits", out), out
        assert re.search(rf"^{second}\s*$", out, re.M), out
        assert "/srv/assets/probe': Read-only file system" in out, out   # web's view is :ro

        # logs -f web: follows (here: until our request shows up, then Ctrl-C)
        marker = f"GET /api/visits?probe={port}".encode()
        follow = engine.popen("logs", "-f", "--no-color", "web", cwd=app, env=env,
                              stdout=subprocess.PIPE)
        try:
            time.sleep(0.5)
            http_get(port, marker.decode()[4:])
            seen = read_until(follow.stdout, marker, timeout=15)
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(timeout=10)
        line = next(x for x in seen.splitlines() if marker in x)
        assert line.startswith(b"web-1  | "), seen

        # down, then up again: the named volume keeps the data
        engine.cli("down", cwd=app, env=env, timeout=120, check=True)
        assert engine.container_ids() == []
        t = time.monotonic()
        engine.cli("up", "-d", "--wait", cwd=app, env=env, timeout=300, check=True)
        timed("up -d --wait after down (data kept)", t)
        assert webapp_page_count(port) == second + 1
        migrate_log = engine.cli("logs", "migrate", cwd=app, env=env, check=True).stdout
        assert "migrate: schema up to date (version 2)" in migrate_log

        t = time.monotonic()
        engine.cli("up", "-d", "--wait", cwd=app, env=env, timeout=60, check=True)
        timed("warm up -d --wait (nothing changed)", t)

        # down -v removes the data: the next up starts from an empty database
        engine.trace.remember_cgroups(engine.container_ids())
        during = engine.trace.leftovers()
        assert {"links", "firewall rules", "mounts", "processes", "cgroups"} <= set(during)
        engine.cli("down", "-v", cwd=app, env=env, timeout=120, check=True)
        volumes = engine.cli("volume", "ls", "-q", check=True).stdout.split()
        assert not [v for v in volumes if v.startswith("webapp_")], volumes
        engine.cli("up", "-d", "--wait", cwd=app, env=env, timeout=300, check=True)
        engine.trace.remember_cgroups(engine.container_ids())
        assert webapp_page_count(port) == 1
    finally:
        down = engine.cli("down", "-v", "--remove-orphans", cwd=app, env=env, timeout=120)
        print("timings:", json.dumps(timings))
    assert down.returncode == 0, down.stderr
    assert engine.container_ids() == []

    r = engine.cli("engine", "stop")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{engine.pid}") or
             open(f"/proc/{engine.pid}/stat").read().split()[2] == "Z", 60, "the engine to exit")
    assert engine.trace.leftovers() == {}
