"""The container's minimal /dev, as mount-plan operations (applied by mounts.apply_plan).

A fresh tmpfs with the six character devices every program expects, a private devpts instance
(so a pty opened inside has a name inside: `tty` prints /dev/pts/0), /dev/shm, /dev/mqueue
and the /proc/self/fd links. Device *access* is not restricted here (v1: the devices cgroup in
cgroups.py).
"""
from __future__ import annotations

import os
import stat

from engine.runtime import syscalls as sc
from engine.runtime.spec import Device

# name -> (major, minor); all 0666 like Docker
DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
    "tty": (5, 0),
}
LINKS = {
    "ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}


# Host /dev entries a privileged container does not get: its own instances (pts, shm, mqueue),
# links, and the host's console (as runc's host-device walk leaves them out).
_HOST_SKIP = {"pts", "shm", "mqueue", "fd", "console", ".lxc", ".lxd-mounts", ".udev"}


def host_devices(root: str = "/dev") -> tuple[Device, ...]:
    """Every character and block device under the host's `root` (Docker's --privileged), minus
    the ones every container has already."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not (dirpath == root and d in _HOST_SKIP))
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel in _HOST_SKIP or rel in DEVICES or rel in LINKS:
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append(Device(f"/dev/{rel}", "c" if stat.S_ISCHR(st.st_mode) else "b",
                                  os.major(st.st_rdev), os.minor(st.st_rdev),
                                  stat.S_IMODE(st.st_mode)))
    return tuple(out)


def dev_plan() -> list:
    from engine.runtime.mounts import MakeLink, MakeNode, MountOp, TargetRule

    # an image's `/dev -> /` would put the tmpfs over its whole root: a real directory only
    ops: list = [MountOp("/dev", "tmpfs", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME,
                         "mode=755,size=65536k", rule=TargetRule.REAL_DIR)]
    ops += [MakeNode(f"/dev/{name}", major, minor) for name, (major, minor) in DEVICES.items()]
    ops.append(MountOp("/dev/pts", "devpts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                       "newinstance,ptmxmode=0666,mode=0620,gid=5"))
    ops.append(MountOp("/dev/shm", "shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                       "mode=1777,size=65536k"))
    ops.append(MountOp("/dev/mqueue", "mqueue", "mqueue",
                       sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC))
    ops += [MakeLink(f"/dev/{name}", target) for name, target in LINKS.items()]
    return ops
