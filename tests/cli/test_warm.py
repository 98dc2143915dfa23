"""The warm CLI (compose/cli/warm.py + warm_server.py): commands handed to a pre-imported worker
behave as if run in-process — caller's cwd, environment, stdio, exit code and signals — and the
server lives exactly as long as its engine.

The "engine" here is a stand-in process that listens on a unix socket and never answers: the warm
server only needs its pid, and a command against it blocks, which is what the signal tests need.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compose.cli.warm import (caller_context, caller_limits, encode_request, interpreter,
                              package_dir, server_socket)
from compose.cli.warm_server import Request

CLI = [sys.executable, "-m", "compose.cli.main"]
SERVER = [sys.executable, "-m", "compose.cli.warm_server"]
FAKE_ENGINE = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
"""


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _socket_owner(path: str) -> int | None:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError:
            return None
        return struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]


@pytest.fixture
def engine(tmp_path):
    """(env, fake engine process); any warm server it got is gone after the test."""
    sock = tmp_path / "engine.sock"
    proc = subprocess.Popen([sys.executable, "-c", FAKE_ENGINE, str(sock)])
    assert _wait_for(sock.exists)
    env = dict(os.environ, PYCOMPOSE_HOST=f"unix://{sock}", PYCOMPOSE_ROOT=str(tmp_path / "root"),
               PYCOMPOSE_WARM_TRACE="1", NO_COLOR="1")
    env.pop("PYCOMPOSE_WARM", None)
    (tmp_path / "root").mkdir()
    servers: list[subprocess.Popen] = []
    try:
        yield env, proc, servers
    finally:
        cli_sock = server_socket(str(sock))
        owner = _socket_owner(cli_sock)
        proc.kill()
        proc.wait()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if owner is not None and not _wait_for(lambda: not _alive(owner), 10):
            os.kill(owner, signal.SIGKILL)


def _start_server(env, servers) -> subprocess.Popen:
    engine_sock = env["PYCOMPOSE_HOST"][len("unix://"):]
    server = subprocess.Popen(SERVER + [engine_sock], env=env, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    servers.append(server)
    assert _wait_for(lambda: os.path.exists(server_socket(engine_sock)))
    return server


def _run(env, *args, cwd=None, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), env=env, cwd=cwd, input=input, capture_output=True,
                          timeout=60, text=True)


def _worker_pid(proc: subprocess.Popen) -> int:
    line = proc.stderr.readline()
    assert line.startswith("pycompose: warm worker "), line
    return int(line.split()[-1])


# --- pure ------------------------------------------------------------------------------------

def test_request_round_trips_bytes_that_are_not_utf8():
    env = {b"A": b"1=2", b"ODD": b"\xff\xfe", b"EMPTY": b""}
    wire = encode_request(["pycompose", "config", "caf\udce9"], "/tmp/x y", 0o027, "/usr/bin/python3",
                          "/opt/pc", env, b"mnt=1:2;CapEff: 0", b"Limit x\nMax cpu time  1  2")
    (length,) = struct.unpack(">I", wire[:4])
    request = Request(wire[4:])
    assert length == len(wire) - 4
    assert request.argv == ["pycompose", "config", "caf\udce9"]
    assert (request.cwd, request.umask, request.exe, request.pkg) == ("/tmp/x y", 0o027,
                                                                       "/usr/bin/python3", "/opt/pc")
    assert request.env == env
    assert (request.context, request.limits) == (b"mnt=1:2;CapEff: 0", b"Limit x\nMax cpu time  1  2")


def test_garbage_is_not_a_request():
    with pytest.raises(ValueError):
        Request(b"GET / HTTP/1.1")
    with pytest.raises(ValueError):
        Request(b"\0".join([b"PCW2", b"/", b"22", b"py", b"pkg", b"", b"", b"3", b"only-one"]))


# --- processes -------------------------------------------------------------------------------

def test_worker_gets_callers_cwd_environment_stdio_and_exit_code(engine, tmp_path):
    env, _engine, servers = engine
    _start_server(env, servers)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "compose.yaml").write_text("services:\n  web:\n    image: busybox:${TAG}\n")
    result = _run(dict(env, TAG="1.2.3"), "config", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "pycompose: warm worker" in result.stderr
    assert "image: busybox:1.2.3" in result.stdout
    assert "name: proj" in result.stdout  # the project name comes from the caller's cwd

    piped = _run(env, "-f", "-", "config", "--services", cwd=tmp_path,
                 input="services:\n  from-stdin:\n    image: x\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == "from-stdin"

    bad = _run(env, "no-such-verb")
    assert bad.returncode == 2
    assert "unknown command 'no-such-verb'" in bad.stderr


def test_signals_reach_the_worker_and_a_killed_client_takes_it_along(engine):
    env, _engine, servers = engine
    _start_server(env, servers)
    # `container ls` blocks: the stand-in engine never answers
    client = subprocess.Popen(CLI + ["container", "ls"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    worker = _worker_pid(client)
    assert _alive(worker)
    time.sleep(0.3)  # let the worker reach its blocking read
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=20) == 130
    assert _wait_for(lambda: not _alive(worker))

    client = subprocess.Popen(CLI + ["container", "ls"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    worker = _worker_pid(client)
    client.kill()
    client.wait()
    assert _wait_for(lambda: not _alive(worker))


def test_server_goes_with_its_engine(engine):
    env, fake_engine, servers = engine
    server = _start_server(env, servers)
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    fake_engine.kill()
    fake_engine.wait()
    assert server.wait(timeout=10) == 0
    assert not os.path.exists(cli_sock)
    # with no server, commands run in-process as before
    result = _run(env, "--help")
    assert result.returncode == 0
    assert "warm worker" not in result.stderr


def test_a_cold_command_starts_a_server_for_the_next(engine):
    env, _engine, _servers = engine
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    first = _run(env, "--help")
    assert first.returncode == 0 and "warm worker" not in first.stderr
    assert _wait_for(lambda: os.path.exists(cli_sock))
    second = _run(env, "--help")
    assert second.returncode == 0 and "warm worker" in second.stderr
    assert second.stdout == first.stdout
    # one server per engine: a second one started by hand gives way at once
    extra = subprocess.run(SERVER + [env["PYCOMPOSE_HOST"][len("unix://"):]], env=env,
                           timeout=30)
    assert extra.returncode == 0
    assert "warm worker" in _run(env, "--help").stderr


def test_same_python_by_another_name_is_served_warm_and_a_venv_cold(engine, tmp_path):
    env, _engine, servers = engine
    _start_server(env, servers)
    alias = tmp_path / "python-alias"
    alias.symlink_to(sys.executable)  # like python3 vs python3.11 vs the console script's
    result = subprocess.run([str(alias), "-m", "compose.cli.main", "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "warm worker" in result.stderr

    # a venv shares the binary but not the packages: it must not be served by our server
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True, timeout=120)
    repo = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-m", "compose.cli.main",
                             "--help"], env=dict(env, PYTHONPATH=repo, PYCOMPOSE_WARM="1"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warm worker" not in result.stderr
    assert "Usage: pycompose" in result.stdout


def test_warm_can_be_turned_off(engine):
    env, _engine, servers = engine
    _start_server(env, servers)
    result = _run(dict(env, PYCOMPOSE_WARM="0"), "--help")
    assert result.returncode == 0 and "warm worker" not in result.stderr


def test_a_bad_signal_number_from_a_client_does_not_end_the_server(engine):
    env, _engine, servers = engine
    server = _start_server(env, servers)
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    request = encode_request(["pycompose", "container", "ls"], "/", 0o022, interpreter(),
                             package_dir(), {k.encode(): v.encode() for k, v in env.items()},
                             caller_context(), caller_limits())
    with socket.socket(socket.AF_UNIX) as conn, open(os.devnull, "r+b") as null:
        conn.settimeout(30)
        conn.connect(cli_sock)
        socket.send_fds(conn, [request], [null.fileno()] * 3)
        reply = b""
        while b"\n" not in reply:
            reply += conn.recv(64)
        assert reply.startswith(b"pid ")
        conn.sendall(b"sig 99999\n")
        conn.sendall(b"sig %d\n" % signal.SIGINT)  # `container ls` blocks: Ctrl-C ends it
        while b"exit" not in reply:
            chunk = conn.recv(64)
            assert chunk, reply
            reply += chunk
        assert reply.endswith(b"exit 130\n")
    assert server.poll() is None
    assert "warm worker" in _run(env, "--help").stderr
