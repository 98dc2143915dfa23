"""`docker diff`: what a container changed, read from its overlay upper dir.

Kinds as Docker's: 0 modified, 1 added, 2 deleted. A char device 0:0 in the upper dir is a
whiteout (deleted); anything else is modified when the path exists in the image's layers, added
otherwise; below an opaque directory (`trusted.overlay.opaque=y`) nothing of the image shows
through, so everything there is added. The upper dir is the container's to shape: it is walked
with fwalk (fds, no link followed), and the layers are probed with openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS), so a link in either never reaches outside them.
"""
from __future__ import annotations

import enum
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from engine.runtime import syscalls as sc

OPAQUE_XATTR = "trusted.overlay.opaque"
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08


class Kind(enum.IntEnum):
    MODIFIED = 0
    ADDED = 1
    DELETED = 2

    @property
    def letter(self) -> str:
        return "CAD"[self.value]


@dataclass(frozen=True)
class Change:
    path: str
    kind: Kind

    def to_docker(self) -> dict:
        return {"Path": self.path, "Kind": int(self.kind)}


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(name: str, dir_fd: int) -> bool:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return False
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False
    finally:
        os.close(fd)


class Layers:
    """The image's layer dirs (highest first), probed without following links."""

    def __init__(self, lowers: list[Path]) -> None:
        self.fds = [os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    for p in reversed(lowers)]

    def exists(self, rel: str) -> bool:
        """Does `rel` show through the image's layers (a whiteout or an opaque dir above it in
        a higher layer hides it)? Approximated: found as something else than a whiteout in any
        layer, the highest one deciding."""
        for fd in self.fds:
            try:
                probe = sc.openat2(fd, rel, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                                   _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV):
                    continue
                raise
            try:
                return not _is_whiteout(os.fstat(probe))
            finally:
                os.close(probe)
        return False

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def container_changes(upper: Path, lowers: list[Path], hidden: frozenset[str] = frozenset()
                      ) -> list[Change]:
    """Changes sorted by path. `hidden`: paths the engine itself made for mounting (stubs for
    /etc/hosts and mount targets), left out as Docker's init layer leaves them out."""
    layers = Layers(lowers)
    out: list[Change] = []
    opaque_below: list[str] = []   # dirs whose image contents are hidden
    try:
        for dirpath, dirnames, filenames, dfd in os.fwalk(upper, follow_symlinks=False):
            rel_dir = os.path.relpath(dirpath, upper)
            base = "" if rel_dir == "." else "/" + rel_dir
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = f"{base}/{name}"
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if path in hidden:
                    continue
                if _is_whiteout(st):
                    out.append(Change(path, Kind.DELETED))
                    continue
                shadowed = any(path.startswith(o + "/") for o in opaque_below)
                existed = not shadowed and layers.exists(path.lstrip("/"))
                if stat.S_ISDIR(st.st_mode) and _opaque(name, dfd):
                    opaque_below.append(path)
                out.append(Change(path, Kind.MODIFIED if existed else Kind.ADDED))
    finally:
        layers.close()
    out.sort(key=lambda c: c.path)
    return _without_stub_parents(out, hidden)


def engine_made(mount_targets: list[str]) -> frozenset[str]:
    """Paths the engine itself puts into a container's root to mount on (stubs for the /etc
    files and each mount target): never a change of the container's, never part of a commit
    (Docker keeps them in a layer of their own)."""
    targets = {t.rstrip("/") or "/" for t in mount_targets}
    targets.update(("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"))
    return frozenset(targets)


def _without_stub_parents(changes: list[Change], hidden: frozenset[str]) -> list[Change]:
    """A directory that holds nothing but hidden stubs was only touched by the engine (copy-up
    of /etc for an /etc/hosts stub, /mnt made for a mount on /mnt/x): left out too."""
    if not hidden:
        return changes
    paths = [c.path for c in changes]
    keep = []
    for c in changes:
        if c.kind is not Kind.DELETED and any(h.startswith(c.path + "/") for h in hidden) and \
                not any(p.startswith(c.path + "/") for p in paths):
            continue
        keep.append(c)
    return keep


def present_in(upper: Path, paths: frozenset[str]) -> list[str]:
    """Which of container `paths` exist in the upper dir (probed without following links)."""
    layer = Layers([upper])
    try:
        return sorted(p for p in paths if layer.exists(p.lstrip("/")))
    finally:
        layer.close()


def upper_size(upper: Path) -> int:
    """Bytes the writable layer takes (SizeRw), counted without following links."""
    total = 0
    seen: set[int] = set()
    for _dirpath, _dirs, files, dfd in os.fwalk(upper, follow_symlinks=False):
        for name in files:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                if st.st_ino in seen:
                    continue
                seen.add(st.st_ino)
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                total += st.st_size
    return total
