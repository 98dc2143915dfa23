"""The zygote: a small single-threaded process, forked from the daemon before trio starts, that
creates every container process and reaps it.

Why: the daemon is a large, multi-threaded trio process; cloning from it risks inherited lock
state (a raw clone skips glibc's fork handlers), namespace calls refuse a multi-threaded
caller (setns(CLONE_NEWNS) is EINVAL with two threads), and a fork copies page tables (38 ms at
1 GB). The zygote has no event loop and no threads; it
is the parent of every container PID 1 and every exec'd process, a child subreaper, and reaps on
SIGCHLD at once (the kernel reports PID 1's death only when every process of its namespace was
reaped by its own parent: an exec'd process left un-reaped for 1 s delayed it by 1 s).

Lifetime: PR_SET_PDEATHSIG=SIGKILL ties it to the daemon; each child sets PDEATHSIG=SIGKILL just
before execve, so a killed daemon takes every container down with it (no orphans reparented to
the host's init). When the
daemon's socket reaches EOF (Runtime.close) the zygote SIGKILLs its children, reaps, and exits.

Start: clone3(CLONE_NEWPID|NEWNS|NEWUTS|NEWIPC[|NEWNET]|CLONE_PIDFD) (measured 3.3 ms vs 5.3 ms for
fork+unshare+fork) -> Created(pid)+pidfd to the daemon -> the child sets itself up and sends
Ready (meanwhile the daemon moves it into its cgroup, Start.join=False) -> after the daemon's Go the zygote sends the child "g" -> the child execs, its socket
reaches EOF -> Started. Exec: fork a relay (in our own namespaces), which joins the container's
cgroup and namespaces and clones the process as our child (CLONE_PARENT), Forked(pid)+pidfd.

Nothing of ours is usable from a container (#11): the zygote runs the interpreter through a
read-only mount (sealed_exe) and is non-dumpable, so its children are too until their execve
(container root without CAP_SYS_PTRACE cannot open /proc/<pid>/{exe,fd,cwd,root,...}); every
child sheds our fds first thing, and only an exec's process appears in a container's PID
namespace before execve, born there from the relay with nothing but its socket and stdio.
"""
from __future__ import annotations

import errno
import gc
import os
import select
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass

from engine.runtime import child, protocol, sealed_exe
from engine.runtime import syscalls as sc
from engine.runtime.spec import ContainerSpec, process_from_dict, spec_from_dict

_ALL_FDS = 0xFFFFFFFF


@dataclass
class _Pending:
    """A process between clone/fork and a successful execve."""

    req: int
    pid: int
    pidfd: int
    sock: socket.socket
    is_init: bool
    go_wanted: bool = False
    go_sent: bool = False
    ready: bool = False
    exec_ok: bool = False
    aborted: bool = False
    master: int | None = None
    error: protocol.ChildError | None = None
    relay: bool = False     # exec: `pid` is the relay until it says Forked(the real pid)
    relay_alive: bool = False   # no "go" before the relay is reaped: its copy of `sock`
                                # would hide the EOF that says the process exec'd


class Zygote:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending: dict[int, _Pending] = {}          # pid -> child still starting
        self.by_req: dict[int, _Pending] = {}
        self.started: dict[int, int] = {}               # pid -> pidfd (zygote's own)
        # the host's /dev/null, for a child's 0-2 until the container's stdio replaces them
        self.null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self.poll = select.poll()
        self.poll.register(self.sock, select.POLLIN)
        self.poll.register(self.wake_r, select.POLLIN)
        self.sock_owner: dict[int, _Pending] = {}
        self.cgroup_dirs: dict[int, list[str]] = {}     # pid -> its cgroup dirs (for shutdown)
        # an exec'd process reaped before its relay's Forked was read: pid -> wait status
        self.early_exits: dict[int, int] = {}
        self.done_relays: dict[int, _Pending] = {}       # relay pid -> what it handed over
        self.replay: list[tuple[int, int]] = []
        self.own_pidns: int | None = None   # opened the first time a PID namespace is joined

    # --- main loop -------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            for fd, _events in self.poll.poll():
                if fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 256):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                elif fd == self.sock.fileno():
                    msg, fds = protocol.receive(self.sock)
                    if msg is None:
                        self.shutdown()
                        return
                    self.handle_daemon(msg, fds)
                elif fd in self.sock_owner:
                    self.handle_child(self.sock_owner[fd])
            self.reap()

    def reply(self, msg: protocol.Message, fds: list[int] = ()) -> None:
        protocol.send(self.sock, msg, list(fds))

    # --- daemon requests -------------------------------------------------------------------
    def handle_daemon(self, msg: protocol.Message, fds: list[int]) -> None:
        try:
            self._handle_daemon(msg, fds)
        except Exception as e:  # a bad request must not take the zygote (and every container) down
            if isinstance(msg, (protocol.Start, protocol.Exec)) and msg.req not in self.by_req:
                self.reply(protocol.Failed(msg.req, 22, f"runtime: bad request: {e}", "internal"))
        finally:
            for fd in fds:
                os.close(fd)

    def _handle_daemon(self, msg: protocol.Message, fds: list[int]) -> None:
        if isinstance(msg, protocol.Start):
            self.start(msg, fds)
        elif isinstance(msg, protocol.Exec):
            self.exec(msg, fds)
        elif isinstance(msg, protocol.Go):
            p = self.by_req.get(msg.req)
            if p is not None:
                p.go_wanted = True
                self.maybe_go(p)
        elif isinstance(msg, protocol.Abort):
            p = self.by_req.get(msg.req)
            if p is not None:
                p.aborted = True
                _kill(p.pidfd)

    def _spawn_pair(self) -> tuple[socket.socket, socket.socket]:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)

    def start(self, msg: protocol.Start, fds: list[int]) -> None:
        spec = spec_from_dict(msg.spec)
        stdio = dict(zip(msg.stdio, fds))
        # the pidfds of the PID 1s whose namespaces are joined travel with the stdio fds
        joins = {key[5:]: stdio.pop(key) for key in list(stdio) if key.startswith("join:")}
        flags = clone_flags(spec)
        zs, cs = self._spawn_pair()
        try:
            pid, pidfd = self._clone(flags, joins.get("pid"))
        except OSError as e:
            zs.close()
            cs.close()
            # ESRCH: the PID 1 whose namespace was to be joined is gone; ENOMEM: it died and
            # is not reaped yet, so its namespace takes no new process
            if "pid" in joins and e.errno in (errno.ESRCH, errno.ENOMEM):
                self.reply(protocol.Failed(msg.req, e.errno, "cannot join PID of a non running "
                                           "container", "notrunning"))
                return
            self.reply(protocol.Failed(msg.req, e.errno, f"clone3: {e.strerror}", "setup"))
            return
        if pid == 0:
            try:
                zs.close()
                child.run_init(cs, spec, msg.cgroup_procs if msg.join else [], stdio,
                               self.null, joins.get("ipc"))
            finally:
                os._exit(child.EXIT_SETUP_FAILED)  # never back into the zygote's loop
        cs.close()
        self.cgroup_dirs[pid] = [os.path.dirname(p) for p in msg.cgroup_procs]
        self.track(_Pending(msg.req, pid, pidfd, zs, is_init=True, go_wanted=msg.go))
        self.reply(protocol.Created(msg.req, pid), [pidfd])

    def _clone(self, flags: int, join_pid: int | None) -> tuple[int, int]:
        """clone3; into another container's PID namespace when `join_pid` (that PID 1's pidfd)
        is given. setns(CLONE_NEWPID) only changes where our *children* are born: we set it,
        clone, and set it back to our own at once (single-threaded: no other clone between).
        Only the parent sets it back: the child is in the other namespace for good."""
        if join_pid is None:
            return sc.clone3(flags, signal.SIGCHLD)
        if self.own_pidns is None:
            self.own_pidns = os.pidfd_open(os.getpid())
        sc.setns(join_pid, sc.CLONE_NEWPID)
        try:
            pid, pidfd = sc.clone3(flags, signal.SIGCHLD)
        except BaseException:
            sc.setns(self.own_pidns, sc.CLONE_NEWPID)
            raise
        if pid:
            sc.setns(self.own_pidns, sc.CLONE_NEWPID)
        return pid, pidfd

    def exec(self, msg: protocol.Exec, fds: list[int]) -> None:
        """Fork a relay in our own namespaces (no container sees it); the relay sheds every fd
        it does not need, joins the container and clones the process as our child (child.py
        run_exec). So what appears in the container's PID namespace holds nothing of ours
        from its first instruction; a single fork inside it would hold all of our fds until
        it closed them, open to a container with CAP_SYS_PTRACE."""
        container_pidfd = self.started.get(msg.container_pid)
        if container_pidfd is None:
            self.reply(protocol.Failed(msg.req, 3, "container is not running", "notrunning"))
            return
        process = process_from_dict(msg.process)
        stdio = dict(zip(msg.stdio, fds))
        zs, cs = self._spawn_pair()
        try:
            pid = os.fork()
        except OSError as e:
            zs.close()
            cs.close()
            self.reply(protocol.Failed(msg.req, e.errno, f"exec: {e}", "internal"))
            return
        if pid == 0:
            try:
                zs.close()
                child.run_exec(cs, container_pidfd, process, msg.cgroup_procs, stdio, self.null)
            finally:
                os._exit(child.EXIT_SETUP_FAILED)
        cs.close()
        self.track(_Pending(msg.req, pid, os.pidfd_open(pid), zs, is_init=False,
                            go_wanted=True, relay=True, relay_alive=True))

    def track(self, p: _Pending) -> None:
        p.sock.setblocking(False)
        self.pending[p.pid] = p
        self.by_req[p.req] = p
        self.sock_owner[p.sock.fileno()] = p
        self.poll.register(p.sock, select.POLLIN)

    # --- children --------------------------------------------------------------------------
    def maybe_go(self, p: _Pending) -> None:
        if p.ready and p.go_wanted and not p.go_sent and not p.aborted and not p.relay_alive:
            try:
                p.sock.send(b"g")
                p.go_sent = True
            except OSError:
                pass  # it died; reap() reports it

    def handle_child(self, p: _Pending) -> None:
        """Read everything the child said. EOF after "go" without an error = execve worked."""
        while True:
            try:
                msg, fds = protocol.receive(p.sock)
            except BlockingIOError:
                return
            except (OSError, protocol.ProtocolError):
                msg, fds = None, []
            if msg is None:
                self._close_sock(p)
                if p.go_sent and p.error is None:
                    p.exec_ok = True
                    self.report_started(p)
                return
            if isinstance(msg, protocol.Ready):
                p.ready = True
                if fds:
                    p.master = fds.pop(0)
                self.maybe_go(p)
            elif isinstance(msg, protocol.ChildError):
                p.error = msg
            elif isinstance(msg, protocol.Forked) and p.relay and fds:
                self._handed_over(p, msg.pid, fds.pop(0))
            for fd in fds:
                os.close(fd)

    def _handed_over(self, p: _Pending, pid: int, pidfd: int) -> None:
        """The relay cloned the real process (our child, CLONE_PARENT): track that one."""
        del self.pending[p.pid]
        os.close(p.pidfd)
        self.done_relays[p.pid] = p
        p.pid, p.pidfd, p.relay = pid, pidfd, False
        self.pending[pid] = p
        if pid in self.early_exits:
            self.replay.append((pid, self.early_exits.pop(pid)))

    def _close_sock(self, p: _Pending) -> None:
        if p.sock.fileno() in self.sock_owner:
            del self.sock_owner[p.sock.fileno()]
            self.poll.unregister(p.sock)
            p.sock.close()

    def report_started(self, p: _Pending) -> None:
        fds = [] if p.is_init else [p.pidfd]
        if p.master is not None:
            fds.append(p.master)
        self.reply(protocol.Started(p.req, p.pid, tty=p.master is not None), fds)
        if p.master is not None:
            os.close(p.master)
            p.master = None
        del self.pending[p.pid]
        self.by_req.pop(p.req, None)
        self.started[p.pid] = p.pidfd

    def reap(self) -> None:
        while self.replay:
            self._reaped(*self.replay.pop(0))
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._reaped(pid, status)

    def _reaped(self, pid: int, status: int) -> None:
        if pid in self.done_relays:
            self._relay_gone(self.done_relays.pop(pid))
            return
        p = self.pending.get(pid)
        if p is None and pid not in self.started:
            # perhaps an exec'd process whose relay's Forked we have not read yet
            for q in [q for q in self.pending.values() if q.relay]:
                if q.sock.fileno() in self.sock_owner:
                    self.handle_child(q)
            p = self.pending.get(pid)
            if p is None and any(q.relay for q in self.pending.values()):
                self.early_exits[pid] = status
                while len(self.early_exits) > 1024:   # orphans that were never claimed
                    del self.early_exits[next(iter(self.early_exits))]
                return
        if p is not None:
            if p.sock.fileno() in self.sock_owner:
                self.handle_child(p)        # drain: the error or the exec EOF is there now
            if p.pid != pid:                # a relay that handed its process over just now
                self._relay_gone(self.done_relays.pop(pid))
                return
            if not p.exec_ok:
                self.report_failed(p, status)
                return
        self.cgroup_dirs.pop(pid, None)
        pidfd = self.started.pop(pid, None)
        if pidfd is not None:
            os.close(pidfd)
            self.reply(protocol.Exited(pid, status))
        # anything else is an orphan we adopted as subreaper: reaping it is all we owe

    def _relay_gone(self, p: _Pending) -> None:
        p.relay_alive = False
        if p.pid in self.pending:
            self.maybe_go(p)

    def report_failed(self, p: _Pending, status: int) -> None:
        self._close_sock(p)
        del self.pending[p.pid]
        self.by_req.pop(p.req, None)
        if p.master is not None:
            os.close(p.master)
        os.close(p.pidfd)
        if p.error is not None:
            msg = protocol.Failed(p.req, p.error.errno, p.error.message, p.error.kind)
        elif p.aborted:
            msg = protocol.Failed(p.req, 125, "start aborted", "aborted")
        else:
            msg = protocol.Failed(p.req, 5, f"container process died during set-up "
                                  f"(wait status {status})", "internal")
        self.reply(msg)

    def shutdown(self, grace: float = 5.0) -> None:
        """SIGKILL every child and reap it. A frozen container cannot die until thawed, so
        thaw what we started; never block for longer than `grace` seconds."""
        for p in list(self.pending.values()):
            _kill(p.pidfd)
        for pidfd in self.started.values():
            _kill(pidfd)
        for dirs in self.cgroup_dirs.values():
            _thaw(dirs)
        waiting = set(self.pending) | set(self.started)
        deadline = time.monotonic() + grace
        while waiting and time.monotonic() < deadline:
            for pid in list(waiting):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    waiting.discard(pid)
            if waiting:
                time.sleep(0.005)


def clone_flags(spec: ContainerSpec) -> int:
    """The namespaces PID 1 is born in: its own, except those it shares (the host's are ours;
    another container's PID namespace is set before the clone, its IPC one joined after)."""
    flags = sc.CLONE_NEWNS | sc.CLONE_PIDFD
    if spec.pid_mode == "private":
        flags |= sc.CLONE_NEWPID
    if spec.ipc_mode != "host":
        flags |= sc.CLONE_NEWIPC
    if spec.uts_mode == "private":
        flags |= sc.CLONE_NEWUTS
    if spec.network in ("private", "none"):
        flags |= sc.CLONE_NEWNET
    return flags


def _thaw(dirs: list[str]) -> None:
    for d in dirs:
        for name, value in (("freezer.state", b"THAWED"), ("cgroup.freeze", b"0")):
            try:
                fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                os.write(fd, value)
            except OSError:
                pass
            finally:
                os.close(fd)


def _set_name(name: bytes) -> None:
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(name)
    except OSError:
        pass  # cosmetic


def _kill(pidfd: int) -> None:
    try:
        sc.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass


def main(sock: socket.socket, daemon_pid: int) -> None:
    """Entry point in the freshly forked copy of the daemon; never returns.

    Becomes the zygote by exec'ing the interpreter through a read-only mount (sealed_exe), so
    no runtime process's /proc/<pid>/exe is a host file anyone could write. Where the kernel
    cannot do that, it serves in place and says so once on stderr (the daemon's log)."""
    code = 0
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)   # kept across execve (not set-id)
        if os.getppid() != daemon_pid:   # the daemon died before prctl took effect
            os._exit(1)
        os.setsid()                      # no signals from the daemon's terminal at all
        sc.close_range(3, _ALL_FDS, sc.CLOSE_RANGE_CLOEXEC)  # nothing of the daemon's crosses
        try:
            sealed_exe.exec_zygote(sock.fileno(), daemon_pid)
        except OSError as e:
            print(f"pycompose runtime: cannot run the zygote from a read-only view of "
                  f"{sys.executable} ({e}); a container with CAP_SYS_PTRACE could write it "
                  "through /proc/<pid>/exe", file=sys.stderr, flush=True)
        gc.freeze()                      # the daemon's objects are never collected here
        _serve(sock, daemon_pid)
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        code = 1
    finally:
        os._exit(code)


def main_after_exec(sock_fd: int, daemon_pid: int) -> None:
    """Entry point of the exec'd zygote (sealed_exe's boot line); never returns."""
    code = 0
    try:
        os.set_inheritable(sock_fd, False)
        _serve(socket.socket(fileno=sock_fd), daemon_pid)
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        code = 1
    finally:
        os._exit(code)


def _serve(sock: socket.socket, daemon_pid: int) -> None:
    # Non-dumpable first (execve reset it): /proc/<pid>/{exe,fd,cwd,root,environ,mem} of the
    # zygote and of every child it forks (they inherit the flag until their own execve) stay
    # closed to container root without CAP_SYS_PTRACE.
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    if os.getppid() != daemon_pid:
        os._exit(1)
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # ^C is for the daemon to handle
    os.chdir("/")  # children must not start in a host directory of the daemon's choosing
    _set_name(b"pc-zygote")  # what ps/top show for it and for children not yet exec'd
    # Every fd the zygote opens later is close-on-exec by construction; make sure of the rest
    # (the inherited stdio stays, it is where the zygote's own tracebacks go).
    child.close_fds_except([sock.fileno()])
    Zygote(sock).run()
