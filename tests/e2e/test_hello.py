"""examples/hello as the README's first command: make the image, `up` attached (interleaved logs,
the page on localhost, Ctrl-C stops it), then `up -d --wait`, `ps`, `logs`, `down` — and nothing
of ours remains on the host."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.e2e.harness import (copy_example, free_port, http_get, make_hello_image,
                               running_engine, strip_ansi, wait_for)

pytestmark = pytest.mark.integration

POOL = "10.241.0.0/16"   # this suite's alone (others: 10.231-10.239)


@pytest.fixture
def engine():
    with running_engine(POOL, "pce2e-hello-") as eng:
        yield eng


def test_hello_first_five_minutes(engine, tmp_path):
    hello = copy_example("hello", tmp_path)
    port = free_port()
    env = {"HELLO_PORT": str(port)}

    # The documented image step, with this test's CLI standing in for `pycompose` on PATH.
    assert "made pycompose/busybox:latest" in make_hello_image(engine, hello)
    images = engine.cli("image", "ls", "--format", "json", check=True).stdout
    assert "pycompose/busybox" in images

    try:
        # 1. `pycompose up` in the foreground: both services' logs interleave, the page answers.
        up = engine.popen("up", cwd=hello, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        try:
            status, body = wait_for(lambda: http_get(port), 60, "the page on localhost")
            assert status == 200 and b"Hello from pycompose" in body
            # worker only starts once web is healthy, then logs what it fetched by name
            wait_for(lambda: engine.cli("logs", "worker", cwd=hello, env=env).stdout.count(
                "web says 'hello from pycompose'") >= 1, 30, "the worker's first visit")
            up.send_signal(signal.SIGINT)   # Ctrl-C
            out, _ = up.communicate(timeout=30)
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()
        text = strip_ansi(out.decode(errors="replace"))
        assert "Attaching to" in text
        assert "web-1     | " in text and "response:200" in text
        assert "worker-1  | visit 1: web says 'hello from pycompose'" in text
        assert "Gracefully stopping" in text
        ps = engine.cli("ps", "-a", "--format", "json", cwd=hello, env=env, check=True)
        rows = [json.loads(line) for line in ps.stdout.splitlines()]
        assert sorted(row["Service"] for row in rows) == ["web", "worker"]
        assert all(row["State"] == "exited" for row in rows), rows
        with pytest.raises(OSError):
            http_get(port, timeout=2)

        # 2. Detached: `up -d --wait` returns once web is healthy and worker runs.
        started = time.monotonic()
        engine.cli("up", "-d", "--wait", cwd=hello, env=env, check=True)
        assert time.monotonic() - started < 30
        status, body = http_get(port)
        assert status == 200 and b"<h1>Hello from pycompose</h1>" in body
        ps = engine.cli("ps", "--format", "json", cwd=hello, env=env, check=True)
        rows = {row["Service"]: row for row in map(json.loads, ps.stdout.splitlines())}
        assert set(rows) == {"web", "worker"}
        assert rows["web"]["Health"] == "healthy"
        assert rows["worker"]["State"] == "running"
        assert any(p.get("PublishedPort") == port for p in rows["web"]["Publishers"])

        # the page comes from the bind-mounted directory: an edit shows at once
        (hello / "www" / "index.html").write_text("<h1>edited</h1>\n")
        assert http_get(port)[1] == b"<h1>edited</h1>\n"

        logs = wait_for(lambda: (lambda out: out if "visit 2:" in out else None)(
            engine.cli("logs", "worker", cwd=hello, env=env, check=True).stdout),
            30, "a second visit in the worker's logs")
        assert "worker-1  | visit 2: web says " in logs

        engine.trace.remember_cgroups(engine.container_ids())
        during = engine.trace.leftovers()
        # the tracer really sees our objects while they exist (else "nothing remains" is empty)
        assert {"links", "firewall rules", "mounts", "processes", "cgroups"} <= set(during), during
    finally:
        down = engine.cli("down", "-v", "-t", "5", cwd=hello, env=env)
    assert down.returncode == 0, down.stderr
    assert engine.container_ids() == []
    with pytest.raises(OSError):
        http_get(port, timeout=2)

    engine.cli("image", "rm", "pycompose/busybox:latest", check=True)
    stop_engine_and_check(engine)


def stop_engine_and_check(engine) -> None:
    """Stop the engine (by PID, as a user's `engine stop` would) and prove the host is clean."""
    import os

    r = engine.cli("engine", "stop")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{engine.pid}") or
             open(f"/proc/{engine.pid}/stat").read().split()[2] == "Z", 30, "the engine to exit")
    assert engine.trace.leftovers() == {}
