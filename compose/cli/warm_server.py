"""The warm side of the warm CLI (see compose/cli/warm.py): one pre-imported process per engine.

`python -m compose.cli.warm_server ENGINE_SOCKET` takes a lock, finds the engine daemon behind
ENGINE_SOCKET (SO_PEERCRED, then a pidfd), imports the CLI's modules once, and listens on
`ENGINE_SOCKET.cli` (mode 0600, same uid only). Each request is served by a forked worker that takes
the client's stdio, working directory, umask, environment and argv and runs `compose.cli.main.main`.
The server itself never runs a command and holds no engine state, so a crash of either side costs
at most one cold start.

It stops listening when the engine exits, when a module it imported changed on disk (an upgrade
or an edit: the next command runs cold and starts a fresh server), or after IDLE_SECONDS without a
request; it exits once its last worker is gone.
"""
from __future__ import annotations

import fcntl
import io
import os
import selectors
import signal
import socket
import struct
import sys
import time

from compose.cli.warm import MAGIC, interpreter, package_dir, server_socket

IDLE_SECONDS = 30 * 60
ORPHAN_GRACE_SECONDS = 30.0  # workers still running this long after the engine left are killed
REQUEST_TIMEOUT = 5.0
MAX_REQUEST = 4 << 20
# Third-party modules commands import (often lazily); all of ours under these packages are loaded
# too (see preload). networkx and jsonschema stay out: no command path imports them.
PRELOAD = ("trio", "typer", "typer.main", "yaml", "rich.console", "rich.text", "rich.progress",
           "rich.table", "rich.markup")
PRELOAD_PACKAGES = ("compose", "engine.cli", "engine.client")
PRELOAD_MODULES = ("engine.build.client", "engine.build.context", "engine.build.ignore",
                   "engine.humanize", "engine.config", "engine.errors")


class Request:
    """One parsed command request (see the wire format in compose/cli/warm.py)."""

    def __init__(self, body: bytes) -> None:
        fields = body.split(b"\0")
        if len(fields) < 6 or fields[0] != MAGIC:
            raise ValueError("not a warm CLI request")
        self.cwd = os.fsdecode(fields[1])
        self.umask = int(fields[2], 8)
        self.exe = os.fsdecode(fields[3])
        self.pkg = os.fsdecode(fields[4])
        argc = int(fields[5])
        self.argv = [os.fsdecode(a) for a in fields[6:6 + argc]]
        if len(self.argv) != argc or argc < 1:
            raise ValueError("truncated argv")
        self.env: dict[bytes, bytes] = {}
        for entry in fields[6 + argc:]:
            key, eq, value = entry.partition(b"=")
            if eq and key:
                self.env[key] = value


def engine_pid(engine_sock: str) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(engine_sock)
        pid, _uid, _gid = struct.unpack("3i", probe.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid


def preload() -> None:
    """Import what commands use, build every verb's click command and read the schema, so that
    a worker starts with all of it done."""
    import importlib
    import pkgutil

    names = list(PRELOAD)
    for package_name in PRELOAD_PACKAGES:
        package = importlib.import_module(package_name)
        names += [info.name for info in pkgutil.walk_packages(package.__path__, package_name + ".")
                  if not info.name.endswith("warm_server")]
    names += PRELOAD_MODULES
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # a broken optional import only costs that command its warmth
            print(f"warm server: preload {name}: {type(e).__name__}: {e}", file=sys.stderr)
    from compose.cli.main import COMMANDS, command_for
    from compose.schema import load_schema

    for verb in COMMANDS:
        command_for(verb)
    load_schema()


def fingerprint() -> dict[str, int]:
    """mtime of every file of ours the server has loaded (modules and the schema)."""
    roots = tuple(os.path.join(os.path.dirname(package_dir()), top) + os.sep
                  for top in ("compose", "engine", "netbridge"))
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(roots):
            files[path] = _mtime(path)
    from compose.schema import SCHEMA_PATH

    files[str(SCHEMA_PATH)] = _mtime(str(SCHEMA_PATH))
    return files


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


class Server:
    def __init__(self, engine_sock: str) -> None:
        self.engine_sock = engine_sock
        self.path = server_socket(engine_sock)
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.socket_inode = 0
        self.lock_fd: int | None = None
        self.engine_pidfd: int | None = None
        self.files: dict[str, int] = {}
        # worker pidfd -> (pid, client connection)
        self.workers: dict[int, tuple[int, socket.socket]] = {}
        self.last_request = time.monotonic()
        self.engine_gone_at: float | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> bool:
        """Lock, find the engine, import, listen. False when another server holds the lock or the
        engine is not there."""
        self.lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        try:
            self.engine_pidfd = os.pidfd_open(engine_pid(self.engine_sock))
        except OSError:
            return False
        preload()
        self.files = fingerprint()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.path)
        finally:
            os.umask(old_umask)
        listener.listen(64)
        self.listener = listener
        self.socket_inode = os.stat(self.path).st_ino
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        self.selector.register(self.engine_pidfd, selectors.EVENT_READ, self._engine_gone)
        import gc

        gc.freeze()  # keep the imported heap shared with the workers (copy-on-write)
        return True

    def serve(self) -> None:
        while self.listener is not None or self.workers:
            now = time.monotonic()
            if self.engine_gone_at is not None:
                # the engine is gone: what still runs talks to nothing; don't linger for it
                if now - self.engine_gone_at > ORPHAN_GRACE_SECONDS:
                    for pidfd in self.workers:
                        _send_signal(pidfd, signal.SIGKILL)
                timeout = 1.0
            elif self.workers:
                timeout = None
            else:
                timeout = max(0.0, self.last_request + IDLE_SECONDS - now)
            events = self.selector.select(timeout)
            if not events and not self.workers:
                self.stop_listening()
            for key, _mask in events:
                key.data(key.fileobj)

    def stop_listening(self) -> None:
        """No new requests; release the socket and the lock so a fresh server can take over."""
        if self.listener is not None:
            self.selector.unregister(self.listener)
            try:
                if os.stat(self.path).st_ino == self.socket_inode:  # not a successor's
                    os.unlink(self.path)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        if self.engine_pidfd is not None:
            self.selector.unregister(self.engine_pidfd)
            os.close(self.engine_pidfd)
            self.engine_pidfd = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    # --- events ---------------------------------------------------------------------------

    def _engine_gone(self, _fd) -> None:
        self.engine_gone_at = time.monotonic()
        self.stop_listening()

    def _accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        self.last_request = time.monotonic()
        try:
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid != os.getuid():
                conn.close()
                return
            request, fds = _receive(conn)
        except (OSError, ValueError) as e:
            print(f"warm server: bad request: {e}", file=sys.stderr)
            conn.close()
            return
        try:
            if request.exe != interpreter() or request.pkg != package_dir():
                conn.sendall(b"stale\n")  # another Python or checkout: it runs in-process
                conn.close()
                return
            if fingerprint() != self.files:
                conn.sendall(b"stale\n")
                conn.close()
                self.stop_listening()  # our code changed on disk: make way for a fresh server
                return
            pid = os.fork()
            if pid == 0:
                self._become_worker(conn, fds, request)  # never returns
            pidfd = os.pidfd_open(pid)
            self.workers[pidfd] = (pid, conn)
            self.selector.register(pidfd, selectors.EVENT_READ, self._worker_done)
            self.selector.register(conn, selectors.EVENT_READ,
                                   lambda c, pidfd=pidfd: self._client_says(pidfd, c))
            conn.sendall(b"pid %d\n" % pid)
        except OSError as e:
            print(f"warm server: {e}", file=sys.stderr)
            if not any(c is conn for _pid, c in self.workers.values()):
                conn.close()  # no worker took it: the client sees EOF and runs the command itself
        finally:
            for fd in fds:
                os.close(fd)

    def _client_says(self, pidfd: int, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            # the client is gone (killed): so is the command it ran
            self.selector.unregister(conn)
            _send_signal(pidfd, signal.SIGKILL)
            return
        for line in data.splitlines():
            word, _, number = line.partition(b" ")
            if word == b"sig" and number.isdigit():
                _send_signal(pidfd, int(number))

    def _worker_done(self, pidfd: int) -> None:
        pid, conn = self.workers.pop(pidfd)
        self.selector.unregister(pidfd)
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        if os.WIFSIGNALED(status):
            reply = b"signal %d\n" % os.WTERMSIG(status)
        else:
            reply = b"exit %d\n" % os.waitstatus_to_exitcode(status)
        try:
            conn.sendall(reply)
        except OSError:
            pass
        conn.close()

    # --- the worker -----------------------------------------------------------------------

    def _become_worker(self, conn: socket.socket, fds: list[int], request: Request) -> None:
        code = 1
        try:
            self.selector.close()
            if self.listener is not None:
                self.listener.close()
            for fd in [self.engine_pidfd, self.lock_fd, *self.workers]:
                if fd is not None:
                    os.close(fd)
            for _pid, other in self.workers.values():
                other.close()
            conn.close()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD,
                           signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
                signal.signal(signum, signal.SIG_DFL)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                if fd > 2:
                    os.close(fd)
            os.environ.clear()
            os.environb.update(request.env)
            os.umask(request.umask)
            os.chdir(request.cwd)
            sys.argv = list(request.argv)
            _adopt_stdio()
            from compose.cli.main import main

            code = main(request.argv[1:])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except KeyboardInterrupt:
            code = 130
        except BaseException as e:  # the edge of the worker: one line, like main's boundary
            try:
                sys.stderr.write(f"Error: internal error: {type(e).__name__}: {e}\n")
            except Exception:
                pass
        finally:
            _exit_worker(code)


_OLD_STREAMS: list = []  # the server's stdio objects: kept alive so their finalizers never close 0-2


def _adopt_stdio() -> None:
    """Rebuild sys.stdin/stdout/stderr over the fds the client passed, buffered as Python would
    have buffered them had it started on those fds."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        _OLD_STREAMS.append(old)
        tty = os.isatty(fd)
        if fd == 0:
            binary = io.BufferedReader(io.FileIO(fd, "rb", closefd=False))
        else:
            binary = io.BufferedWriter(io.FileIO(fd, "wb", closefd=False))
        stream = io.TextIOWrapper(
            binary, encoding=getattr(old, "encoding", None) or "utf-8",
            errors="backslashreplace" if fd == 2 else (getattr(old, "errors", None) or "strict"),
            line_buffering=fd != 0 and (tty or fd == 2),
            write_through=fd != 0 and unbuffered)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _exit_worker(code: int) -> None:
    try:
        import atexit
        import threading

        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code & 0xFF)


def _receive(conn: socket.socket) -> tuple[Request, list[int]]:
    conn.settimeout(REQUEST_TIMEOUT)
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request carries stdin, stdout and stderr")
    try:
        while len(data) < 4:
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("truncated request")
            data += chunk
        (length,) = struct.unpack(">I", data[:4])
        if length > MAX_REQUEST:
            raise ValueError("request too large")
        while len(data) < 4 + length:
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("truncated request")
            data += chunk
        request = Request(data[4:4 + length])
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return request, fds


def _send_signal(pidfd: int, signum: int) -> None:
    """Best effort: the worker may be gone (ESRCH), and a client's bad signal number (EINVAL)
    must not end the server."""
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except (OSError, ValueError, OverflowError):
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m compose.cli.warm_server ENGINE_SOCKET", file=sys.stderr)
        return 2
    server = Server(argv[0])
    try:
        if not server.start():
            return 0
        server.serve()
    finally:
        server.stop_listening()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
