"""Typed messages between the daemon (`Runtime`) and its zygote, and between the zygote and a
child it is preparing.

Transport: a SOCK_SEQPACKET unix socketpair, so one `sendmsg` is one message; a message is JSON
`{"type": <class name>, ...fields}`; file descriptors ride along as SCM_RIGHTS and are listed,
in order, by the message's documented fields (never by number).

Daemon -> zygote: Start, Go, Abort, Exec.        Zygote -> daemon: Created, Started, Failed, Exited.
Child  -> zygote: Forked (exec relay, + pidfd), Ready (+ pty master), ChildError;
zygote -> child: one byte "go".
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field, fields

MAX_MESSAGE = 1 << 20
MAX_FDS = 8


@dataclass(frozen=True)
class Start:
    """Create PID 1. fds: the Stdio fds named by `stdio` ("stdin", "stdout", "stderr"), in order."""

    req: int
    spec: dict
    cgroup_procs: list[str]
    stdio: list[str] = field(default_factory=list)
    go: bool = False        # no before_exec: exec as soon as ready, without waiting for Go
    join: bool = True       # PID 1 joins cgroup_procs itself; False: the daemon moves it (and
                            # sends Go once it did), cgroup_procs then only serve the shutdown


@dataclass(frozen=True)
class Go:
    """before_exec is done: PID 1 may exec."""

    req: int


@dataclass(frozen=True)
class Abort:
    """The daemon gives up on a start: kill the half-made container."""

    req: int


@dataclass(frozen=True)
class Exec:
    """A new process in the running container whose PID 1 is `container_pid`. fds: stdio."""

    req: int
    container_pid: int
    spec: dict
    process: dict
    cgroup_procs: list[str]
    stdio: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Created:
    """PID 1 exists (namespaces made, waiting for Go). fds: [pidfd]."""

    req: int
    pid: int


@dataclass(frozen=True)
class Started:
    """The process exec'd its command. fds: [pidfd] for exec, plus [pty master] when tty."""

    req: int
    pid: int
    tty: bool = False


@dataclass(frozen=True)
class Failed:
    """The request failed; the process (if any) has already been reaped.

    kind: "exec" (the command could not be exec'd), "setup" (container set-up failed),
    "notrunning" (exec into a dead container), "aborted" (killed on the daemon's Abort before
    it failed on its own), "internal"."""

    req: int
    errno: int
    message: str
    kind: str = "setup"


@dataclass(frozen=True)
class Exited:
    """A started process was reaped; `status` is the raw wait status."""

    pid: int
    status: int


@dataclass(frozen=True)
class Ready:
    """Child -> zygote: set up, blocked before exec. fds: [pty master] when tty."""

    tty: bool = False


@dataclass(frozen=True)
class Forked:
    """Exec relay -> zygote: it cloned the exec'd process (host pid `pid`, our child by
    CLONE_PARENT) and is about to exit. fds: [pidfd of it]."""

    pid: int


@dataclass(frozen=True)
class ChildError:
    """Child -> zygote, just before the child _exit()s."""

    errno: int
    message: str
    kind: str = "setup"


MESSAGES = {cls.__name__: cls for cls in (Start, Go, Abort, Exec, Created, Started, Failed,
                                          Exited, Ready, Forked, ChildError)}
Message = (Start | Go | Abort | Exec | Created | Started | Failed | Exited | Ready | Forked
           | ChildError)


class ProtocolError(Exception):
    pass


def encode(msg: Message) -> bytes:
    body = asdict(msg)
    body["type"] = type(msg).__name__
    return json.dumps(body, separators=(",", ":")).encode()


def decode(data: bytes) -> Message:
    try:
        body = json.loads(data)
        cls = MESSAGES[body.pop("type")]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in names})
    except (ValueError, KeyError, TypeError) as e:
        raise ProtocolError(f"bad runtime message {data[:80]!r}: {e}") from None


def send(sock: socket.socket, msg: Message, fds: list[int] = ()) -> None:
    """Blocking send (zygote and child side)."""
    data = encode(msg)
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[Message | None, list[int]]:
    """One message and its fds; (None, []) at end of stream. Fds are close-on-exec."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS,
                                               socket.MSG_CMSG_CLOEXEC)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return decode(data), fds
