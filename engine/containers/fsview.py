"""A container's file system as the container sees it, for `cp`, `export` and `commit` to read
and write without ever touching the host by mistake.

The tree belongs to whoever built the image or runs in the container: any component may be a
symlink to `/`, `../..` or a host path, and a process inside may swap a directory for a link
while we copy. So nothing here joins strings and hands them to the host's path resolution.
A `View` holds an fd of the container's root and walks a path one component at a time with
openat(O_PATH | O_NOFOLLOW) on fds it holds: a symlink is read (readlinkat) and continued
inside the root (absolute links restart at the root, `..` never climbs above it), exactly as
openat2(RESOLVE_IN_ROOT) does in the kernel. The walk is done in user space (not by one
openat2 call) because a stopped container's volumes are not mounted anywhere: the walk itself
crosses into a bind or volume source where the container's mount table puts one.

Where the root fd comes from:
- running: /proc/<pid>/root of PID 1, i.e. the container's own mount namespace, with every
  mount it has (volumes, binds, tmpfs); the kernel crosses them, our table is empty;
- stopped: a detached overlay (fsmount, never attached to any mount point, gone when its fd
  closes) of the image layers and the container's upper dir, plus a table of its binds and
  volumes. The caller holds the container's lock so that no start mounts the same upper dir.
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from engine.runtime import rootfs as rootfs_ops
from engine.runtime import syscalls as sc

_MAX_LINKS = 40   # the kernel's own limit on symlinks in one lookup
O_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class MountPoint:
    """A bind or volume of a stopped container: `source` (host path) appears at `target`."""
    target: str        # container path, normalized ("/data")
    source: str
    readonly: bool = False


def split_path(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def normalize(path: str) -> str:
    """A container path made absolute and clean, `..` resolved lexically (never above /)."""
    parts: list[str] = []
    for p in split_path(path):
        if p == "..":
            if parts:
                parts.pop()
        else:
            parts.append(p)
    return "/" + "/".join(parts)


@dataclass
class Resolved:
    """An O_PATH fd of what a container path names, and where it is in the container."""
    fd: int
    path: str            # container path, symlinks resolved
    st: os.stat_result

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class View:
    root_fd: int                                   # O_PATH fd of the container's "/"
    mounts: dict[str, MountPoint] = field(default_factory=dict)

    # -- resolution --------------------------------------------------------------------------
    def open_child(self, dir_fd: int, dir_path: str, name: str, flags: int = O_PATH_NOFOLLOW
                   ) -> int:
        """`name` in directory `dir_fd` (container path `dir_path`), never following a link;
        a mount point of the table opens its source instead."""
        here = (dir_path.rstrip("/") + "/" + name)
        mp = self.mounts.get(here)
        if mp is not None:
            return os.open(mp.source, (flags & ~os.O_NOFOLLOW) | os.O_CLOEXEC)
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)

    def resolve(self, path: str, *, follow_last: bool = True) -> Resolved:
        """Walk `path` inside the root; FileNotFoundError/NotADirectoryError/ELOOP as open(2)."""
        stack: list[tuple[str, int]] = [("", os.dup(self.root_fd))]
        todo = [p for p in path.split("/") if p and p != "."]
        hops = 0
        try:
            while todo:
                part = todo.pop(0)
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop()[1])
                    continue
                dir_path = "/" + "/".join(n for n, _ in stack[1:])
                fd = self.open_child(stack[-1][1], dir_path, part)
                try:
                    st = os.fstat(fd)
                    target = (os.readlink("", dir_fd=fd)
                              if stat.S_ISLNK(st.st_mode) and (todo or follow_last) else None)
                except BaseException:
                    os.close(fd)
                    raise
                if target is not None:
                    os.close(fd)
                    hops += 1
                    if hops > _MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop()[1])
                    todo = [p for p in target.split("/") if p and p != "."] + todo
                    continue
                if todo and not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
                stack.append((part, fd))
            fd = os.dup(stack[-1][1])
            where = "/" + "/".join(n for n, _ in stack[1:])
            return Resolved(fd, where, os.fstat(fd))
        finally:
            for _, fd in stack:
                os.close(fd)

    def mount_of(self, path: str) -> MountPoint | None:
        """The table's mount that holds container path `path` (the deepest), if any."""
        best = None
        for target, mp in self.mounts.items():
            if path == target or path.startswith(target.rstrip("/") + "/"):
                if best is None or len(target) > len(best.target):
                    best = mp
        return best

    def close(self) -> None:
        os.close(self.root_fd)


# file systems whose files are the kernel's, not the container's (a tar of the root shows their
# mount points as empty directories, as Docker's, which never has them mounted where it reads)
KERNEL_FS_MAGIC = frozenset({
    0x9FA0,        # proc
    0x62656572,    # sysfs
    0x27E0EB,      # cgroup
    0x63677270,    # cgroup2
    0x1CD1,        # devpts
    0x19800202,    # mqueue
    0x64626720,    # debugfs
    0x74726163,    # tracefs
    0x73636673,    # securityfs
    0xCAFE4A11,    # bpf
    0x6E736673,    # nsfs
})
_libc = ctypes.CDLL(None, use_errno=True)


def fs_magic(fd: int) -> int:
    """fstatfs(2)'s f_type of what `fd` (O_PATH is fine) is on."""
    buf = ctypes.create_string_buffer(256)   # struct statfs: f_type is its first word
    if _libc.fstatfs(ctypes.c_int(fd), buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def is_kernel_fs(fd: int) -> bool:
    return fs_magic(fd) in KERNEL_FS_MAGIC


def reopen(fd: int, flags: int) -> int:
    """A real (readable) fd of what O_PATH `fd` refers to: the same object, whatever happened
    to the names meanwhile (the /proc magic link leads to the object, not to a name). Callers
    check the object's type on `fd` first: a link or a fifo is never reopened."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)


# -- where the root comes from --------------------------------------------------------------

def running_view(pid: int, pidfd: int | None = None) -> View:
    """The view of a running container: its PID 1's root, in its own mount namespace. With
    `pidfd`, the process is checked to be alive after the open, so a reused pid cannot hand
    us a stranger's root."""
    fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if pidfd is not None and pidfd >= 0:
        try:
            sc.pidfd_send_signal(pidfd, 0)
        except OSError:
            os.close(fd)
            raise ProcessLookupError(errno.ESRCH, "the container's process exited") from None
    return View(fd)


use_lowerdir_plus = True   # switched off once the kernel refuses fsconfig lowerdir+ (< 6.8)


def detached_overlay(lowers: list[Path], upper: Path | None, work: Path | None, *,
                     readonly: bool, scratch: Path | None = None) -> int:
    """An fd of a new overlay's root that is mounted nowhere: nothing on the host can reach
    it, and closing the fd unmounts it. Without `upper` it is a read-only stack of `lowers`
    alone (lowest first). Kernels without fsconfig lowerdir+ (before 6.8) get it through a
    mount on `scratch` that is detached at once (its O_PATH fd keeps it alive)."""
    global use_lowerdir_plus
    if use_lowerdir_plus:
        try:
            return _fsmount_overlay(lowers, upper, work, readonly)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) or scratch is None:
                raise
            use_lowerdir_plus = False
    if scratch is None:
        raise OSError(errno.EINVAL, "this kernel needs a scratch mount point for an overlay")
    return _mounted_then_detached(lowers, upper, work, readonly, scratch)


def _fsmount_overlay(lowers: list[Path], upper: Path | None, work: Path | None,
                     readonly: bool) -> int:
    fsfd = sc.fsopen("overlay")
    try:
        for layer in reversed(lowers):   # highest first, as with lowerdir=
            sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "lowerdir+", str(layer))
        if upper is not None and work is not None:
            sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "upperdir", str(upper))
            sc.fsconfig(fsfd, sc.FSCONFIG_SET_STRING, "workdir", str(work))
        sc.fsconfig(fsfd, sc.FSCONFIG_CMD_CREATE)
        return sc.fsmount(fsfd, sc.FSMOUNT_CLOEXEC,
                          sc.MOUNT_ATTR_RDONLY if readonly else 0)
    finally:
        os.close(fsfd)


def _mounted_then_detached(lowers: list[Path], upper: Path | None, work: Path | None,
                           readonly: bool, scratch: Path) -> int:
    data = "lowerdir=" + ":".join(str(p) for p in reversed(lowers))
    if upper is not None and work is not None:
        data += f",upperdir={upper},workdir={work}"
    scratch.mkdir(exist_ok=True)
    rootfs_ops.unmount(scratch)   # a leftover of a crash
    sc.mount("overlay", str(scratch), "overlay", sc.MS_RDONLY if readonly else 0, data)
    try:
        fd = os.open(scratch, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        sc.umount2(str(scratch), sc.MNT_DETACH)   # gone from the mount table at once
    return fd


def stopped_view(lowers: list[Path], upper: Path, work: Path, merged: Path,
                 mounts: list[MountPoint], *, readonly: bool) -> View:
    """The view of a stopped container (caller holds its lock): a detached overlay plus its
    binds and volumes. Waits for the release of the last run's overlay on the same dirs."""
    rootfs_ops.wait_released(merged)
    scratch = merged.parent / "cpview"
    if readonly:
        # the upper dir as the top lower layer (its whiteouts and opaque dirs read as in any
        # image layer): no work dir in use, and no sync of the upper fs when the fd closes
        # (a writable overlay's last close syncs it: 30+ ms)
        mfd = detached_overlay([*lowers, upper], None, None, readonly=True, scratch=scratch)
    else:
        mfd = detached_overlay(lowers, upper, work, readonly=False, scratch=scratch)
    view = View(mfd)
    try:
        for mp in mounts:
            # a mount target that is a link in the image lands where the link points, as at start
            try:
                r = view.resolve(mp.target)
                where = r.path
                r.close()
            except OSError:
                where = normalize(mp.target)
            view.mounts[where] = MountPoint(where, mp.source, mp.readonly)
    except BaseException:
        view.close()
        raise
    return view


def walk_names(fd: int) -> Iterator[str]:
    """Names in the directory O_PATH `fd`, sorted (reproducible archives)."""
    dfd = reopen(fd, os.O_RDONLY | os.O_DIRECTORY)
    try:
        names = sorted(os.listdir(dfd))
    finally:
        os.close(dfd)
    yield from names
