"""Safe extraction of image layers (and build contexts) into a directory.

Python's tarfile filters either corrupt real root filesystems (`data`, `tar` drop setuid bits
and owners, refuse device nodes and absolute symlinks) or contain nothing (`fully_trusted`), so
this extractor does the work itself: every parent directory is opened with openat2(2) and
RESOLVE_IN_ROOT, which re-roots absolute symlinks and ".." at the layer directory, and every entry
is created with *at calls on that directory fd without following its last component. Nothing can
be written outside the destination, whatever links the tarball plants. Owners, modes (setuid,
sticky), device nodes and xattrs are kept: we run as root and these are image contents.
OCI whiteouts become overlayfs whiteouts (char device 0:0, `trusted.overlay.opaque=y`).
"""
from __future__ import annotations

import ctypes
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from engine.errors import BadParameter, EngineError
from engine.images.decompress import CHUNK, DecompressionLimits, decompressed
from engine.images.sparse import copy_sparse
from engine.images.tarpath import WhiteoutKind, clean_name, whiteout_of

OPAQUE_XATTR = "trusted.overlay.opaque"
_INPUT_ERRNOS = frozenset({errno.EFBIG, errno.ENAMETOOLONG, errno.ELOOP, errno.EMLINK})
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, parts: tuple[str, ...], flags: int) -> int:
    """Open `parts` below `root_fd`, symlinks and ".." resolved as if root_fd were "/"."""
    path = "/".join(parts) or "."
    how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(root_fd), os.fsencode(path),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


class HashingReader:
    """Counts and sha256-hashes what is read through it (the diff_id of a layer tar)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


@dataclass
class LayerStats:
    diff_id: str = ""       # sha256 of the uncompressed tar
    tar_size: int = 0       # bytes of the uncompressed tar
    size: int = 0           # bytes of regular file content
    entries: int = 0


@dataclass
class _DirMeta:
    parts: tuple[str, ...]
    member: tarfile.TarInfo


@dataclass
class Extractor:
    """Extracts one tar stream into `dest` (an existing, empty directory)."""

    dest: Path
    allow_devices: bool = True       # image layers: yes; build contexts: no
    overlay_whiteouts: bool = True   # False: keep ".wh." files as plain files (build contexts)
    _dirs: list[_DirMeta] = field(default_factory=list)
    _root_fd: int = -1
    # Consecutive entries mostly share a parent: its fd is kept until an entry removes
    # anything (a removal may change what a path resolves to).
    _cached: tuple[tuple[str, ...], int] | None = None
    _removed: bool = False

    def extract(self, stream) -> LayerStats:
        stats = LayerStats()
        reader = HashingReader(stream)
        self._root_fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            member = None
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        self._entry(tar, member, stats)
            except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise BadParameter(f"broken layer tarball: {exc}") from None
            except OSError as exc:
                # ELOOP from a symlink loop, ENOSPC, ...: one line naming the entry. What the
                # layer asked for (a file larger than the filesystem allows, a name too long,
                # a link loop) is the input's fault (400); the rest is ours (disk full, I/O).
                shown = repr(member.name) if member is not None else "(header)"
                cls = BadParameter if exc.errno in _INPUT_ERRNOS else EngineError
                raise cls(f"cannot extract layer entry {shown}: {exc.strerror or exc}") \
                    from None
            reader.drain()
            self._drop_parent()
            self._finish_dirs()
        finally:
            self._drop_parent()
            os.close(self._root_fd)
        stats.diff_id, stats.tar_size = reader.digest, reader.size
        return stats

    # -- entries -------------------------------------------------------------------------

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, stats: LayerStats) -> None:
        parts = clean_name(member.name)
        stats.entries += 1
        if not parts:
            if member.isdir():
                self._dirs.append(_DirMeta(parts, member))
            return
        whiteout = whiteout_of(parts, is_regular=member.isreg()) if self.overlay_whiteouts else None
        parent_fd = self._parent(parts[:-1], member.name)
        name = parts[-1]
        try:
            if whiteout is not None:
                if whiteout.kind is WhiteoutKind.OPAQUE:
                    os.setxattr(parent_fd, OPAQUE_XATTR, b"y")
                elif whiteout.kind is WhiteoutKind.DELETE:
                    self._create(parent_fd, whiteout.name, lambda: os.mknod(
                        whiteout.name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent_fd))
            elif member.isdir():
                try:
                    os.mkdir(name, 0o700, dir_fd=parent_fd)
                except FileExistsError:
                    if not self._clear(parent_fd, name, keep_dir=True):
                        os.mkdir(name, 0o700, dir_fd=parent_fd)
                self._dirs.append(_DirMeta(parts, member))
            elif member.isreg():
                self._regular(tar, member, parent_fd, name)
                stats.size += member.size
            elif member.issym():
                self._create(parent_fd, name,
                             lambda: os.symlink(member.linkname, name, dir_fd=parent_fd))
                self._owner_times(parent_fd, name, member)
            elif member.islnk():
                self._hardlink(member, parent_fd, name)
            elif member.ischr() or member.isblk() or member.isfifo():
                if not member.isfifo() and not self.allow_devices:
                    raise BadParameter(f"refusing device node {member.name!r}: device nodes are "
                                       f"not allowed here")
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() \
                    else stat.S_IFIFO
                self._create(parent_fd, name, lambda: os.mknod(
                    name, kind | 0o600, os.makedev(member.devmajor, member.devminor),
                    dir_fd=parent_fd))
                os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)
                os.chmod(name, member.mode & 0o7777, dir_fd=parent_fd)
                self._owner_times(parent_fd, name, member, chown=False)
            # Other types (GNU sparse is folded into regular by tarfile; contiguous files...) are
            # not produced by image tools; skipping them is safer than guessing.
        finally:
            if self._removed:
                self._drop_parent()
                self._removed = False

    def _drop_parent(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _parent(self, parts: tuple[str, ...], shown: str) -> int:
        """The (cached) fd of the directory `parts` inside the root; owned by the extractor."""
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        fd = self._open_parent(parts, shown)
        self._drop_parent()
        self._cached = (parts, fd)
        return fd

    def _open_parent(self, parts: tuple[str, ...], shown: str) -> int:
        """An fd of the directory `parts` inside the root, creating missing directories (0755)."""
        flags = os.O_RDONLY | os.O_DIRECTORY
        try:
            return open_in_root(self._root_fd, parts, flags)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise BadParameter(f"refusing layer entry {shown!r}: a parent is not a directory") \
                from None
        fd = os.dup(self._root_fd)
        try:
            for depth in range(1, len(parts) + 1):
                try:
                    new_fd = open_in_root(self._root_fd, parts[:depth], flags)
                except FileNotFoundError:
                    try:
                        os.mkdir(parts[depth - 1], 0o755, dir_fd=fd)
                    except FileExistsError:
                        # A dangling symlink (its target lives in a lower layer): cannot follow.
                        raise BadParameter(
                            f"refusing layer entry {shown!r}: {'/'.join(parts[:depth])!r} is a "
                            f"link to a directory this layer does not contain") from None
                    new_fd = open_in_root(self._root_fd, parts[:depth], flags)
                except NotADirectoryError:
                    raise BadParameter(f"refusing layer entry {shown!r}: a parent is not a "
                                       f"directory") from None
                os.close(fd)
                fd = new_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _clear(self, parent_fd: int, name: str, *, keep_dir: bool) -> bool:
        """Remove what `name` is now (a later entry replaces an earlier one); True if a kept dir."""
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
        self._removed = True
        return False

    def _create(self, parent_fd: int, name: str, make):
        """Create optimistically (the layer dir starts empty); replace on EEXIST."""
        try:
            return make()
        except FileExistsError:
            self._clear(parent_fd, name, keep_dir=False)
            return make()

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent_fd: int,
                 name: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = self._create(parent_fd, name, lambda: os.open(name, flags, 0o600, dir_fd=parent_fd))
        try:
            source = tar.extractfile(member)
            assert source is not None
            # A sparse member's holes are never read (tarfile would hand them over as zeros,
            # possibly terabytes of them): only its data runs are, each written at its offset.
            runs = member.sparse if member.sparse is not None else [(0, member.size)]
            raw = source.raw if member.sparse is not None else source
            written = 0
            for offset, length in runs:
                if member.sparse is not None:
                    raw.seek(offset)
                written = max(written, copy_sparse(raw, fd, offset, length, member.name))
            if written < member.size:
                # the file's length, with a trailing hole: it ends in zeros or a sparse gap
                os.ftruncate(fd, member.size)
            self._xattrs(fd, member)
            os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode & 0o7777)   # after chown, which clears setuid/setgid
            os.utime(fd, ns=(int(member.mtime * 1e9),) * 2)
        finally:
            os.close(fd)

    def _hardlink(self, member: tarfile.TarInfo, parent_fd: int, name: str) -> None:
        target = clean_name(member.linkname, what="hard link target")
        problem = f"refusing hard link {member.name!r} -> {member.linkname!r}"
        if not target:
            raise BadParameter(f"{problem}: it points at the layer root")
        try:
            target_parent = open_in_root(self._root_fd, target[:-1], os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise BadParameter(f"{problem}: the target is not (yet) in this layer") from None
        try:
            try:
                st = os.stat(target[-1], dir_fd=target_parent, follow_symlinks=False)
            except FileNotFoundError:
                raise BadParameter(f"{problem}: the target is not (yet) in this layer") from None
            if stat.S_ISDIR(st.st_mode):
                raise BadParameter(f"{problem}: the target is a directory")
            if target[:-1] == clean_name(member.name)[:-1] and target[-1] == name:
                return  # a link to itself: nothing to do
            self._create(parent_fd, name, lambda: os.link(
                target[-1], name, src_dir_fd=target_parent, dst_dir_fd=parent_fd,
                follow_symlinks=False))
        finally:
            os.close(target_parent)

    @staticmethod
    def _owner_times(parent_fd: int, name: str, member: tarfile.TarInfo, *,
                     chown: bool = True) -> None:
        if chown:
            os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)
        os.utime(name, ns=(int(member.mtime * 1e9),) * 2, dir_fd=parent_fd,
                 follow_symlinks=False)

    @staticmethod
    def _xattrs(fd: int, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            if name.startswith(OVERLAY_XATTR_PREFIXES):
                # Overlay's own xattrs (opaque, redirect, metacopy...) steer how the kernel
                # merges layers: only our whiteout conversion may set them, never image data.
                continue
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(fd, name, raw)
            except OSError as exc:
                # A filesystem without that namespace: the file is still usable.
                if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                    raise

    def _finish_dirs(self) -> None:
        # Directory modes and times last: writing into a directory changes its mtime, and a
        # read-only directory mode would stop us from filling it.
        for meta in reversed(self._dirs):
            try:
                fd = open_in_root(self._root_fd, meta.parts,
                                  os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError, OSError):
                continue   # replaced by a later entry
            try:
                self._xattrs(fd, meta.member)
                os.fchown(fd, meta.member.uid, meta.member.gid)
                os.fchmod(fd, meta.member.mode & 0o7777)
                os.utime(fd, ns=(int(meta.member.mtime * 1e9),) * 2)
            finally:
                os.close(fd)


def extract_layer(stream, dest: Path, *, allow_devices: bool = True,
                  overlay_whiteouts: bool = True,
                  limits: DecompressionLimits | None = None) -> LayerStats:
    """Extract an (optionally compressed) layer tar from `stream` into the empty dir `dest`."""
    return Extractor(dest, allow_devices=allow_devices,
                     overlay_whiteouts=overlay_whiteouts).extract(decompressed(stream, limits))


def tar_digest(stream, limits: DecompressionLimits | None = None) -> LayerStats:
    """diff_id and size of an (optionally compressed) tar, without extracting it."""
    reader = HashingReader(decompressed(stream, limits))
    reader.drain()
    return LayerStats(diff_id=reader.digest, tar_size=reader.size)


def write_diff(upper: Path, out: BinaryIO) -> None:
    """An OCI layer tar of an overlay upper dir (a container's changes), for commit/build.

    The reverse of extraction: a char device 0:0 becomes a `.wh.<name>` marker, a directory
    with `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry, overlay's own xattrs are left
    out, hard links within the dir become link entries. Entries are sorted for reproducibility.
    """
    upper = Path(upper)
    # A running container (commit --pause=false) may swap any dir for a link to a host path
    # while we read: every entry is reached from a held fd of its parent directory (fwalk
    # opens subdirs relative to it and checks they are what was listed), never by a path.
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames, dir_fd in os.fwalk(upper):
            dirnames.sort()
            here = f"/proc/self/fd/{dir_fd}"
            rel_dir = Path(dirpath).relative_to(upper)
            if rel_dir != Path("."):
                _add_entry(tar, f"{here}/.", str(rel_dir))
            if _is_opaque(f"{here}/.") and rel_dir != Path("."):
                marker = tarfile.TarInfo(f"{rel_dir}/.wh..wh..opq")
                marker.mtime = int(os.fstat(dir_fd).st_mtime)
                tar.addfile(marker)
            links = [d for d in dirnames if _is_link_at(d, dir_fd)]
            for name in sorted(filenames + links):
                path = f"{here}/{name}"
                rel = str(rel_dir / name) if rel_dir != Path(".") else name
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue    # gone since the listing: a running container's change
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                    marker = tarfile.TarInfo(str(Path(rel).parent / f".wh.{name}")
                                             if "/" in rel else f".wh.{name}")
                    marker.mtime = int(st.st_mtime)
                    tar.addfile(marker)
                    continue
                _add_entry(tar, path, rel)


def _is_link_at(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _is_opaque(path: Path | str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _add_entry(tar: tarfile.TarFile, path: Path | str, arcname: str) -> None:
    """One entry; nothing if it went away or turned into a link since it was listed (an
    unpaused commit of a running container)."""
    try:
        info = tar.gettarinfo(str(path), arcname)
    except FileNotFoundError:
        return
    if info is None:
        return      # a socket: no tar type for it, and meaningless in an image
    info.uname = info.gname = ""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        if name.startswith(OVERLAY_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        info.pax_headers[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    if info.isreg():
        # O_NOFOLLOW: a link swapped in since the lstat above is not followed; O_NONBLOCK: nor
        # does a FIFO swapped in hang the open
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                return
            raise
        with open(fd, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)
