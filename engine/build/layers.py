"""Tar streams for COPY and ADD: what to put where, with Docker's destination rules.

The tar written here is extracted into the step's mounted overlay (so symlinks in the
destination resolve inside the image root, as Docker's do), and the upper dir then becomes the
layer. Names in the tar are relative to the image root.

Destination rules (Docker's): a destination ending in `/`, or an existing directory, receives
sources by their base name; a source directory's *contents* are copied (not the directory
itself); several sources need a directory destination. New files are owned by 0:0 unless
`--chown`; modes and mtimes come from the source, `--chmod` overrides modes.
"""
from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from engine.build.context import BuildContext, Entry
from engine.errors import BadParameter
from engine.images.tarpath import clean_name

ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True)
class Ownership:
    uid: int = 0
    gid: int = 0
    mode: int | None = None     # --chmod


def parse_chmod(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise BadParameter(f"invalid chmod parameter: {text!r} (octal mode expected)") from None
    if not 0 <= value <= 0o7777:
        raise BadParameter(f"invalid chmod parameter: {text!r}")
    return value


def target_for(source_rel: str, is_dir: bool, dest: str, dest_is_dir: bool) -> str:
    """Image path a single source lands at (pure)."""
    if is_dir:
        return dest
    if dest_is_dir:
        return posixpath.join(dest, posixpath.basename(source_rel) or "")
    return dest


def _info(name: str, entry: Entry, own: Ownership) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    st = entry.st
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = own.uid, own.gid
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(entry.path)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        raise BadParameter(f"cannot copy {entry.rel!r}: unsupported file type")
    info.mode = own.mode if own.mode is not None and not stat.S_ISLNK(st.st_mode) else mode
    return info


def _dir_info(name: str, own: Ownership) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.uid, info.gid = own.uid, own.gid
    return info


def write_copy(out: BinaryIO, source: BuildContext, sources: list[str], dest: str,
               dest_is_dir: bool, own: Ownership, exists: Callable[[str], str | None],
               *, extract_archives: bool = False) -> None:
    """Write the tar of one COPY/ADD. `exists(path)` says what the image has there
    ("dir", "file", None); used to create only missing directories."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in sources:
            entries = source.walk(rel)
            first = next(entries, None)
            if first is None:
                continue
            is_dir = stat.S_ISDIR(first.st.st_mode)
            if extract_archives and stat.S_ISREG(first.st.st_mode) and is_archive(first.path):
                if exists(dest) is None:
                    tar.addfile(_dir_info(dest, own))
                _add_archive(tar, first.path, dest)
                continue
            target = target_for(rel, is_dir, dest, dest_is_dir)
            if is_dir:
                if exists(target) is None:
                    info = _info(target, first, own)
                    if own.mode is None:
                        info.mode = stat.S_IMODE(first.st.st_mode)
                    tar.addfile(info)
                prefix = first.rel
                for entry in entries:
                    tail = entry.rel[len(prefix):].lstrip("/") if prefix else entry.rel
                    _add(tar, posixpath.join(target, tail), entry, own)
            else:
                _add(tar, target, first, own)


def _add(tar: tarfile.TarFile, name: str, entry: Entry, own: Ownership) -> None:
    info = _info(name, entry, own)
    if info.isreg():
        with open(entry.path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def is_archive(path) -> bool:
    """ADD auto-extracts local tar archives (plain, gzip, bzip2, xz, zstd) — not other files."""
    with open(path, "rb") as f:
        head = f.read(512)
    if any(head.startswith(m) for m in ARCHIVE_MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def _add_archive(tar: tarfile.TarFile, path, dest: str) -> None:
    """Re-emit an archive's members below `dest`; names climbing out are refused."""
    if open(path, "rb").read(4) == b"\x28\xb5\x2f\xfd":
        raise BadParameter(f"ADD: zstd archives are not supported: {os.path.basename(path)}")
    try:
        with tarfile.open(path, mode="r:*") as src:
            for member in src:
                parts = clean_name(member.name)
                if not parts:
                    continue
                member.name = posixpath.join(dest, *parts).lstrip("/")
                if member.islnk():
                    link = clean_name(member.linkname, what="hard link target")
                    member.linkname = posixpath.join(dest, *link).lstrip("/")
                if member.isreg():
                    tar.addfile(member, src.extractfile(member))
                else:
                    tar.addfile(member)
    except tarfile.TarError as exc:
        raise BadParameter(f"ADD: cannot read archive {os.path.basename(path)}: {exc}") from None
