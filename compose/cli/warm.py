"""The thin side of the warm CLI: hand this command to a pre-imported pycompose process.

Importing trio, typer, rich and the compose model costs about 0.3 s per command on a small VM,
more than most commands then spend working. So, per engine, a warm server (compose/cli/warm_server.py)
keeps those modules imported and forks one worker per command. This module is the client half: it
imports only the standard library's basics, sends argv, environment, working directory, umask and
its stdin/stdout/stderr (as file descriptors) over a unix socket next to the engine's, forwards the
signals it gets (Ctrl-C, SIGTERM, SIGWINCH, job control) and exits as the worker did.

Nothing here is required: when no server answers, the command runs in this process as before and a
server is started in the background for the next one. PYCOMPOSE_WARM=0 turns all of it off.

Who may serve a command (the caller's environment, argv and terminal go to the server):
  - the directory holding the engine's socket (and so the server's) must be owned by root or by us
    and writable by no one else: neither group- nor other-writable, sticky bit or not (in a sticky
    /tmp another user can still take the name first). A server is never started in, and a client
    never connects into, any other directory;
  - the server's socket file must be a socket owned by our effective uid, and the process listening
    on it (SO_PEERCRED) must run as our effective uid; this is checked before anything is sent;
  - the server answers b"stale" (and the command runs in-process) unless the caller shares its
    namespaces (mount, pid, net, user, uts, ipc, cgroup), root directory and credentials beyond the
    uid (groups, capabilities, no_new_privs, seccomp), nice value and CPU affinity — see
    caller_context(). Resource limits may differ: the worker takes the caller's (see
    compose/cli/warm_server.py). The cgroup a worker runs in is the server's, not the caller's.
Any refusal runs the command in-process; PYCOMPOSE_WARM_TRACE=1 prints the reason on stderr.

Wire format (a unix stream socket):
  request   4-byte big-endian length, then NUL-separated fields: b"PCW2", cwd, umask (octal),
            interpreter(), the compose package directory, caller_context(), the text of
            /proc/self/limits, argc, argv..., then KEY=VALUE environment entries;
            stdin/stdout/stderr ride along as SCM_RIGHTS on the first byte.
  replies   b"pid N\\n" once the worker runs, then b"exit N\\n" or b"signal N\\n";
            b"stale REASON\\n" instead when the server cannot serve this client (it runs
            in-process then).
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

MAGIC = b"PCW2"
DEFAULT_ENGINE_SOCKET = "/run/pycompose/engine.sock"
# Signals the client passes on to its worker, as a terminal would deliver them to it.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH,
             signal.SIGUSR1, signal.SIGUSR2)
# What a worker must share with its caller to see and do what the caller would: which files a
# path names (mnt, and the root directory), which process a pid names (pid), addresses (net), what
# ids and capabilities mean (user), and the rest for good measure (uts, ipc, cgroup).
NAMESPACES = ("mnt", "pid", "net", "user", "uts", "ipc", "cgroup")
# /proc/self/status lines that must match: credentials SO_PEERCRED does not show
CREDENTIAL_FIELDS = (b"Uid:", b"Gid:", b"Groups:", b"CapInh:", b"CapPrm:", b"CapEff:", b"CapBnd:",
                     b"CapAmb:", b"NoNewPrivs:", b"Seccomp:")
_S_IFMT, _S_IFSOCK = 0o170000, 0o140000


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


def directory_refusal(directory: str, owner: int, mode: int, euid: int) -> str | None:
    """Why a server's socket must not live in this directory (None: it may). Only root and we
    may be able to create, replace or remove names in it."""
    if owner not in (0, euid):
        return f"{directory} belongs to uid {owner}"
    if mode & 0o022:
        return f"{directory} is writable by others (mode {mode & 0o7777:o})"
    return None


def socket_refusal(path: str, owner: int, mode: int, euid: int) -> str | None:
    if mode & _S_IFMT != _S_IFSOCK:
        return f"{path} is not a socket"
    if owner != euid:
        return f"{path} belongs to uid {owner}"
    return None


def trusted_directory(directory: str) -> str | None:
    """directory_refusal() of a directory on disk (a reason also when it cannot be stat-ed)."""
    try:
        st = os.stat(directory)
    except OSError as e:
        return f"{directory}: {e.strerror}"
    return directory_refusal(directory, st.st_uid, st.st_mode, os.geteuid())


def caller_context() -> bytes:
    """This process's namespaces, root directory, credentials and scheduling (nice, CPUs), as
    one comparable value (about 60 us on an idle machine: seven readlinks, a stat and one read
    of /proc/self/status)."""
    # readlink ("mnt:[4026531841]": nsfs is one file system, the inode names the namespace)
    # costs half a stat of the link, which would follow it into nsfs
    ns_dir = os.open("/proc/self/ns", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = [os.readlink(name, dir_fd=ns_dir).encode() for name in NAMESPACES]
    finally:
        os.close(ns_dir)
    st = os.stat("/")
    parts.append(b"root=%d:%d" % (st.st_dev, st.st_ino))
    parts += [line.replace(b"\t", b" ") for line in _read("/proc/self/status").splitlines()
              if line.startswith(CREDENTIAL_FIELDS)]
    # how the caller asked to be scheduled (`nice`, `taskset`), which a worker would not inherit
    parts.append(b"nice=%d" % os.getpriority(os.PRIO_PROCESS, 0))
    parts.append(b"cpus=" + b",".join(b"%d" % cpu for cpu in sorted(os.sched_getaffinity(0))))
    return b";".join(parts)


def caller_limits() -> bytes:
    """The text of /proc/self/limits (one read; importing `resource` would cost 0.3 ms)."""
    return _read("/proc/self/limits")


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def encode_request(argv: list[str], cwd: str, umask: int, exe: str, pkg: str,
                   environ: dict[bytes, bytes], context: bytes = b"",
                   limits: bytes = b"") -> bytes:
    fields = [MAGIC, os.fsencode(cwd), b"%o" % umask, os.fsencode(exe), os.fsencode(pkg),
              context, limits, b"%d" % len(argv)]
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
    conn, refusal = connect(server_socket(engine_sock))
    if conn is None:
        _trace(refusal)
        return None
    try:
        cwd = os.getcwd()
        context, limits = caller_context(), caller_limits()
    except OSError as e:
        conn.close()
        _trace(f"cannot describe this process: {e}")
        return None
    umask = os.umask(0)
    os.umask(umask)
    request = encode_request([sys.argv[0]] + argv, cwd, umask, interpreter(), package_dir(),
                             dict(os.environb), context, limits)
    relay = _Relay(conn)  # from here a Ctrl-C is the command's, wherever it runs
    stdio, spare = _stdio_fds()
    try:
        conn.sendmsg([request[:1]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                      struct.pack("3i", *stdio))])
        conn.sendall(request[1:])
        first = (reader := _Lines(conn)).next()
    except OSError:
        first = None
    finally:
        for fd in spare:
            os.close(fd)
    if first is None or not first.startswith(b"pid "):
        conn.close()
        stale = first is not None and first.startswith(b"stale")
        _trace(f"the server cannot serve this process: {first[6:].decode(errors='replace')}"
               if stale else "the server hung up")
        return relay.abandon()
    if os.environ.get("PYCOMPOSE_WARM_TRACE"):
        sys.stderr.write(f"pycompose: warm worker {int(first[4:])}\n")
        sys.stderr.flush()
    relay.start()
    return _follow(conn, reader)


def connect(path: str) -> tuple[_socket.socket | None, str]:
    """A connection to the server at `path` that may be trusted with a request, or None and why
    not. Nothing is sent: the caller's environment goes only to a server running as our euid,
    listening in a directory no one else can write to."""
    euid = os.geteuid()
    try:
        st = os.lstat(path)
    except OSError as e:
        return None, f"{path}: {e.strerror}"
    refusal = socket_refusal(path, st.st_uid, st.st_mode, euid) \
        or trusted_directory(os.path.dirname(path) or ".")
    if refusal:
        return None, refusal
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(path)
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
            _socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))
    except OSError as e:
        conn.close()
        return None, f"{path}: {e.strerror}"
    if uid != euid:
        conn.close()
        return None, f"{path} is served by uid {uid}"
    return conn, ""


def _trace(reason: str) -> None:
    if os.environ.get("PYCOMPOSE_WARM_TRACE"):
        sys.stderr.write(f"pycompose: warm CLI not used: {reason}\n")
        sys.stderr.flush()


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


class _Relay:
    """The client's signals, which belong to the worker: held while the request is on its way,
    forwarded once the worker runs, given back to this process if none will."""

    def __init__(self, conn: _socket.socket) -> None:
        self.conn = conn
        self.held: list[int] = []
        self.live = False
        self.saved = {signum: signal.signal(signum, self.on_signal)
                      for signum in FORWARDED + (signal.SIGCONT,)}
        self.saved[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self.on_suspend)

    def on_signal(self, signum: int, _frame) -> None:
        if not self.live:
            self.held.append(signum)
            return
        try:
            self.conn.sendall(b"sig %d\n" % signum)
        except OSError:
            pass

    def on_suspend(self, _signum, _frame) -> None:
        # Ctrl-Z: stop the worker, then ourselves; SIGCONT (fg/bg) resumes both.
        if self.live:
            self.on_signal(signal.SIGSTOP, None)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, self.on_suspend)

    def start(self) -> None:
        self.live = True
        held, self.held = self.held, []
        for signum in held:
            self.on_signal(signum, None)

    def abandon(self) -> int | None:
        """No worker: restore our handlers and let what arrived meanwhile act here (a Ctrl-C
        interrupts the command, which then never starts)."""
        for signum, handler in self.saved.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        try:
            for signum in self.held:
                os.kill(os.getpid(), signum)
        except KeyboardInterrupt:
            return 130
        return None


def _follow(conn: _socket.socket, reader: _Lines) -> int:
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
    if engine_sock is None or not os.path.exists(engine_sock):
        return  # no engine
    directory = os.path.dirname(engine_sock) or "."
    if trusted_directory(directory) or not os.access(directory, os.W_OK):
        return  # a server there could be squatted, or we could not make its socket anyway
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
