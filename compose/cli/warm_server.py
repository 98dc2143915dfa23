"""The warm side of the warm CLI (see compose/cli/warm.py): one pre-imported process per engine.

`python -m compose.cli.warm_server ENGINE_SOCKET` takes a lock, finds the engine daemon behind
ENGINE_SOCKET (SO_PEERCRED, then a pidfd), imports the CLI's modules once, and listens on
`ENGINE_SOCKET.cli` (mode 0600, same euid only, in a directory no one else can write to). Each
request is served by a forked worker that takes the client's stdio, working directory, umask,
environment, resource limits and argv and runs `compose.cli.main.main`. A client that does not
share the server's namespaces, root and credentials is told "stale" and runs the command itself.
The server itself never runs a command and holds no engine state, so a crash of either side costs
at most one cold start.

Requests arrive on non-blocking connections, each with its own deadline: a client that connects
and says nothing holds up no one else.

It stops listening (and removes its socket and lock file) when the engine exits, when code it
imported changed on disk (compose/cli/warm_watch.py: an upgrade or an edit, ours or a third-party
package's; the next command runs cold and starts a fresh server), or after IDLE_SECONDS without a
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

from compose.cli.warm import (caller_context, caller_limits, interpreter, package_dir,
                              server_socket, trusted_directory)
from compose.cli.warm_limits import (CAP_SYS_RESOURCE, apply_limits, has_capability, limits_plan,
                                     parse_limits)
from compose.cli.warm_request import PendingRequest, Request
from compose.cli.warm_watch import SourceWatch, changed_since, watch_plan

IDLE_SECONDS = 30 * 60
ORPHAN_GRACE_SECONDS = 30.0  # workers still running this long after the engine left are killed
REQUEST_TIMEOUT = 5.0
MAX_PENDING = 64  # connections still sending their request; more are turned away
MAX_CLIENT_LINE = 64  # a client's "sig N" line; an unfinished one longer than this is noise
# Third-party modules commands import (often lazily); all of ours under these packages are loaded
# too (see preload). networkx: `up`, `down`, `start`, `stop` and `run` order services by a
# networkx graph (compose/graph.py), 0.1-0.2 s to import. jsonschema stays out: no command
# path imports it.
PRELOAD = ("trio", "typer", "typer.main", "yaml", "rich.console", "rich.text", "rich.progress",
           "rich.table", "rich.markup", "networkx")
PRELOAD_PACKAGES = ("compose", "engine.client")
PRELOAD_MODULES = ("engine.client.build", "engine.contextdir", "engine.dockerignore",
                   "engine.humanize", "engine.config", "engine.errors")
# Signals a client may forward (and the worker resets): held back from fork until the worker's
# own handlers are in place, else one that lands in between is lost (Python's after-fork code
# drops signals that arrived before it ran) and the worker never learns of a Ctrl-C.
WORKER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                            signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH})


# --- start-up --------------------------------------------------------------------------------

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


def loaded_files() -> list[str]:
    """Every file the server has loaded code or data from: all modules (ours and third-party,
    C extensions too) and the schema."""
    from compose.schema import SCHEMA_PATH

    files = [str(SCHEMA_PATH)]
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and os.path.isabs(path):
            files.append(path)
    return files


def package_dirs() -> list[str]:
    """The sys.path directories pip installs into (new `*.dist-info`, `.pth` files appear here)."""
    return [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]


class Server:
    def __init__(self, engine_sock: str) -> None:
        self.engine_sock = engine_sock
        self.path = server_socket(engine_sock)
        self.lock_path = self.path + ".lock"
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.socket_inode = 0
        self.lock_fd: int | None = None
        self.lock_id: tuple[int, int] | None = None
        self.engine_pidfd: int | None = None
        self.watch: SourceWatch | None = None
        self.context = b""
        self.limits: list[tuple[int, int]] = []
        self.can_raise_limits = False
        # worker pidfd -> (pid, client connection)
        self.workers: dict[int, tuple[int, socket.socket]] = {}
        # worker pidfd -> the start of a client line not yet complete (a stream socket keeps
        # no message boundaries: "sig 2\n" may arrive as "si" and "g 2\n")
        self.client_partial: dict[int, bytes] = {}
        self.pending: dict[socket.socket, PendingRequest] = {}
        self.last_request = time.monotonic()
        self.served = False  # a worker was forked for some caller
        self.engine_gone_at: float | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> bool:
        """Lock, find the engine, import, watch, listen. False when the directory is not safe,
        another server holds the lock, the engine is not there or the code changed meanwhile."""
        refusal = trusted_directory(os.path.dirname(self.path) or ".")
        if refusal:
            print(f"warm server: not started: {refusal}", file=sys.stderr)
            return False
        if not self._take_lock():
            return False
        try:
            self.engine_pidfd = os.pidfd_open(engine_pid(self.engine_sock))
        except OSError:
            return False
        began = time.time_ns()
        preload()
        self.context = caller_context()
        self.limits = parse_limits(caller_limits())
        self.can_raise_limits = has_capability(CAP_SYS_RESOURCE)
        plan = watch_plan(loaded_files(), package_dirs())
        try:
            self.watch = SourceWatch(plan)
        except OSError as e:
            print(f"warm server: not started: cannot watch its code: {e}", file=sys.stderr)
            return False
        changed = changed_since(plan, began)
        if changed:  # the next command starts afresh
            print(f"warm server: not started: {changed} changed as it was imported",
                  file=sys.stderr)
            return False
        try:
            self._listen()
        except OSError as e:
            print(f"warm server: not started: {self.path}: {e.strerror}", file=sys.stderr)
            return False
        self.selector.register(self.engine_pidfd, selectors.EVENT_READ, self._engine_gone)
        self.selector.register(self.watch, selectors.EVENT_READ, self._code_event)
        import gc

        gc.freeze()  # keep the imported heap shared with the workers (copy-on-write)
        return True

    def _take_lock(self) -> bool:
        """One server per engine. The lock file is removed by its holder when it stops, so a
        lock taken on a file that is no longer at the path is retried on the fresh one."""
        for _attempt in range(3):
            try:
                fd = os.open(self.lock_path,
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as e:
                print(f"warm server: not started: {self.lock_path}: {e.strerror}",
                      file=sys.stderr)
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = os.fstat(fd)
                at_path = os.stat(self.lock_path)
            except OSError:
                os.close(fd)
                return False  # held by a running server (or removed under us: let it be)
            if (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino):
                self.lock_fd, self.lock_id = fd, (held.st_dev, held.st_ino)
                return True
            os.close(fd)
        return False

    def _listen(self) -> None:
        """Bind under a temporary name and rename it into place once listening: a client never
        finds the socket before it accepts (it would be refused and run cold)."""
        fresh = self.path + ".new"
        _unlink(fresh)  # a crashed predecessor's; we hold the lock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(fresh)
            listener.listen(64)
            os.rename(fresh, self.path)
        except OSError:
            listener.close()
            _unlink(fresh)
            raise
        finally:
            os.umask(old_umask)
        listener.setblocking(False)
        self.listener = listener
        self.socket_inode = os.stat(self.path).st_ino
        self.selector.register(listener, selectors.EVENT_READ, self._accept)

    def serve(self) -> None:
        while self.listener is not None or self.workers:
            now = time.monotonic()
            for pending in [p for p in self.pending.values() if p.deadline <= now]:
                print(f"warm server: bad request: none within {REQUEST_TIMEOUT:.0f} s",
                      file=sys.stderr)
                self._drop(pending)
            for key, _mask in self.selector.select(self._timeout(now)):
                if self._registered(key):  # an earlier event of the batch may have closed it
                    key.data(key.fileobj)
            if self.listener is not None and not self.workers and not self.pending \
                    and time.monotonic() >= self.last_request + IDLE_SECONDS:
                self.stop_listening()

    def _registered(self, key: selectors.SelectorKey) -> bool:
        try:
            return self.selector.get_key(key.fileobj) is key
        except (KeyError, ValueError):
            return False

    def _timeout(self, now: float) -> float | None:
        deadlines = [p.deadline for p in self.pending.values()]
        if self.engine_gone_at is not None:
            # the engine is gone: what still runs talks to nothing; don't linger for it
            if now - self.engine_gone_at > ORPHAN_GRACE_SECONDS:
                for pidfd in self.workers:
                    _send_signal(pidfd, signal.SIGKILL)
            deadlines.append(now + 1.0)
        elif not self.workers:
            deadlines.append(self.last_request + IDLE_SECONDS)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def stop_listening(self) -> None:
        """No new requests; release the socket and the lock (removing both if still ours) so a
        fresh server can take over."""
        for pending in list(self.pending.values()):
            self._drop(pending)
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
            self._forget_fd(self.engine_pidfd)
            os.close(self.engine_pidfd)
            self.engine_pidfd = None
        if self.watch is not None:
            self._forget_fd(self.watch)
            self.watch.close()
            self.watch = None
        if self.lock_fd is not None:
            try:
                at_path = os.stat(self.lock_path)
                if (at_path.st_dev, at_path.st_ino) == self.lock_id:
                    os.unlink(self.lock_path)  # while still holding it: see _take_lock
            except OSError:
                pass
            os.close(self.lock_fd)
            self.lock_fd = None

    def _forget_fd(self, fileobj) -> None:
        try:
            self.selector.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    # --- events ---------------------------------------------------------------------------

    def _engine_gone(self, _fd) -> None:
        self.engine_gone_at = time.monotonic()
        self.stop_listening()

    def _code_event(self, watch: SourceWatch) -> None:
        if watch.changed():
            self._retire(watch)

    def _retire(self, watch: SourceWatch) -> None:
        """Our code changed on disk: make way for a fresh server."""
        print(f"warm server: stopped: {watch.what} changed", file=sys.stderr)
        self.stop_listening()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        try:
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except OSError:
            uid = -1
        if uid != os.geteuid() or len(self.pending) >= MAX_PENDING:
            conn.close()
            return
        conn.setblocking(False)
        pending = PendingRequest(conn, time.monotonic() + REQUEST_TIMEOUT)
        self.pending[conn] = pending
        self.selector.register(conn, selectors.EVENT_READ, self._request_data)

    def _request_data(self, conn: socket.socket) -> None:
        pending = self.pending[conn]
        try:
            request = pending.feed()
        except EOFError:
            self._drop(pending)
            return
        except (OSError, ValueError) as e:
            print(f"warm server: bad request: {e}", file=sys.stderr)
            self._drop(pending)
            return
        if request is None:
            return
        del self.pending[conn]
        self.selector.unregister(conn)
        fds, pending.fds = pending.fds, []
        try:
            self._dispatch(conn, request, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _drop(self, pending: PendingRequest) -> None:
        self.pending.pop(pending.conn, None)
        self._forget_fd(pending.conn)
        pending.close_fds()
        pending.conn.close()

    def _refusal(self, request: Request) -> tuple[str | None, list[tuple[int, int, int]]]:
        """Why this server must not run the request (None: it may), and the limits to set."""
        if request.exe != interpreter() or request.pkg != package_dir():
            return "another Python or pycompose", []
        if request.context != self.context:
            return self._mismatch("other namespaces, root, credentials or scheduling"), []
        try:
            plan = limits_plan(parse_limits(request.limits), self.limits, self.can_raise_limits)
        except ValueError:
            plan = None
        if plan is None:
            return self._mismatch("resource limits above the server's"), []
        if self.watch is None:
            return "it is stopping", []
        if self.watch.changed():
            self._retire(self.watch)
            return "its code changed", []
        return None, plan

    def _mismatch(self, reason: str) -> str:
        """A caller this server cannot serve. If it has served no one yet, it was likely started
        by an odd one-off caller (`unshare -m`, `nice`): make way for a server like this caller,
        which runs cold now and starts one, rather than turn everyone away for good."""
        if not self.served:
            print(f"warm server: stopped: its first caller had {reason}", file=sys.stderr)
            self.stop_listening()
        return reason

    def _dispatch(self, conn: socket.socket, request: Request, fds: list[int]) -> None:
        try:
            refusal, limits = self._refusal(request)
            if refusal is not None:
                conn.sendall(b"stale %s\n" % refusal.encode())  # the client runs it in-process
                conn.close()
                return
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
            try:
                pid = os.fork()
                if pid == 0:
                    self._become_worker(conn, fds, request, limits, old_mask)  # never returns
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            self.served = True
            self.last_request = time.monotonic()  # a server that only turns callers away idles out
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

    def _client_says(self, pidfd: int, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # the client is gone (killed): so is the command it ran
            self.selector.unregister(conn)
            self.client_partial.pop(pidfd, None)
            _send_signal(pidfd, signal.SIGKILL)
            return
        *lines, rest = (self.client_partial.pop(pidfd, b"") + data).split(b"\n")
        if rest and len(rest) <= MAX_CLIENT_LINE:
            self.client_partial[pidfd] = rest
        for line in lines:
            word, _, number = line.partition(b" ")
            if word == b"sig" and number.isdigit():
                _send_signal(pidfd, int(number))

    def _worker_done(self, pidfd: int) -> None:
        pid, conn = self.workers.pop(pidfd)
        self.client_partial.pop(pidfd, None)
        self.selector.unregister(pidfd)
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        self._forget_fd(conn)
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

    def _close_inherited(self, conn: socket.socket) -> None:
        """What the worker inherited from the server and must not hold (other clients' conns)."""
        self.selector.close()
        if self.listener is not None:
            self.listener.close()
        for fd in [self.engine_pidfd, self.lock_fd, *self.workers]:
            if fd is not None:
                os.close(fd)
        if self.watch is not None:
            self.watch.close()
        for _pid, other in self.workers.values():
            other.close()
        for pending in self.pending.values():
            pending.close_fds()
            pending.conn.close()
        conn.close()

    def _become_worker(self, conn: socket.socket, fds: list[int], request: Request,
                       limits: list[tuple[int, int, int]], old_mask) -> None:
        code = 1
        try:
            self._close_inherited(conn)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for signum in WORKER_SIGNALS - {signal.SIGINT}:
                signal.signal(signum, signal.SIG_DFL)
            # a signal the client forwarded since the fork is delivered here, to these handlers
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            apply_limits(limits)
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


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _send_signal(pidfd: int, signum: int) -> None:
    """Best effort: the worker may be gone (ESRCH), and a client's bad signal number (EINVAL)
    must not end the server."""
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except (OSError, ValueError, OverflowError):
        pass


def _leave(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m compose.cli.warm_server ENGINE_SOCKET", file=sys.stderr)
        return 2
    server = Server(argv[0])
    # a plain `kill` (or a hang-up) still removes the socket and the lock file on the way out
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _leave)
    try:
        if not server.start():
            return 0
        server.serve()
    finally:
        server.stop_listening()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
