"""The thin side of the warm CLI: hand this command to a pre-imported pycompose process.

Importing trio, typer, rich and the compose model costs about 0.3 s per command on a small VM,
more than most commands then spend working. So, per engine, a warm server (compose/cli/warm_server.py)
keeps those modules imported and forks one worker per command. This module is the client half: it
imports only the standard library's basics, sends argv, environment, working directory, umask and
its stdin/stdout/stderr (as file descriptors) over a unix socket next to the engine's, forwards the
signals it gets (Ctrl-C, SIGTERM, SIGWINCH, job control) and exits as the worker did.

Nothing here is required: when no server answers, the command runs in this process as before and a
server is started in the background for the next one. PYCOMPOSE_WARM=0 turns all of it off.

Wire format (a unix stream socket; the peer must be the same uid):
  request   4-byte big-endian length, then NUL-separated fields: b"PCW1", cwd, umask (octal),
            interpreter(), the compose package directory, argc, argv..., then KEY=VALUE
            environment entries; stdin/stdout/stderr ride along as SCM_RIGHTS on the first byte.
  replies   b"pid N\\n" once the worker runs, then b"exit N\\n" or b"signal N\\n";
            b"stale\\n" instead when the server cannot serve this client (run in-process then).
  client    b"sig N\\n" for each forwarded signal.
"""
from __future__ import annotations

import os
import signal
import struct
import sys

# `_socket`, not `socket`: the wrapper module and the `selectors` it imports would cost this path
# 6 ms, more than everything else it imports.
import _socket

MAGIC = b"PCW1"
DEFAULT_ENGINE_SOCKET = "/run/pycompose/engine.sock"
# Signals the client passes on to its worker, as a terminal would deliver them to it.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH,
             signal.SIGUSR1, signal.SIGUSR2)


def enabled(env=os.environ) -> bool:
    return env.get("PYCOMPOSE_WARM", "1") not in ("0", "no", "false", "off")


def engine_socket(env=os.environ) -> str | None:
    host = env.get("PYCOMPOSE_HOST", "unix://" + DEFAULT_ENGINE_SOCKET)
    return host[len("unix://"):] if host.startswith("unix://") else None


def server_socket(engine_sock: str) -> str:
    """`/run/pycompose/engine.sock` -> `/run/pycompose/engine.sock.cli`: one server per engine."""
    return engine_sock + ".cli"


def interpreter() -> str:
    """Which Python this is: the binary behind any symlink (python3, python3.11 and the console
    script's interpreter are one) plus the prefix (a venv shares the binary, not the packages)."""
    return os.path.realpath(sys.executable) + "|" + sys.prefix


def package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def encode_request(argv: list[str], cwd: str, umask: int, exe: str, pkg: str,
                   environ: dict[bytes, bytes]) -> bytes:
    fields = [MAGIC, os.fsencode(cwd), b"%o" % umask, os.fsencode(exe), os.fsencode(pkg),
              b"%d" % len(argv)]
    fields += [os.fsencode(a) for a in argv]
    fields += [k + b"=" + v for k, v in environ.items()]
    body = b"\0".join(fields)
    return struct.pack(">I", len(body)) + body


def try_run(argv: list[str]) -> int | None:
    """Run `pycompose argv` in a warm worker and return its exit code, or None when there is no
    usable server (the caller then runs the command itself)."""
    if not enabled():
        return None
    engine_sock = engine_socket()
    if engine_sock is None:
        return None
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(server_socket(engine_sock))
    except OSError:
        conn.close()
        return None
    umask = os.umask(0)
    os.umask(umask)
    request = encode_request([sys.argv[0]] + argv, cwd, umask, interpreter(), package_dir(),
                             dict(os.environb))
    stdio, spare = _stdio_fds()
    try:
        conn.sendmsg([request[:1]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                      struct.pack("3i", *stdio))])
        conn.sendall(request[1:])
    except OSError:
        conn.close()
        return None
    finally:
        for fd in spare:
            os.close(fd)
    reader = _Lines(conn)
    first = reader.next()
    if first is None or not first.startswith(b"pid "):
        conn.close()
        return None
    if os.environ.get("PYCOMPOSE_WARM_TRACE"):
        sys.stderr.write(f"pycompose: warm worker {int(first[4:])}\n")
        sys.stderr.flush()
    return _follow(conn, reader)


def _stdio_fds() -> tuple[list[int], list[int]]:
    """fds 0-2 to pass on; a closed one is replaced by /dev/null (returned also as `spare`)."""
    fds, spare = [], []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            spare.append(null)
            fds.append(null)
    return fds, spare


class _Lines:
    def __init__(self, conn: _socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def next(self) -> bytes | None:
        while b"\n" not in self.buffer:
            try:
                chunk = self.conn.recv(256)
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def _follow(conn: _socket.socket, reader: _Lines) -> int:
    def forward(signum, _frame) -> None:
        try:
            conn.sendall(b"sig %d\n" % signum)
        except OSError:
            pass

    def suspend(_signum, _frame) -> None:
        # Ctrl-Z: stop the worker, then ourselves; SIGCONT (fg/bg) resumes both.
        forward(signal.SIGSTOP, None)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, suspend)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.signal(signal.SIGCONT, forward)
    signal.signal(signal.SIGTSTP, suspend)
    while True:
        line = reader.next()
        if line is None:
            sys.stderr.write("Error: the pycompose worker went away (see PYCOMPOSE_WARM in the "
                             "README)\n")
            return 1
        word, _, number = line.partition(b" ")
        if word == b"exit":
            return int(number)
        if word == b"signal":
            # die the way the worker died, so shells report it alike
            signum = int(number)
            conn.close()
            sys.stdout.flush()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return 128 + signum


def start_server() -> None:
    """Start a warm server for this engine in the background, if the engine is up. Best effort:
    any failure only means the next command runs cold too."""
    if not enabled():
        return
    engine_sock = engine_socket()
    if engine_sock is None or not os.path.exists(engine_sock) \
            or not os.access(os.path.dirname(engine_sock) or ".", os.W_OK):
        return  # no engine, or we could not make the server's socket next to it anyway
    import subprocess

    root = os.environ.get("PYCOMPOSE_ROOT", "/var/lib/pycompose")
    try:
        log = open(os.path.join(root, "warm-cli.log"), "ab")
    except OSError:
        log = subprocess.DEVNULL
    try:
        # the server must import the very code this client runs, also from a bare checkout
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.path.dirname(package_dir()), env.get("PYTHONPATH")) if p)
        subprocess.Popen([sys.executable, "-m", "compose.cli.warm_server", engine_sock],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", env=env,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
