"""What runs in a new process between clone/fork and execve: container PID 1, or an exec'd one.

Runs in a child of the zygote: single-threaded, no trio, only syscalls, `os.*` and small
allocations (it came from a raw clone, without glibc's fork handlers). It reports to the zygote
over its own socket (protocol.Ready / ChildError),
blocks for the "go" byte (the daemon's before_exec has wired the network by then), and execs.
The socket is close-on-exec, so the zygote reads EOF exactly when execve succeeded.
Never returns: every path ends in execve or os._exit.
"""
from __future__ import annotations

import errno
import os
import resource
import signal
import socket
import stat

from engine.runtime import capabilities, mounts, propagation, protocol, terminal, users
from engine.runtime.seccomp import install as seccomp
from engine.runtime import syscalls as sc
from engine.runtime.spec import DEFAULT_PATH, ContainerSpec, ProcessSpec

EXIT_SETUP_FAILED = 125
_ALL_FDS = 0xFFFFFFFF
_EXEC_NS = (sc.CLONE_NEWPID | sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC
            | sc.CLONE_NEWNET)


class _Stage(Exception):
    """A failure with the errno and a message that says which step failed."""

    def __init__(self, err: int, message: str, kind: str = "setup") -> None:
        super().__init__(message)
        self.errno, self.message, self.kind = err, message, kind


def _fail(sock: socket.socket, err: _Stage) -> None:
    try:
        protocol.send(sock, protocol.ChildError(err.errno, err.message, err.kind))
    except OSError:
        pass
    os._exit(EXIT_SETUP_FAILED)


def close_fds_except(keep: list[int]) -> None:
    """Close every fd above 2 that is not in `keep` (a few close_range calls, no /proc walk)."""
    low = 3
    for fd in sorted({k for k in keep if k >= 3}):
        if fd > low:
            sc.close_range(low, fd - 1)
        low = fd + 1
    sc.close_range(low, _ALL_FDS)


def drop_inherited(keep: list[int], null: int) -> None:
    """First thing after fork/clone, before joining anything of a container: keep only `keep`.

    The child starts with all of the zygote's fds (its socket to the daemon, its wake-up
    pipe, other containers' pidfds and sockets); whatever it still holds when it becomes
    visible in a container (PID 1 at its execve, an exec's process from birth) a container
    process could reopen through /proc/<pid>/fd. The zygote's stdio (the daemon's log) goes
    too: 0-2 point at the host's /dev/null (`null`, the zygote's) until the container's own
    stdio replaces them."""
    try:
        signal.set_wakeup_fd(-1)  # its fd is about to be closed and its number reused
    except ValueError:
        pass
    close_fds_except([*keep, null])
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def check_cwd_inside(cwd: str) -> None:
    """Fail unless the working directory is reachable from the container's root.

    A WORKDIR through /proc (/proc/self/fd/N, /proc/<pid>/cwd) could land on a directory of
    another mount namespace (CVE-2024-21626). The kernel then reports the cwd as
    "(unreachable)..." (glibc: ENOENT); and the path it names must be the directory we are in."""
    outside = _Stage(errno.EPERM, f'working directory "{cwd}" is outside the container')
    try:
        here = os.getcwd()
        st_here, st_dot = os.stat(here), os.stat(".")
    except OSError:
        raise outside from None
    if not here.startswith("/") or (st_here.st_dev, st_here.st_ino) != (st_dot.st_dev,
                                                                          st_dot.st_ino):
        raise outside


def read_passwd(limit: int = 4 * 1024 * 1024) -> str:
    """The container's /etc/passwd (we are inside its root), "" when there is none usable.

    O_NONBLOCK and a regular-file check: a FIFO planted there must not hang the start."""
    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, limit).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def join_cgroup(procs_files: list[str]) -> None:
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def loopback_up() -> None:
    """`ip link set lo up` with one ioctl: a fresh netns has lo down, Docker's has it up."""
    import fcntl
    import struct
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, siocgifflags, req))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))


def _env_path(env: tuple[str, ...]) -> str:
    for entry in env:
        if entry.startswith("PATH="):
            return entry[5:]
    return DEFAULT_PATH


def resolve_command(name: str, env: tuple[str, ...]) -> str:
    """argv[0] -> path inside the container, or a _Stage carrying docker's wording."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as e:
            raise _Stage(e.errno, f'exec: "{name}": stat {name}: {e.strerror.lower()}',
                         "exec") from None
        if stat.S_ISDIR(st.st_mode) or not os.access(name, os.X_OK):
            raise _Stage(errno.EACCES, f'exec: "{name}": permission denied', "exec")
        return name
    for directory in _env_path(env).split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            return candidate
    raise _Stage(errno.ENOENT, f'exec: "{name}": executable file not found in $PATH', "exec")


def ensure_cwd(cwd: str, uid: int, gid: int) -> None:
    """mkdir -p the working directory; new components belong to the user (docker's -w)."""
    missing = []
    path = cwd
    while path != "/" and not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for p in reversed(missing):
        os.mkdir(p, 0o755)
        os.chown(p, uid, gid)


def _set_rlimits(process: ProcessSpec) -> None:
    for limit in process.rlimits:
        res = getattr(resource, f"RLIMIT_{limit.name.upper()}")
        _soft, own_hard = resource.getrlimit(res)
        hard = limit.hard if own_hard == resource.RLIM_INFINITY else min(limit.hard, own_hard)
        resource.setrlimit(res, (min(limit.soft, hard), hard))


def _reset_signals() -> None:
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass  # glibc-reserved real-time signals
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _stdio(stdio: dict[str, int]) -> None:
    null = None
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        src = stdio.get(name)
        if src is None:
            if null is None:
                null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            src = null
        os.dup2(src, fd)


def _finish(sock: socket.socket, process: ProcessSpec, stdio: dict[str, int],
            init: str | None) -> None:
    """Terminal, stdio, cwd, limits, credentials, sync with the daemon, exec. Inside the root."""
    user = process.user
    try:
        master = None
        if process.tty:
            master, slave = terminal.open_pty()
            if process.console_size:
                # the size is there before the command starts: no 0x0 race with a resize later
                terminal.set_window_size(master, *process.console_size)
            terminal.make_controlling(slave)
        else:
            os.setsid()  # its own session: no job-control signals from the daemon's terminal
            _stdio(stdio)
        ensure_cwd(process.cwd, user.uid, user.gid)
        os.chdir(process.cwd)
        check_cwd_inside(process.cwd)
        env = dict(e.split("=", 1) for e in process.env)
        if "HOME" not in env:  # as runc: the user's home from the container's passwd, else /
            env["HOME"] = users.home_of(users.parse_passwd(read_passwd()), user.uid)
        _set_rlimits(process)
        if process.oom_score_adj is not None:   # while still root: lowering it needs privilege
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(process.oom_score_adj))
        caps = capabilities.effective_mask(process.cap_add, process.cap_drop)
        capabilities.apply_credentials(user.uid, user.gid, (user.gid, *user.additional_gids),
                                       caps, capabilities.last_cap(), seccomp.held_caps(process))
        if process.no_new_privileges:
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    except OSError as e:
        raise _Stage(e.errno or errno.EIO, f"container process set-up: {e}") from None
    path = resolve_command(process.args[0], process.env)
    argv = list(process.args)
    if init:
        argv = [init, "--", path, *argv[1:]]
        path = init
    protocol.send(sock, protocol.Ready(tty=master is not None), [master] if master else [])
    if master is not None:
        os.close(master)
    if sock.recv(1) != b"g":
        os._exit(EXIT_SETUP_FAILED)  # the zygote is gone or gave up on us
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid: it clears the setting
    os.umask(0o022)
    _reset_signals()
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)
    try:
        seccomp.install(process, caps)  # last: only execve (and capset) run under the filter
    except OSError as e:
        raise _Stage(e.errno or errno.EIO, f"seccomp filter: {e}") from None
    try:
        os.execve(path, argv, env)
    except OSError as e:
        what = "permission denied" if e.errno == errno.EACCES else e.strerror.lower()
        raise _Stage(e.errno, f'exec: "{process.args[0]}": {what}', "exec") from None


def write_sysctls(settings: tuple[tuple[str, str], ...]) -> None:
    """HostConfig.Sysctls, through the host's /proc before the container's own is mounted
    (whose /proc/sys is read-only): a sysctl file reads and changes the namespace of the
    process that opens it, here already the container's. Only keys of the IPC and network
    namespaces get here, and net.* never with the host's network (validate_spec)."""
    for key, value in settings:
        try:
            fd = os.open("/proc/sys/" + key.replace(".", "/"),
                         os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            why = "no such setting" if e.errno == errno.ENOENT else e.strerror
            raise _Stage(e.errno or errno.EIO, f"sysctl {key}={value}: {why}") from None


def join_ipc(donor: int) -> int:
    """Join the IPC namespace of the PID 1 whose pidfd is `donor`, and return a detached
    clone of its /dev/shm (POSIX shared memory lives there, not in the namespace).

    The clone is taken inside the donor's mount namespace, where its root confines the walk
    to /dev/shm; then we return to our own namespace (setns resets root and cwd to its root)."""
    try:
        sc.setns(donor, sc.CLONE_NEWIPC)
    except OSError as e:
        if e.errno == errno.ESRCH:
            raise _Stage(e.errno, "cannot join IPC of a non running container",
                         "notrunning") from None
        raise
    own = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(donor, sc.CLONE_NEWNS)
        try:
            # no link on the way: a donor that made /dev/shm a symlink (to a /proc magic
            # link of a host process, say, which we, unlike it, may follow) must not choose
            # what we mount
            fd = sc.openat2(sc.AT_FDCWD, "/dev/shm", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
                            sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS)
            try:
                return sc.open_tree("", sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
                                    | sc.AT_EMPTY_PATH, dirfd=fd)
            finally:
                os.close(fd)
        finally:
            sc.setns(own, sc.CLONE_NEWNS)
    finally:
        os.close(own)


def run_init(sock: socket.socket, spec: ContainerSpec, cgroup_procs: list[str],
             stdio: dict[str, int], null: int, ipc_donor: int | None = None) -> None:
    """Body of container PID 1 (called right after clone3 in the child). `ipc_donor`: the
    pidfd of the PID 1 whose IPC namespace it joins (IpcMode container:X)."""
    try:
        try:
            keep = [] if ipc_donor is None else [ipc_donor]
            drop_inherited([sock.fileno(), *stdio.values(), *keep], null)
            join_cgroup(cgroup_procs)
            if spec.network.startswith("ns:"):
                fd = os.open(spec.network[3:], os.O_RDONLY | os.O_CLOEXEC)
                sc.setns(fd, sc.CLONE_NEWNET)
                os.close(fd)
            shm = None
            if ipc_donor is not None:
                shm = join_ipc(ipc_donor)
                os.close(ipc_donor)
            write_sysctls(spec.sysctls)
            root = os.path.realpath(spec.rootfs)
            clones = mounts.clone_shared_binds(spec.mounts)   # before prepare_root: see there
            if shm is not None:
                clones[mounts.SHM_TARGET] = shm
            mounts.prepare_root(root, propagation.root_flags(spec.mounts))
            mounts.apply_plan(root, mounts.plan_mounts(spec), clones)
            if spec.uts_mode == "private":   # never the host's names
                sc.sethostname(spec.hostname)
                if spec.domainname:
                    sc.setdomainname(spec.domainname)
            if spec.network in ("private", "none"):
                loopback_up()
            mounts.enter_root(root)
            user = spec.process.user
            ensure_cwd(spec.process.cwd, user.uid, user.gid)
            if spec.readonly_rootfs:
                mounts.make_root_readonly()
        except OSError as e:
            raise _Stage(e.errno or errno.EIO, f"container set-up: {e}") from None
        _finish(sock, spec.process, stdio, mounts.INIT_TARGET if spec.init_path else None)
    except _Stage as e:
        _fail(sock, e)
    except BaseException as e:  # never unwind into the zygote's loop
        _fail(sock, _Stage(errno.EIO, f"container set-up: {type(e).__name__}: {e}", "internal"))
    os._exit(EXIT_SETUP_FAILED)


def run_exec(sock: socket.socket, container_pidfd: int, process: ProcessSpec,
             cgroup_procs: list[str], stdio: dict[str, int], null: int) -> None:
    """Body of the exec relay, forked by the zygote in the zygote's own namespaces (so no
    container sees it while it still holds the zygote's fds).

    It keeps only what the process needs, joins the container's cgroup (while it still sees
    the host's cgroup file system; for a moment it counts in pids.max too, as runc's
    `init` does) and every namespace of the container, and clones the process as the
    zygote's child (CLONE_PARENT): born inside, in the cgroup, with the container's root and
    nothing but its socket and stdio. The relay reports Forked(pid)+pidfd and exits; the
    process goes on as any child (_finish)."""
    try:
        try:
            drop_inherited([sock.fileno(), container_pidfd, *stdio.values()], null)
            join_cgroup(cgroup_procs)  # while it still sees the host's cgroup file system
        except OSError as e:
            raise _Stage(e.errno or errno.EIO, f"joining the container: {e}") from None
        try:  # ESRCH: PID 1 is gone
            sc.setns(container_pidfd, _EXEC_NS)
            os.close(container_pidfd)
        except OSError as e:
            raise _Stage(e.errno or errno.EIO, "container is not running", "notrunning") \
                from None
        try:  # exit_signal must be 0 with CLONE_PARENT: it inherits ours (SIGCHLD, as a fork)
            pid, pidfd = sc.clone3(sc.CLONE_PARENT | sc.CLONE_PIDFD, 0)
        except OSError as e:
            # ENOMEM: the namespace's PID 1 is dead but not yet reaped, so no process may join
            if e.errno == errno.ENOMEM:
                raise _Stage(e.errno, "container is not running", "notrunning") from None
            # EAGAIN: the container's pids limit (the relay counts there, as runc's init)
            raise _Stage(e.errno or errno.EIO, f"exec: cannot create the process in the "
                         f"container: {e.strerror.lower()}") from None
        if pid:
            protocol.send(sock, protocol.Forked(pid), [pidfd])
            os._exit(0)
        try:
            os.chdir("/")
        except OSError as e:
            raise _Stage(e.errno or errno.EIO, f"joining the container: {e}") from None
        _finish(sock, process, stdio, None)
    except _Stage as e:
        _fail(sock, e)
    except BaseException as e:
        _fail(sock, _Stage(errno.EIO, f"exec set-up: {type(e).__name__}: {e}", "internal"))
    os._exit(EXIT_SETUP_FAILED)
