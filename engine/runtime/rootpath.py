"""Paths inside a container's root: opened, created and located without ever leaving the root.

The root's contents belong to the image and to volumes, i.e. to whoever made them: any
component may be a symlink (absolute, relative, `..`-laden) that would point at the host if the
host resolved it. So nothing here joins strings and hands them to the kernel. Every path is
opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to an fd of the root (the
kernel treats that fd as "/" for absolute links and `..`, and refuses /proc magic links), and the
caller mounts onto the resulting O_PATH fd through `/proc/self/fd/N` (runc's answer to
CVE-2021-30465: what is checked is exactly what is mounted on, however the tree changes
meanwhile). New directories and files are made with *at calls on an fd of their parent.

Kernels before 5.6 lack openat2: the path is then resolved in user space (`secure_join`), opened,
and the fd's real location is checked to be inside the root before use — a symlink swapped in
between makes the check fail instead of sending the mount elsewhere.
"""
from __future__ import annotations

import errno
import os
import stat

from engine.runtime import syscalls as sc

_RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
_MAX_LINKS = 40         # the kernel's own limit on symlinks in one lookup
_EAGAIN_RETRIES = 64    # RESOLVE_IN_ROOT answers EAGAIN when a rename raced its ".." walk

use_openat2 = True      # switched off once the kernel says ENOSYS (tests switch it off too)


def fd_path(fd: int) -> str:
    """A path that mount(2) resolves to exactly what `fd` refers to."""
    return f"/proc/self/fd/{fd}"


def resolve_parts(root: str, path: str, *, follow_last: bool = True) -> list[str]:
    """The components of `path` below `root`, symlinks resolved as if `root` were "/".

    Missing components are kept as written (they are what a caller will create). A pure walk
    over lstat/readlink, used to name what to create and as the pre-5.6 fallback; never the
    last word on where something is (see `open_in_root`).
    """
    todo = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode) or (not todo and not follow_last):
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        link = os.readlink(candidate)
        if link.startswith("/"):
            done = []
        todo = [p for p in link.split("/") if p] + todo
    return done


def secure_join(root: str, path: str) -> str:
    """`root` + `path`, resolving symlinks as if `root` were `/` (missing tails are kept)."""
    return os.path.join(root, *resolve_parts(root, path))


def located(fd: int, root: str, shown: str = "") -> str:
    """The container path `fd` refers to; OSError(EXDEV) if it lies outside `root`."""
    where = os.readlink(fd_path(fd))
    base = root.rstrip("/")
    if where == root or where == base:
        return "/"
    if where.startswith(base + "/"):
        return where[len(base):]
    raise OSError(errno.EXDEV, f"{shown or where} resolves outside the container's root")


def _open_joined(root: str, path: str, flags: int) -> int:
    """The pre-openat2 way: resolve in user space, open, then check where the fd really is."""
    parts = resolve_parts(root, path, follow_last=not flags & os.O_NOFOLLOW)
    fd = os.open(os.path.join(root, *parts), flags | os.O_CLOEXEC)
    try:
        located(fd, root, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_in_root(root_fd: int, root: str, path: str, flags: int = os.O_PATH) -> int:
    """An fd of container path `path` (`root_fd` is an fd of `root`); nothing outside the root
    is ever opened. O_NOFOLLOW applies to the last component only, as with open(2)."""
    global use_openat2
    if use_openat2:
        for _ in range(_EAGAIN_RETRIES):
            try:
                return sc.openat2(root_fd, path, flags | os.O_CLOEXEC, _RESOLVE)
            except OSError as e:
                if e.errno == errno.ENOSYS:
                    use_openat2 = False
                    break
                if e.errno != errno.EAGAIN:
                    raise OSError(e.errno, e.strerror, path) from None
        else:
            raise OSError(errno.EAGAIN, "resolution kept racing with renames", path)
    return _open_joined(root, path, flags)


def make_dirs(root_fd: int, root: str, parts: list[str]) -> int:
    """An O_PATH fd of directory `parts` inside the root, making missing ones (0755)."""
    fd = os.dup(root_fd)
    try:
        for depth in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:depth])
            try:
                new_fd = open_in_root(root_fd, root, sub, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                try:
                    os.mkdir(parts[depth - 1], 0o755, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile, or a dangling link swapped in: the open decides
                new_fd = open_in_root(root_fd, root, sub, os.O_PATH | os.O_DIRECTORY)
            os.close(fd)
            fd = new_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_or_create(root_fd: int, root: str, path: str, kind: str | None,
                   flags: int = os.O_PATH) -> int:
    """An fd of container path `path`; when missing and `kind` is "dir" or "file", it is made
    first (parents 0755, a file empty 0644), following existing links inside the root."""
    try:
        return open_in_root(root_fd, root, path, flags)
    except FileNotFoundError:
        if kind is None:
            raise
    return create(root_fd, root, resolve_parts(root, path), kind, flags)


def create(root_fd: int, root: str, parts: list[str], kind: str, flags: int = os.O_PATH) -> int:
    """Make directory or empty file `parts` (from resolve_parts) and its missing parents inside
    the root; an fd of it (also if it exists by now)."""
    if not parts:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), "/")
    parent = make_dirs(root_fd, root, parts[:-1])
    try:
        if kind == "dir":
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
            except FileExistsError:
                pass
        else:
            try:
                os.close(os.open(parts[-1], os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o644, dir_fd=parent))
            except FileExistsError:
                pass
    finally:
        os.close(parent)
    return open_in_root(root_fd, root, "/" + "/".join(parts), flags)
