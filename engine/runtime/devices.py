"""The container's minimal /dev, as mount-plan operations (applied by mounts.apply_plan).

A fresh tmpfs with the six character devices every program expects, a private devpts instance
(so a pty opened inside has a name inside: `tty` prints /dev/pts/0, P17), /dev/shm, /dev/mqueue
and the /proc/self/fd links. Device *access* is not restricted here (v1: the devices cgroup in
cgroups.py).
"""
from __future__ import annotations

from engine.runtime import syscalls as sc

# name -> (major, minor); all 0666 like Docker
DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
    "tty": (5, 0),
}
LINKS = {
    "ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}


def dev_plan() -> list:
    from engine.runtime.mounts import MakeLink, MakeNode, MountOp

    ops: list = [MountOp("/dev", "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME,
                         "mode=755,size=65536k")]
    ops += [MakeNode(f"/dev/{name}", major, minor) for name, (major, minor) in DEVICES.items()]
    ops.append(MountOp("/dev/pts", "devpts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                       "newinstance,ptmxmode=0666,mode=0620,gid=5"))
    ops.append(MountOp("/dev/shm", "shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                       "mode=1777,size=65536k"))
    ops.append(MountOp("/dev/mqueue", "mqueue", "mqueue",
                       sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC))
    ops += [MakeLink(f"/dev/{name}", target) for name, target in LINKS.items()]
    return ops
