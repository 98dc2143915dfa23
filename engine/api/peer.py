"""What the kernel tells about the client at the other end of an API unix socket: who it is
(SO_PEERCRED), whether it hung up, and whether it has read what we sent."""
from __future__ import annotations

import array
import fcntl
import select
import socket
import struct
import termios
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    """A client process, as the kernel recorded it when it connected."""
    pid: int
    uid: int

    def __str__(self) -> str:
        return f"pid {self.pid} (uid {self.uid})"


UNKNOWN_PEER = Peer(0, -1)


def peer_of(sock: socket.socket) -> Peer:
    """The connecting process (unknown for a socket without credentials, e.g. TCP)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return UNKNOWN_PEER
    pid, uid, _gid = _UCRED.unpack(raw)
    return Peer(pid, uid)


def hung_up(fd: int) -> bool:
    """Has the client closed its socket entirely (not only its writing half)? A unix socket
    reports POLLHUP once both directions are shut."""
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLHUP | select.POLLERR)
    return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
               for _fd, events in poller.poll(0))


def unread_bytes(fd: int) -> int:
    """How much of what we sent still waits in the client's socket (SIOCOUTQ: on a unix socket
    the memory of the queued buffers, 0 once the client has read them all)."""
    out = array.array("i", [0])
    fcntl.ioctl(fd, termios.TIOCOUTQ, out)
    return out[0]
