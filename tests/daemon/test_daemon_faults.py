"""Daemon faults (#11.5) against a real engine: restart policies across an engine restart,
anonymous volumes of --rm containers, requests whose client left, many idle connections."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.daemon.conftest import REPO, assert_clean, import_busybox, make_daemon, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(tmp_path_factory, request):
    d = make_daemon(tmp_path_factory, "f" + request.node.name[5:24])
    yield d
    try:
        if d.proc is not None and d.proc.poll() is None:
            assert d.stop() == 0, d.output()
        assert_clean(d)
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.kill9()


def _state(client, name: str) -> dict:
    return client.api.inspect_container(name)["State"]


def _restart_count(client, name: str) -> int:
    return client.api.inspect_container(name)["RestartCount"]


def test_engine_restart_applies_dockers_rules_per_policy(fresh):
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    sleeper = ["sleep", "600"]
    run = dict(detach=True, stop_signal="SIGKILL")
    for name, policy in (("always", "always"), ("unless", "unless-stopped"),
                         ("onfail", "on-failure"), ("never", "no")):
        client.containers.run("busybox", sleeper, name=name, restart_policy={"Name": policy},
                              **run)
        client.containers.get(name).stop()  # a user's stop: exit 137
    client.containers.run("busybox", ["true"], name="onfail-clean",
                          restart_policy={"Name": "on-failure"}, **run)
    client.containers.run("busybox", ["sh", "-c", "exit 1"], name="onfail-spent",
                          restart_policy={"Name": "on-failure", "MaximumRetryCount": 1}, **run)
    wait_for(lambda: _restart_count(client, "onfail-spent") == 1
             and _state(client, "onfail-spent")["Status"] == "exited")
    wait_for(lambda: _state(client, "onfail-clean")["Status"] == "exited")
    assert client.containers.list() == []

    assert fresh.stop() == 0
    fresh.start()
    client = fresh.client()
    # (listed while still "restarting" too: wait for both to run)
    wait_for(lambda: all(_state(client, n)["Status"] == "running" for n in ("always", "onfail")))
    assert {c.name for c in client.containers.list()} == {"always", "onfail"}
    for name in ("unless", "never", "onfail-clean", "onfail-spent"):
        assert _state(client, name)["Status"] == "exited", name

    # the restart cleared the user's stop: `always` comes back when its process dies on its own
    pid = _state(client, "always")["Pid"]
    cid = client.api.inspect_container("always")["Id"]
    assert pid > 1
    with open(f"/proc/{pid}/cgroup") as f:  # never signal anything but the container's PID 1
        assert f"pycompose-{cid[:12]}" in f.read(), (pid, cid)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _state(client, "always")["Pid"] not in (0, pid)
             and _state(client, "always")["Status"] == "running")
    assert _restart_count(client, "always") == 1
    for c in client.containers.list(all=True):
        c.remove(force=True)


def test_autoremove_container_of_a_killed_engine_goes_with_its_volume(fresh):
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, auto_remove=True,
                              volumes=["/data"])
    [volume] = [m["Name"] for m in c.attrs["Mounts"] if m["Type"] == "volume"]
    fresh.kill9()
    fresh.start()
    client = fresh.client()
    wait_for(lambda: client.api.containers(all=True) == [])
    assert volume not in {v.name for v in client.volumes.list()}


def _cli(daemon, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(daemon.env, PYCOMPOSE_WARM="0", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "compose.cli.main", *args], env=env,
                          cwd=cwd or REPO, capture_output=True, text=True, timeout=120)


def _volumes(client) -> set[str]:
    return {v.name for v in client.volumes.list()}


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_container_run_rm_removes_its_anonymous_volume(daemon, client, detach):
    before = _volumes(client)
    args = ["container", "run", "--rm", "-v", "/data"] + (["-d"] if detach else [])
    r = _cli(daemon, *args, "busybox", "sh", "-c", "echo x > /data/f")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: client.api.containers(all=True) == [])
    assert _volumes(client) == before


def test_compose_run_rm_removes_its_anonymous_volume(daemon, client, tmp_path):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent("""\
        services:
          app:
            image: busybox
            network_mode: none
            volumes: ["/data"]
        """))
    before = _volumes(client)
    r = _cli(daemon, "-p", "pcfaults", "run", "--rm", "app", "sh", "-c", "echo x > /data/f",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: client.api.containers(all=True) == [])
    assert _volumes(client) == before


def _send(daemon, method: str, path: str):
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.sock))
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    return s


def test_restart_whose_client_left_does_not_start_the_container_later(daemon, client):
    import time
    # PID 1 ignores SIGTERM: with t=-1 the restart waits for `sleep 3` to end by itself
    c = client.containers.run("busybox", ["sleep", "3"], detach=True)
    started = _state(client, c.id)["StartedAt"]
    s = _send(daemon, "POST", f"/containers/{c.id}/restart?t=-1")
    time.sleep(0.5)
    s.close()
    wait_for(lambda: _state(client, c.id)["Status"] == "exited", 10)
    time.sleep(1.5)
    state = _state(client, c.id)
    assert (state["Status"], state["StartedAt"]) == ("exited", started)
    assert "client of POST /containers/" in (daemon.root / "engine.log").read_text()
    c.remove()


def test_stop_with_a_grace_period_finishes_after_its_client_left(daemon, client):
    import time
    c = client.containers.run("busybox", ["sleep", "600"], detach=True)
    s = _send(daemon, "POST", f"/containers/{c.id}/stop?t=1")
    time.sleep(0.2)
    s.close()
    wait_for(lambda: _state(client, c.id)["Status"] == "exited", 10)  # SIGKILL after 1 s
    assert _state(client, c.id)["ExitCode"] == 137
    c.remove()


def test_stream_bytes_sent_with_the_head_reach_buffered_clients(daemon, client):
    """docker-py reads the head through a buffered reader, then the raw socket: output that
    is already there (an exec's, an attach's log replay) must not land in that buffer."""
    c = client.containers.run("busybox", ["sh", "-c", "seq 1 3000; sleep 600"], detach=True)
    try:
        wait_for(lambda: b"3000\n" in c.logs())
        for _ in range(5):
            out = c.attach(stdout=True, stderr=False, logs=True, stream=True)
            got = b""
            for chunk in out:
                got += chunk
                if got.endswith(b"3000\n"):
                    break
            out.close()
            assert got.startswith(b"1\n2\n3\n")
        for i in range(20):
            assert c.exec_run(["echo", f"hi{i}"]).output == f"hi{i}\n".encode()
    finally:
        c.remove(force=True)


FLOOD = r"""
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
path, count = sys.argv[1], int(sys.argv[2])
socks, answered = [], 0
for i in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    if i % 2:  # half keep-alive after one request, half never say a word
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        answered += s.recv(4096).startswith(b"HTTP/1.1 200")
    socks.append(s)
print(len(socks), answered, flush=True)
sys.stdin.read()
"""


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _ping_seconds(daemon) -> float:
    import time
    from tests.daemon.conftest import ping
    t = time.monotonic()
    assert ping(daemon.sock)
    return time.monotonic() - t


def _start_with_fd_limit(daemon, monkeypatch, soft: int, hard: int) -> None:
    """Start the engine with these RLIMIT_NOFILE values (set in the child: lowering needs no
    privilege, and ours stay as they are)."""
    import functools
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    with monkeypatch.context() as m:
        m.setattr(subprocess, "Popen", functools.partial(subprocess.Popen, preexec_fn=limit))
        daemon.start()


def test_idle_connection_flood_leaves_the_engine_answering(fresh, monkeypatch):
    _start_with_fd_limit(fresh, monkeypatch, 1024, 2048)
    pid = fresh.proc.pid
    limits = (fresh.root / ".." / "limits").resolve()
    limits.write_text(open(f"/proc/{pid}/limits").read())
    assert "Max open files            2048                 2048" in limits.read_text()
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(fresh.sock), "5000"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        opened, answered = map(int, flood.stdout.readline().split())
        assert (opened, answered) == (5000, 2500)
        assert _fds(pid) < 2048 - 200  # the reserve stays free
        assert max(_ping_seconds(fresh) for _ in range(20)) < 1.0
        client = fresh.client()
        assert client.version()["ApiVersion"] == "1.41"
        client.close()
    finally:
        flood.stdin.close()
        flood.wait(30)
    log = (fresh.root / "engine.log").read_text()
    assert "Traceback" not in log and "EMFILE" not in log
    said = f"pid {flood.pid} (uid 0) reached 896 connections, the most one client process " \
           "may hold: closing its oldest idle ones"
    assert log.count(said) == 1  # once, though ~4,100 of its connections were closed


def test_out_of_descriptors_closes_idle_connections_and_says_so_once(fresh):
    """The engine's fd limit lowered under it (a limit the connection cap did not foresee):
    accept() fails with EMFILE, idle connections make room, one log line, no traceback."""
    import resource
    fresh.start()
    pid = fresh.proc.pid
    used = _fds(pid)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 300, used + 300))
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(fresh.sock), "1500"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        opened, _answered = map(int, flood.stdout.readline().split())
        assert opened == 1500
        assert max(_ping_seconds(fresh) for _ in range(20)) < 1.0
    finally:
        flood.stdin.close()
        flood.wait(30)
    log = (fresh.root / "engine.log").read_text()
    assert "Traceback" not in log
    assert log.count("accepting API connections: Too many open files") == 1


def test_a_second_sigterm_still_cuts_the_grace_periods_short(fresh):
    """The grace period of a stop survives its client leaving, but not an impatient second
    signal to the engine: containers that ignore SIGTERM go at once."""
    import time
    fresh.start()
    client = fresh.client()
    import_busybox(client, fresh.base)
    cid = client.api.create_container("busybox", ["sleep", "600"], stop_timeout=60)["Id"]
    client.api.start(cid)
    client.close()
    os.kill(fresh.proc.pid, signal.SIGTERM)
    time.sleep(1)
    assert fresh.proc.poll() is None  # waiting for the grace period
    t = time.monotonic()
    os.kill(fresh.proc.pid, signal.SIGTERM)
    fresh.proc.wait(30)
    assert time.monotonic() - t < 15


BUSY = r"""
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
path, cid, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks, heads = [], []
for i in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    s.sendall(f"POST /containers/{cid}/wait?condition=next-exit HTTP/1.1\r\n"
              "Host: x\r\n\r\n".encode())
    heads.append(s.recv(4096).split(b"\r\n")[0].decode())
    socks.append(s)
print(sum(h.startswith("HTTP/1.1 200") for h in heads), flush=True)
print([h for h in heads if not h.startswith("HTTP/1.1 200")][:1], flush=True)
sys.stdin.read()
"""


def test_limits_for_all_and_for_a_client_whose_connections_are_all_busy(fresh, monkeypatch):
    _start_with_fd_limit(fresh, monkeypatch, 2048, 2048)  # 1,792 in all, 896 per process
    client = fresh.client()
    import_busybox(client, fresh.base)
    cid = client.api.create_container("busybox", ["true"])["Id"]
    procs = []
    try:
        # three processes of 700 idle connections each: over the total, none over its own
        procs = [subprocess.Popen([sys.executable, "-c", FLOOD, str(fresh.sock), "700"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(3)]
        assert [p.stdout.readline().split()[0] for p in procs] == ["700"] * 3
        assert max(_ping_seconds(fresh) for _ in range(10)) < 1.0
        # 900 waits from one process: busy, so the 897th is refused, not someone cut off
        busy = subprocess.Popen([sys.executable, "-c", BUSY, str(fresh.sock), cid, "900"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(busy)
        assert busy.stdout.readline().strip() == "896"
        assert "503 Service Unavailable" in busy.stdout.readline()
        assert max(_ping_seconds(fresh) for _ in range(10)) < 1.0
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(30)
    client.api.remove_container(cid)
    client.close()
    log = (fresh.root / "engine.log").read_text()
    assert "Traceback" not in log
    assert log.count("1792 API connections open, the most the fd limit leaves room for") == 1
    assert log.count(f"connection refused: too many connections from pid {busy.pid} (uid 0): "
                     "896 open, 896 allowed") == 1
