"""`docker cp` both ways: stat a container path, tar it out, extract a tar into it.

Everything works on a `fsview.View` and on fds it hands out: a path is resolved inside the
container (fsview), every later step is an *at call on a held fd with O_NOFOLLOW on the last
component, so a link planted or swapped in by the container is copied as a link or refused,
never followed out to the host. Shapes follow the Docker Engine API v1.41: the path stat is
the `X-Docker-Container-Path-Stat` header (base64 JSON, Go's os.FileMode bits), the tar's top
entry is named after the last component of the path as asked.
"""
from __future__ import annotations

import base64
import errno
import json
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Callable

from engine.containers.fsview import (O_PATH_NOFOLLOW, Resolved, View, is_kernel_fs, normalize,
                                     reopen, walk_names)
from engine.errors import BadParameter, EngineError, NotFound

CHUNK = 1 << 20

# Go's os.FileMode type bits (what Docker's PathStat.mode carries)
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE = 1 << 31, 1 << 27, 1 << 26, 1 << 25
_GO_SOCKET, _GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = (1 << 24, 1 << 23, 1 << 22,
                                                              1 << 21, 1 << 20)


class ReadOnlyPath(EngineError):
    """A copy into a read-only root file system or volume (Docker answers 403)."""
    status = 403


def go_file_mode(mode: int) -> int:
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFBLK: _GO_DEVICE,
            stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV, stat.S_IFIFO: _GO_PIPE,
            stat.S_IFSOCK: _GO_SOCKET}.get(kind, 0)
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def rfc3339(ts_ns: int) -> str:
    secs, nanos = divmod(ts_ns, 10**9)
    base = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{nanos:09d}".rstrip("0") if nanos else "") + "Z"


def go_base(path: str) -> str:
    """Go's filepath.Base: trailing slashes dropped, "/" for the root, "." for ""."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def encode_stat(doc: dict) -> str:
    """The `X-Docker-Container-Path-Stat` header value."""
    return base64.b64encode(json.dumps(doc).encode()).decode()


@dataclass
class Entry:
    """What an archive path names: an O_PATH fd (not followed if it is a link), its container
    path, and the name its archive entry gets."""
    resolved: Resolved
    name: str
    link_target: str = ""

    def stat_doc(self) -> dict:
        st = self.resolved.st
        return {"name": self.name, "size": st.st_size, "mode": go_file_mode(st.st_mode),
                "mtime": rfc3339(st.st_mtime_ns), "linkTarget": self.link_target}

    def stat_header(self) -> str:
        return encode_stat(self.stat_doc())

    def close(self) -> None:
        self.resolved.close()


def locate(view: View, path: str, container: str) -> Entry:
    """The entry `path` names: its directory part resolved (links followed, inside the root),
    its last component not followed, unless the path ends in "/" or "/." (as Docker)."""
    if not path:
        raise BadParameter("path: must not be empty")
    absolute = "/" + path.lstrip("/")
    follow = absolute.endswith("/") or absolute.endswith("/.") or absolute == "/"
    try:
        resolved = view.resolve(absolute, follow_last=follow)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    except OSError as e:
        raise BadParameter(f"cannot resolve {path} in container {container}: "
                           f"{e.strerror}") from None
    entry = Entry(resolved, go_base(absolute))
    if stat.S_ISLNK(resolved.st.st_mode):
        try:
            target = view.resolve(absolute, follow_last=True)
            entry.link_target = target.path
            target.close()
        except OSError:  # a dangling link: Docker names where it points, as written
            entry.link_target = os.readlink("", dir_fd=resolved.fd)
    return entry


# -- out: a tar of a path ---------------------------------------------------------------------

class _Exactly:
    """A file read as exactly `size` bytes: a file that shrank while we read it is padded with
    zeros, one that grew is cut, so the tar stream stays well-formed."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = CHUNK) -> bytes:
        n = min(n if n >= 0 else self.left, self.left)
        if n <= 0:
            return b""
        parts, want = [], n
        while want:   # tarfile wants every read full: short reads are continued
            data = os.read(self.fd, want)
            if not data:
                parts.append(b"\0" * want)
                break
            parts.append(data)
            want -= len(data)
        self.left -= n
        return b"".join(parts)


# file capabilities travel as Docker's archives carry them (the only xattr Docker copies)
CAPABILITY_XATTR = "security.capability"
CAPABILITY_PAX = "SCHILY.xattr." + CAPABILITY_XATTR


def _file_capability(fd: int) -> str | None:
    try:
        # tarfile writes PAX values as UTF-8 with surrogateescape: binary survives the trip
        return os.getxattr(fd, CAPABILITY_XATTR).decode("utf-8", "surrogateescape")
    except OSError:
        return None


class TarWriter:
    """Writes entries found through a view into a tarfile, never following a link."""

    def __init__(self, view: View, tar: tarfile.TarFile) -> None:
        self.view, self.tar = view, tar
        self.links: dict[tuple[int, int], str] = {}

    def add(self, fd: int, path: str, st: os.stat_result, arcname: str) -> None:
        """Entry O_PATH `fd` (container path `path`) as `arcname`, directories recursively."""
        info = tarfile.TarInfo(arcname)
        info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        # whole seconds, as Docker's archives: a fraction would cost a PAX header per entry
        info.mtime = int(st.st_mtime)
        kind = stat.S_IFMT(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if kind != stat.S_IFDIR and st.st_nlink > 1 and key in self.links:
            info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
            self.tar.addfile(info)
            return
        if kind == stat.S_IFREG:
            if st.st_nlink > 1:
                self.links[key] = arcname
            info.size = st.st_size
            rfd = reopen(fd, os.O_RDONLY)   # a regular file: fstat said so
            try:
                capability = _file_capability(rfd)
                if capability is not None:
                    info.pax_headers[CAPABILITY_PAX] = capability
                self.tar.addfile(info, _Exactly(rfd, st.st_size))
            finally:
                os.close(rfd)
        elif kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
            self.tar.addfile(info)
            if not is_kernel_fs(fd):   # /proc, /sys, ... : the directory, not the kernel's files
                self._children(fd, path, arcname)
        elif kind == stat.S_IFLNK:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink("", dir_fd=fd)
            self.tar.addfile(info)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
            self.tar.addfile(info)
        # sockets are left out, as Docker does

    def _children(self, fd: int, path: str, arcname: str) -> None:
        # the root's entries are "/" and "//name", as Docker's: a client renames the archive's
        # top entry by replacing its first "/" (docker cp -L of a link to /)
        prefix = {"": "", ".": "./", "/": "//"}.get(arcname, arcname.rstrip("/") + "/")
        for name in walk_names(fd):
            try:
                child = self.view.open_child(fd, path, name)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue  # removed or swapped for a link meanwhile: not followed
                raise
            try:
                self.add(child, posixpath.join(path, name), os.fstat(child), prefix + name)
            except OSError as e:
                # gone, or a kernel file that cannot be read as one (procfs, sysfs): left out
                if e.errno not in (errno.ENOENT, errno.EINVAL, errno.EACCES, errno.EPERM,
                                   errno.EIO, errno.ENXIO):
                    raise
            finally:
                os.close(child)


def write_archive(view: View, entry: Entry, out: BinaryIO) -> None:
    """The tar `GET /containers/{id}/archive` answers with."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      copybufsize=CHUNK) as tar:
        TarWriter(view, tar).add(entry.resolved.fd, entry.resolved.path, entry.resolved.st,
                                 entry.name)


def write_export(view: View, out: BinaryIO) -> None:
    """The whole file system as the container sees it (`export`), entries relative to /."""
    root = view.resolve("/")
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                          copybufsize=CHUNK) as tar:
            TarWriter(view, tar)._children(root.fd, "/", "")
    finally:
        root.close()


# -- in: extract a tar at a path ---------------------------------------------------------------

@dataclass(frozen=True)
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False
    owner: tuple[int, int] | None = None   # copyUIDGID: every entry owned by the container user
    # decides whether a container path may be written (a stopped container's read-only root
    # or volume); a running container's kernel answers EROFS by itself
    writable: Callable[[str], bool] = lambda path: True


def member_parts(name: str) -> list[str]:
    """A member's path components below the extraction point; BadParameter if it climbs out."""
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise BadParameter(f"invalid archive: {name!r} climbs out of the destination")
            parts.pop()
            continue
        parts.append(p)
    return parts


class Extractor:
    def __init__(self, view: View, dest: Resolved, opts: ExtractOptions) -> None:
        self.view, self.dest, self.opts = view, dest, opts
        self.dir_times: list[tuple[str, int]] = []

    def _parent(self, parts: list[str]) -> Resolved:
        """The directory that gets the member, made if missing; links in it followed inside
        the root (as a copy into a chroot would, a dangling link's target made too)."""
        path = posixpath.join(self.dest.path, *parts)
        ensure_dir(self.view, path)
        r = self.view.resolve(path)
        if not stat.S_ISDIR(r.st.st_mode):
            r.close()
            raise BadParameter(f"cannot extract below {path}: not a directory")
        return r

    def extract(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            parts = member_parts(member.name)
            if not parts:
                continue  # the "./" entry: the destination itself
            parent = self._parent(parts[:-1])
            try:
                self._member(tar, member, parent, parts[-1])
            finally:
                parent.close()
        for path, mtime in reversed(self.dir_times):
            try:
                r = self.view.resolve(path, follow_last=False)
            except OSError:
                continue
            try:
                if stat.S_ISDIR(r.st.st_mode):
                    os.utime(f"/proc/self/fd/{r.fd}", ns=(mtime, mtime))
            finally:
                r.close()

    def _member(self, tar: tarfile.TarFile, m: tarfile.TarInfo, parent: Resolved,
                leaf: str) -> None:
        where = posixpath.join(parent.path, leaf)
        if not self.opts.writable(where):
            raise ReadOnlyPath(f"cannot copy to {where}: the container's file system is "
                               "read-only there")
        pfd = parent.fd   # O_PATH: good for every *at call used here
        try:
            existing = os.stat(leaf, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            is_dir = stat.S_ISDIR(existing.st_mode)
            if is_dir and m.isdir():
                pass
            elif self.opts.no_overwrite_dir_non_dir and is_dir != m.isdir():
                what = ("cannot overwrite directory {!r} with non-directory {!r}" if is_dir
                        else "cannot overwrite non-directory {!r} with directory {!r}")
                raise BadParameter(what.format(where, m.name))
            elif is_dir:
                shutil.rmtree(leaf, dir_fd=pfd)   # fd-based: never follows a link inside
            else:
                os.unlink(leaf, dir_fd=pfd)
        self._create(tar, m, pfd, leaf, existing is not None and m.isdir())
        uid, gid = self.opts.owner or (m.uid, m.gid)
        os.chown(leaf, uid, gid, dir_fd=pfd, follow_symlinks=False)
        if not m.issym():
            fd = os.open(leaf, O_PATH_NOFOLLOW, dir_fd=pfd)
            try:
                if stat.S_ISLNK(os.fstat(fd).st_mode):
                    # swapped for a link by the container meanwhile (the kernel would act on
                    # the link itself, chmod failing with EOPNOTSUPP): a one-line refusal
                    raise BadParameter(f"cannot copy to {where}: it changed during the copy")
                # through the fd: the very entry just made, whatever the name points at now
                os.chmod(f"/proc/self/fd/{fd}", m.mode & 0o7777)
                capability = m.pax_headers.get(CAPABILITY_PAX) if m.isreg() else None
                if capability is not None:   # after chown, which clears it
                    os.setxattr(f"/proc/self/fd/{fd}", CAPABILITY_XATTR,
                                capability.encode("utf-8", "surrogateescape"))
                mtime = int(m.mtime * 1e9)
                if m.isdir():
                    self.dir_times.append((where, mtime))
                else:
                    os.utime(f"/proc/self/fd/{fd}", ns=(mtime, mtime))
            finally:
                os.close(fd)
        else:
            mtime = int(m.mtime * 1e9)
            os.utime(leaf, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)

    def _create(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, leaf: str,
                exists_as_dir: bool) -> None:
        if m.isdir():
            if not exists_as_dir:
                os.mkdir(leaf, 0o700, dir_fd=pfd)
        elif m.isreg():
            fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=pfd)
            try:
                src = tar.extractfile(m)
                while src is not None:
                    data = src.read(CHUNK)
                    if not data:
                        break
                    os.write(fd, data)
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, leaf, dir_fd=pfd)
        elif m.islnk():
            src_parts = member_parts(m.linkname)
            if not src_parts:
                raise BadParameter(f"invalid archive: hard link {m.name!r} to the destination")
            src_dir = self.view.resolve(posixpath.join(self.dest.path, *src_parts[:-1]))
            try:
                os.link(src_parts[-1], leaf, src_dir_fd=src_dir.fd, dst_dir_fd=pfd,
                        follow_symlinks=False)
            finally:
                src_dir.close()
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            os.mknod(leaf, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        else:
            raise BadParameter(f"invalid archive: unsupported entry type for {m.name!r}")


def ensure_dir(view: View, path: str, hops: int = 0) -> None:
    """Make container directory `path` and its missing parents, inside the root: a component
    that is a dangling link gets its target made (links resolved inside the root)."""
    if hops > 40:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    try:
        view.resolve(path).close()
        return
    except FileNotFoundError:
        pass
    parent, name = posixpath.split(normalize(path))
    if not name:
        return
    ensure_dir(view, parent, hops)
    p = view.resolve(parent)
    try:
        try:
            os.mkdir(name, 0o755, dir_fd=p.fd)
            return
        except FileExistsError:
            pass
        st = os.stat(name, dir_fd=p.fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=p.fd)
            ensure_dir(view, posixpath.join(p.path, target), hops + 1)
    finally:
        p.close()


def extract_archive(view: View, path: str, container: str, stream: BinaryIO,
                    opts: ExtractOptions) -> None:
    """`PUT /containers/{id}/archive`: `path` must be a directory (links followed, inside the
    root); the tar is extracted below it."""
    try:
        dest = view.resolve("/" + path.lstrip("/"))
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    try:
        if not stat.S_ISDIR(dest.st.st_mode):
            raise BadParameter("extraction point is not a directory")
        try:
            with tarfile.open(fileobj=stream, mode="r|*", copybufsize=CHUNK) as tar:
                Extractor(view, dest, opts).extract(tar)
        except tarfile.TarError as e:
            raise BadParameter(f"invalid archive: {e}") from None
        except OSError as e:
            if e.errno == errno.EROFS:
                raise ReadOnlyPath(f"cannot copy to {normalize(path)}: read-only file "
                                   "system") from None
            raise BadParameter(f"cannot copy to {normalize(path)}: {e.strerror}"
                               + (f" ({e.filename})" if e.filename else "")) from None
    finally:
        dest.close()
