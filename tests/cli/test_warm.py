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
from compose.cli.warm_request import Request

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
    context, limits = b"mnt=1:2;CapEff: 0", b"Limit x\nMax cpu time  1  2"
    wire = encode_request(["pycompose", "config", "caf\udce9"], "/tmp/x y", 0o027,
                          "/usr/bin/python3", "/opt/pc", env, context, limits)
    (length,) = struct.unpack(">I", wire[:4])
    request = Request(wire[4:])
    assert length == len(wire) - 4
    assert request.argv == ["pycompose", "config", "caf\udce9"]
    assert (request.cwd, request.umask, request.exe, request.pkg) == ("/tmp/x y", 0o027,
                                                                       "/usr/bin/python3", "/opt/pc")
    assert request.env == env
    assert (request.context, request.limits) == (context, limits)


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
    if sys.prefix != sys.base_prefix:
        # in a venv (./test.sh's) a symlink outside it is the base interpreter: take the venv's
        # other name for itself instead (python vs python3 vs python3.11)
        exe = Path(sys.executable)
        alias = next(p for p in sorted(exe.parent.glob("python*")) if p.name != exe.name)
    else:
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


def test_a_signal_line_split_across_reads_still_arrives(monkeypatch):
    """A stream socket keeps no message boundaries: under load the server may read a client's
    "sig 2\\n" as "si" then "g 2\\n". Each line is acted on once it is complete, never lost."""
    from compose.cli import warm_server

    sent: list[int] = []
    monkeypatch.setattr(warm_server, "_send_signal", lambda pidfd, signum: sent.append(signum))
    server = warm_server.Server("/nonexistent/engine.sock")
    client, conn = socket.socketpair()
    conn.setblocking(False)
    try:
        for chunk, expected in [(b"sig 99999\nsi", [99999]), (b"g 2", [99999]),
                                (b"\nsig 15\nsig", [99999, 2, 15]), (b" 1\n", [99999, 2, 15, 1])]:
            client.sendall(chunk)
            server._client_says(7, conn)
            assert sent == expected, chunk
        assert server.client_partial == {}
        client.sendall(b"x" * (warm_server.MAX_CLIENT_LINE + 1))  # noise is not kept growing
        server._client_says(7, conn)
        assert server.client_partial == {} and sent == [99999, 2, 15, 1]
    finally:
        client.close()
        conn.close()
        server.selector.close()


# --- who may serve a command -----------------------------------------------------------------

NOBODY = 65534
SQUATTER = """
import os, select, socket, sys
path, chown = sys.argv[1], sys.argv[2] == "chown"
s = socket.socket(socket.AF_UNIX)
s.bind(path)
if chown:
    os.chown(path, 65534, 65534)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
s.listen(8)
print("ready", flush=True)
conns, received, fds, live = 0, 0, 0, []

def read(c):
    global received, fds
    try:
        data, anc, _f, _a = c.recvmsg(65536, socket.CMSG_SPACE(64))
    except BlockingIOError:
        return True
    received += len(data)
    fds += len(anc)
    return bool(data)

while True:
    ready, _, _ = select.select([s, sys.stdin, *live], [], [])
    if s in ready:
        live.append(s.accept()[0])
        conns += 1
    live = [c for c in live if c not in ready or read(c)]
    if sys.stdin in ready:
        break
s.setblocking(False)
while True:  # whatever was still on its way
    try:
        live.append(s.accept()[0])
        conns += 1
    except BlockingIOError:
        break
for c in live:
    c.setblocking(False)
    while read(c) and received < 1 << 20:
        pass
print(f"conns={conns} bytes={received} fds={fds}", flush=True)
"""


def _squat(path: str, chown: bool) -> subprocess.Popen:
    """A listener at `path` running as nobody; the socket file is nobody's too if `chown`."""
    squatter = subprocess.Popen([sys.executable, "-c", SQUATTER, path,
                                 "chown" if chown else "keep"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert squatter.stdout.readline().strip() == "ready"
    return squatter


def _squatter_report(squatter: subprocess.Popen) -> str:
    try:
        out, _ = squatter.communicate(timeout=20)
    finally:
        if squatter.poll() is None:
            squatter.kill()
            squatter.wait()
    return out.strip()


@pytest.mark.integration
@pytest.mark.parametrize("chown, reason", [
    (True, f"belongs to uid {NOBODY}"),   # the socket file is another user's
    (False, f"is served by uid {NOBODY}"),  # our file, but another user listens on it
])
def test_a_squatter_of_another_uid_receives_nothing_and_the_command_runs_in_process(
        engine, tmp_path, chown, reason):
    env, _engine, _servers = engine
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    squatter = _squat(cli_sock, chown)
    try:
        result = _run(env, "--help")
    finally:
        report = _squatter_report(squatter)
    assert result.returncode == 0 and "Usage: pycompose" in result.stdout
    assert "warm worker" not in result.stderr
    assert reason in result.stderr  # PYCOMPOSE_WARM_TRACE names why
    received = dict(item.split("=") for item in report.split())
    assert (received["bytes"], received["fds"]) == ("0", "0"), report
    if chown:
        assert received["conns"] == "0"  # refused before connecting


@pytest.mark.integration
def test_no_server_in_and_no_client_into_a_directory_others_can_write_to(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: sticky and world-writable
    sock = shared / "engine.sock"
    fake_engine = subprocess.Popen([sys.executable, "-c", FAKE_ENGINE, str(sock)])
    listener = None
    try:
        assert _wait_for(sock.exists)
        env = dict(os.environ, PYCOMPOSE_HOST=f"unix://{sock}", PYCOMPOSE_WARM_TRACE="1",
                   PYCOMPOSE_ROOT=str(tmp_path))
        env.pop("PYCOMPOSE_WARM", None)
        server = subprocess.run(SERVER + [str(sock)], env=env, capture_output=True, text=True,
                                timeout=30)
        assert server.returncode == 0
        assert "not started" in server.stderr and "writable by others" in server.stderr
        cold = _run(env, "--help")
        assert cold.returncode == 0
        time.sleep(1.0)  # a server start_server() had begun would have made its lock by now
        assert sorted(p.name for p in shared.iterdir()) == ["engine.sock"]

        # even a socket of our own uid there is not used: someone else could have put it there
        listener = _squat(server_socket(str(sock)), chown=False)
        result = _run(env, "--help")
        assert result.returncode == 0 and "warm worker" not in result.stderr
        assert "writable by others" in result.stderr
        assert "conns=0 bytes=0" in _squatter_report(listener)
    finally:
        if listener is not None and listener.poll() is None:
            listener.kill()
            listener.wait()
        fake_engine.kill()
        fake_engine.wait()


def test_directory_and_socket_rules():
    from compose.cli.warm import directory_refusal, socket_refusal

    assert directory_refusal("/run/pc", 0, 0o40755, euid=1000) is None
    assert directory_refusal("/home/me", 1000, 0o40700, euid=1000) is None
    assert "belongs to uid 1001" in directory_refusal("/home/you", 1001, 0o40700, euid=1000)
    assert "writable by others" in directory_refusal("/tmp", 0, 0o41777, euid=0)
    assert "writable by others" in directory_refusal("/srv/g", 0, 0o40775, euid=0)
    assert socket_refusal("/run/pc/e.cli", 0, 0o140600, euid=0) is None
    assert "belongs to uid 65534" in socket_refusal("/run/pc/e.cli", NOBODY, 0o140600, euid=0)
    assert "not a socket" in socket_refusal("/run/pc/e.cli", 0, 0o100600, euid=0)


# --- the caller's view: namespaces and limits ------------------------------------------------

@pytest.mark.integration
def test_a_caller_in_another_mount_namespace_sees_its_own_files(engine, tmp_path):
    env, _engine, servers = engine
    _start_server(env, servers)
    assert "warm worker" in _run(env, "--help").stderr  # it serves this namespace's callers
    project = tmp_path / "proj"
    project.mkdir()
    (project / "compose.yaml").write_text("services:\n  web:\n    image: host-view\n")
    (tmp_path / "mine.yaml").write_text("services:\n  web:\n    image: caller-view\n")
    # a private mount namespace where compose.yaml is another file (gone with the process)
    script = (f"mount --bind {tmp_path / 'mine.yaml'} {project / 'compose.yaml'} && "
              f"exec {' '.join(CLI)} config")
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            env=env, cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "image: caller-view" in result.stdout
    assert "warm worker" not in result.stderr
    assert "other namespaces" in result.stderr
    # the host's view is untouched and still served warm
    host = _run(env, "config", cwd=project)
    assert "image: host-view" in host.stdout and "warm worker" in host.stderr


@pytest.mark.integration
def test_a_caller_with_another_nice_value_runs_in_process(engine):
    env, _engine, servers = engine
    _start_server(env, servers)
    assert "warm worker" in _run(env, "--help").stderr
    result = subprocess.run(["nice", "-n", "5"] + CLI + ["--help"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Usage: pycompose" in result.stdout
    assert "warm worker" not in result.stderr and "other namespaces" in result.stderr
    assert "warm worker" in _run(env, "--help").stderr


@pytest.mark.integration
def test_a_server_an_odd_caller_started_gives_way_to_the_next_caller(engine):
    """`nice -n 5 pycompose ...` (or `unshare -m`) with no server running starts one like
    itself; the next ordinary caller must not be turned away by it for good."""
    env, _engine, servers = engine
    engine_sock = env["PYCOMPOSE_HOST"][len("unix://"):]
    cli_sock = server_socket(engine_sock)
    odd = subprocess.Popen(["nice", "-n", "5"] + SERVER + [engine_sock], env=env,
                           stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    servers.append(odd)
    assert _wait_for(lambda: os.path.exists(cli_sock))
    first = _run(env, "--help")  # turned away: runs in-process, and the odd server goes
    assert first.returncode == 0 and "warm worker" not in first.stderr
    assert odd.wait(timeout=10) == 0
    assert "its first caller had other namespaces" in odd.stderr.read()
    # the in-process run started a server like this caller
    assert _wait_for(lambda: _socket_owner(cli_sock) not in (None, odd.pid))
    assert "warm worker" in _run(env, "--help").stderr


def _limits(pid: int) -> dict[str, tuple[str, str]]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): (row[26:47].strip(), row[47:68].strip()) for row in rows}


@pytest.mark.integration
def test_the_worker_runs_under_the_callers_lower_limits(engine):
    import resource

    env, _engine, servers = engine
    _start_server(env, servers)
    client = subprocess.Popen(
        CLI + ["container", "ls"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (200, 300)))
    try:
        worker = _worker_pid(client)
        # the worker sets them as it starts, before it runs the command
        assert _wait_for(lambda: _limits(worker)["Max open files"] == ("200", "300"), 10)
        assert _limits(worker)["Max processes"] == _limits(os.getpid())["Max processes"]
    finally:
        time.sleep(0.3)  # let the worker reach its blocking read
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=20) == 130


@pytest.mark.integration
def test_a_caller_with_a_higher_hard_limit_than_the_server(engine):
    import resource

    from compose.cli.warm_limits import CAP_SYS_RESOURCE, has_capability

    env, _engine, servers = engine
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = (min(soft, 100), min(hard, 150))
    engine_sock = env["PYCOMPOSE_HOST"][len("unix://"):]
    servers.append(subprocess.Popen(
        SERVER + [engine_sock], env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, lower)))
    assert _wait_for(lambda: os.path.exists(server_socket(engine_sock)))
    result = _run(env, "--help")
    assert result.returncode == 0 and "Usage: pycompose" in result.stdout
    if not has_capability(CAP_SYS_RESOURCE):
        # the server (as we) may not raise it for a worker: the command runs in-process
        assert "warm worker" not in result.stderr
        assert "resource limits above the server's" in result.stderr
        return
    # it may: the worker runs warm, under the caller's limits
    client = subprocess.Popen(CLI + ["container", "ls"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        worker = _worker_pid(client)
        assert _wait_for(lambda: _limits(worker)["Max open files"] == (str(soft), str(hard)), 10)
    finally:
        time.sleep(0.3)  # let the worker reach its blocking read
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=20) == 130


def test_limits_are_read_as_the_kernel_numbers_them():
    import resource

    from compose.cli.warm_limits import parse_limits

    limits = parse_limits(caller_limits())
    for number in (resource.RLIMIT_CPU, resource.RLIMIT_STACK, resource.RLIMIT_NOFILE,
                   resource.RLIMIT_NPROC, resource.RLIMIT_RTTIME):
        assert limits[number] == resource.getrlimit(number)


def test_limits_plan():
    from compose.cli.warm_limits import UNLIMITED, limits_plan

    own = [(UNLIMITED, UNLIMITED), (1024, 4096), (8, 8)]
    assert limits_plan(own, own, can_raise=False) == []
    assert limits_plan([(10, 20), (1024, 4096), (8, 8)], own, False) == [(0, 10, 20)]
    assert limits_plan([(UNLIMITED, UNLIMITED), (2048, 4096), (8, 8)], own, False) == \
        [(1, 2048, 4096)]
    # a hard limit above the server's needs CAP_SYS_RESOURCE
    assert limits_plan([(UNLIMITED, UNLIMITED), (1024, 8192), (8, 8)], own, False) is None
    assert limits_plan([(UNLIMITED, UNLIMITED), (1024, UNLIMITED), (8, 8)], own, False) is None
    assert limits_plan([(UNLIMITED, UNLIMITED), (1024, 8192), (8, 8)], own, True) == \
        [(1, 1024, 8192)]
    assert limits_plan(own[:2], own, True) is None  # not the same kernel's rows


def test_caller_context_names_namespaces_root_and_credentials():
    context = caller_context()
    mnt = os.stat("/proc/self/ns/mnt")
    assert f"mnt:[{mnt.st_ino}]".encode() in context.split(b";")
    assert any(part.startswith(b"CapEff:") for part in context.split(b";"))
    assert b"root=" in context and b"Groups:" in context
    assert caller_context() == context


# --- the server's own conduct ----------------------------------------------------------------

@pytest.mark.integration
def test_a_client_that_says_nothing_does_not_delay_the_next(engine):
    env, _engine, servers = engine
    _start_server(env, servers)
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    with socket.socket(socket.AF_UNIX) as silent, socket.socket(socket.AF_UNIX) as halfway:
        silent.connect(cli_sock)
        halfway.connect(cli_sock)
        halfway.sendall(struct.pack(">I", 1000) + b"PCW2\0")  # and then nothing more
        time.sleep(0.2)  # both are the server's to wait for now
        began = time.monotonic()
        result = _run(env, "--help")
        took = time.monotonic() - began
        assert result.returncode == 0 and "warm worker" in result.stderr
        assert took < 3.0  # the server gives a stalled request 5 s; it must not wait them out
        # the stalled ones are dropped at their deadline, not served
        silent.settimeout(15)
        assert silent.recv(64) == b""


@pytest.mark.integration
def test_the_server_removes_its_socket_and_lock_file_when_it_stops(engine):
    env, fake_engine, servers = engine
    server = _start_server(env, servers)
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    assert os.path.exists(cli_sock + ".lock")
    # a second server finds the lock taken, gives way and leaves the lock file alone
    assert subprocess.run(SERVER + [cli_sock[:-len(".cli")]], env=env, timeout=30).returncode == 0
    assert os.path.exists(cli_sock + ".lock")
    fake_engine.kill()
    fake_engine.wait()
    assert server.wait(timeout=10) == 0
    assert not os.path.exists(cli_sock) and not os.path.exists(cli_sock + ".lock")


@pytest.mark.integration
def test_a_crashed_servers_leftovers_are_taken_over_and_a_planted_link_is_not_followed(
        engine, tmp_path):
    env, fake_engine, servers = engine
    engine_sock = env["PYCOMPOSE_HOST"][len("unix://"):]
    cli_sock = server_socket(engine_sock)
    target = tmp_path / "victim"
    os.symlink(target, cli_sock + ".lock")
    refused = subprocess.run(SERVER + [engine_sock], env=env, capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 0 and "not started" in refused.stderr
    assert not target.exists() and not os.path.exists(cli_sock)

    os.unlink(cli_sock + ".lock")
    Path(cli_sock + ".lock").write_text("")  # a SIGKILLed server's: unlocked
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(cli_sock + ".new")  # and its half-made socket
    server = _start_server(env, servers)
    assert "warm worker" in _run(env, "--help").stderr
    fake_engine.kill()
    fake_engine.wait()
    assert server.wait(timeout=10) == 0
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith("engine.sock.")]
    assert leftovers == []


@pytest.mark.integration
def test_a_terminated_server_removes_its_socket_and_lock_file(engine):
    env, _engine, servers = engine
    server = _start_server(env, servers)
    cli_sock = server_socket(env["PYCOMPOSE_HOST"][len("unix://"):])
    assert "warm worker" in _run(env, "--help").stderr
    server.terminate()
    assert server.wait(timeout=10) == 128 + signal.SIGTERM
    assert not os.path.exists(cli_sock) and not os.path.exists(cli_sock + ".lock")


@pytest.mark.integration
@pytest.mark.parametrize("change", ["edit", "upgrade"])
def test_a_change_to_a_third_party_package_retires_the_server(engine, tmp_path, change):
    """The server imports a package from its own site-packages; changing that package (as
    `pip install -U` would: new files, a new dist-info) ends the server's service."""
    env, _engine, servers = engine
    site = tmp_path / "site-packages"
    (site / "pcthird").mkdir(parents=True)
    (site / "pcthird" / "__init__.py").write_text("VERSION = 1\n")
    (site / "pcthird-1.dist-info").mkdir()
    time.sleep(0.2)  # older than the server: else it takes them for changed as it starts
    engine_sock = env["PYCOMPOSE_HOST"][len("unix://"):]
    wrapper = ("import pcthird, runpy, sys; sys.argv[1:] = [sys.argv[1]]; "
               "runpy.run_module('compose.cli.warm_server', run_name='__main__')")
    repo = str(Path(__file__).resolve().parents[2])
    server_env = dict(env, PYTHONPATH=os.pathsep.join([str(site), repo]))
    server = subprocess.Popen([sys.executable, "-c", wrapper, engine_sock], env=server_env,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    servers.append(server)
    cli_sock = server_socket(engine_sock)
    assert _wait_for(lambda: os.path.exists(cli_sock))
    time.sleep(0.2)  # clear of the start-up check's window
    assert "warm worker" in _run(env, "--help").stderr
    if change == "edit":
        (site / "pcthird" / "__init__.py").write_text("VERSION = 2\n")
    else:
        (site / "pcthird-1.dist-info").rename(site / "pcthird-2.dist-info")
    assert server.wait(timeout=10) == 0
    assert not os.path.exists(cli_sock) and not os.path.exists(cli_sock + ".lock")
    assert "warm worker" not in _run(env, "--help").stderr


def test_the_servers_watch_covers_third_party_packages_and_site_packages():
    import trio
    import yaml

    from compose.cli.warm_server import loaded_files, package_dirs
    from compose.cli.warm_watch import watch_plan
    from compose.schema import SCHEMA_PATH

    plan = watch_plan(loaded_files(), package_dirs())
    for module in (trio, yaml, sys.modules[__name__]):
        directory, name = os.path.split(module.__file__)
        assert name in plan[directory].names
    assert plan[os.path.dirname(os.path.dirname(trio.__file__))].packages  # its site-packages
    assert SCHEMA_PATH.name in plan[str(SCHEMA_PATH.parent)].names


def test_the_watch_sees_loaded_files_and_installs_but_not_new_modules(tmp_path):
    from compose.cli.warm_watch import SourceWatch, Watched, changed_since, watch_plan

    site = tmp_path / "site-packages"
    package = site / "pkg"
    package.mkdir(parents=True)
    module = package / "mod.py"
    module.write_text("x = 1\n")
    began = time.time_ns()
    plan = watch_plan([str(module)], [str(site)])
    assert plan == {str(site): Watched(frozenset(), packages=True),
                    str(package): Watched(frozenset({"mod.py"}))}
    # written just now: possibly after an import read it
    assert changed_since(plan, began) in (str(module), str(site))
    assert changed_since(plan, time.time_ns() + 10**9) is None

    def fresh_watch_after(action) -> bool:
        watch = SourceWatch(plan)
        try:
            assert not watch.changed()
            action()
            return watch.changed()
        finally:
            watch.close()

    assert not fresh_watch_after(lambda: (package / "__pycache__").mkdir())
    assert not fresh_watch_after(lambda: (package / ".mod.py.swp").write_text(""))
    assert not fresh_watch_after(lambda: (package / "new.py").write_text(""))
    assert not fresh_watch_after(lambda: (site / "README.txt").write_text(""))
    assert fresh_watch_after(lambda: module.write_text("x = 2\n"))
    assert fresh_watch_after(lambda: os.utime(module))
    assert fresh_watch_after(lambda: (package / "new.py").rename(module))
    assert fresh_watch_after(lambda: (site / "pkg-2.0.dist-info").mkdir())
    assert fresh_watch_after(lambda: (site / "extra.pth").write_text(""))
    assert fresh_watch_after(lambda: package.rename(site / "moved"))
