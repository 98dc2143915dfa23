"""`cp` between a container and the local file system, as the docker CLI does it: the engine
stats the container path (HEAD archive), the copy is a tar both ways, and the top entry is
renamed when the destination names a new file or directory.

Local extraction never writes through a link: members are checked by tarfile's "tar" filter
(nothing lands outside the destination, also not through a link extracted a moment before).
"""
from __future__ import annotations

import base64
import json
import os
import posixpath
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterable
from urllib.parse import quote

from engine.errors import NotFound, PycomposeError

STAT_HEADER = "x-docker-container-path-stat"
GO_DIR, GO_SYMLINK = 1 << 31, 1 << 27


class CopyError(PycomposeError):
    """A `cp` that cannot be done as asked (one line naming the path)."""


@dataclass(frozen=True)
class Endpoint:
    """One side of `cp`: a container path (`container` set) or a local path ("-": stdio)."""
    path: str
    container: str | None = None


def parse_endpoint(text: str) -> Endpoint:
    """`CONTAINER:PATH` or a local path; a local path with a colon is written `./a:b`."""
    if text.startswith(("/", ".")) or ":" not in text:
        return Endpoint(text)
    name, _, path = text.partition(":")
    if not name or not path:
        raise CopyError(f"invalid copy endpoint {text!r}: want CONTAINER:PATH")
    return Endpoint(path, name)


@dataclass(frozen=True)
class PathStat:
    name: str
    size: int
    mode: int
    link_target: str

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & GO_DIR)

    @property
    def is_link(self) -> bool:
        return bool(self.mode & GO_SYMLINK)


def decode_stat(value: str) -> PathStat:
    doc = json.loads(base64.b64decode(value))
    return PathStat(doc.get("name", ""), doc.get("size", 0), doc.get("mode", 0),
                    doc.get("linkTarget", ""))


def _archive_path(container: str) -> str:
    return f"/containers/{quote(container, safe='')}/archive"


def stat_path(client: Any, container: str, path: str) -> PathStat | None:
    """The container path's stat, None when it does not exist."""
    try:
        resp = client.request("HEAD", _archive_path(container), {"path": path})
    except NotFound as e:
        if "No such container" in e.message:
            raise
        return None
    resp.read()
    return decode_stat(resp.headers.get(STAT_HEADER, ""))


def rebase(member: tarfile.TarInfo, old: str, new: str) -> None:
    """Rename the archive's top entry `old` to `new` (its children follow)."""
    for attr in ("name",) + (("linkname",) if member.islnk() else ()):
        value = getattr(member, attr)
        if value == old or value.startswith(old + "/"):
            setattr(member, attr, new + value[len(old):])


# -- from a container ---------------------------------------------------------------------------

def copy_from(client: Any, container: str, src: str, dest: str, *, follow: bool = False,
              out: BinaryIO | None = None) -> None:
    st = stat_path(client, container, src)
    if st is None:
        raise CopyError(f"Could not find the file {src} in container {container}")
    if follow and st.is_link:
        src = st.link_target
        st = stat_path(client, container, src) or st
    resp = client.request("GET", _archive_path(container), {"path": src})
    if dest == "-":
        stream = out or sys.stdout.buffer
        for chunk in resp.iter_chunks():
            stream.write(chunk)
        stream.flush()
        return
    with tempfile.TemporaryFile() as spool:
        for chunk in resp.iter_chunks():
            spool.write(chunk)
        spool.seek(0)
        _extract_local(spool, st, dest)


def _extract_local(spool: BinaryIO, st: PathStat, dest: str) -> None:
    src_base = st.name
    if os.path.isdir(dest):
        where, new_base = dest, src_base
    else:
        parent = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(parent):
            raise CopyError(f"destination directory {parent} does not exist")
        if os.path.exists(dest) and st.is_dir:
            raise CopyError(f"cannot copy a directory to the file {dest}")
        if dest.endswith("/") and not st.is_dir:
            raise CopyError(f"destination directory {dest} does not exist")
        where, new_base = parent, os.path.basename(os.path.abspath(dest))
    with tarfile.open(fileobj=spool, mode="r|") as tar:
        for member in tar:
            if src_base != ".":
                rebase(member, src_base, new_base)   # "/" and "//x" too: the root's entries
            elif new_base != src_base:
                member.name = posixpath.join(new_base, member.name)
            _extract(tar, member, where)


# tarfile's extraction filters came with Python 3.11.4; Debian 12's python3 is 3.11.2.
_HAS_FILTERS = hasattr(tarfile, "tar_filter")


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> None:
    if _HAS_FILTERS:
        try:
            tar.extract(member, where, filter="tar")
        except tarfile.FilterError as e:
            raise CopyError(f"refusing to extract {member.name!r}: {e}") from None
        return
    # What the 'tar' filter does, for older Pythons: no leading '/', nothing whose path (after
    # the links extracted so far) leaves the destination, no setuid/setgid/sticky or
    # group/other write bits.
    import stat

    name = member.name.lstrip("/")
    dest = os.path.realpath(where)
    target = os.path.realpath(os.path.join(dest, name))
    if os.path.commonpath([dest, target]) != dest:
        raise CopyError(f"refusing to extract {member.name!r}: it would land outside {where}")
    member.name = name
    member.mode &= ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
    tar.extract(member, where)


# -- into a container -----------------------------------------------------------------------------

def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def local_tar(src: str, arcname: str, out: BinaryIO, *, keep_ids: bool = False) -> None:
    """A tar of local `src` (links kept as links) with its top entry named `arcname`; owned
    by root unless `keep_ids` (docker cp -a), as the docker CLI makes it."""
    if not os.path.lexists(src):
        raise CopyError(f"no such file or directory: {src}")
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(src, arcname=arcname, recursive=True, filter=None if keep_ids else _as_root)


def copy_to(client: Any, container: str, src: str, dest: str,
            stdin: BinaryIO | None = None, *, archive: bool = False) -> None:
    st = stat_path(client, container, dest)
    if st is not None and st.is_link:
        st = stat_path(client, container, st.link_target) or st
    if src == "-":
        if st is None or not st.is_dir:
            raise CopyError(f"destination {dest} must be a directory in container {container}")
        _put(client, container, dest, stdin or sys.stdin.buffer, archive)
        return
    src_is_dir = os.path.isdir(src)
    contents_only = src_is_dir and (src == "." or src.endswith("/."))
    if st is not None and st.is_dir:
        # `dir/.` copies what is in dir, `dir` the directory itself (as docker cp)
        target_dir = dest
        name = "." if contents_only else os.path.basename(os.path.normpath(src))
    else:
        if st is not None and src_is_dir:
            raise CopyError(f"cannot copy a directory to the file {dest} in container {container}")
        if dest.endswith("/"):
            raise CopyError(f"destination directory {dest} does not exist in container "
                            f"{container}")
        target_dir = posixpath.dirname(dest.rstrip("/")) or "/"
        name = posixpath.basename(dest.rstrip("/"))
        parent = stat_path(client, container, target_dir)
        if parent is None or not (parent.is_dir or parent.is_link):
            raise CopyError(f"destination directory {target_dir} does not exist in container "
                            f"{container}")
    with tempfile.TemporaryFile() as spool:
        local_tar(src, name, spool, keep_ids=archive)
        spool.seek(0)
        _put(client, container, target_dir, spool, archive)


def _put(client: Any, container: str, directory: str, body: BinaryIO | Iterable[bytes],
         archive: bool = False) -> None:
    params = {"path": directory, "copyUIDGID": "1" if archive else None}
    client.request("PUT", _archive_path(container), params, body=body,
                   headers={"Content-Type": "application/x-tar"}).read()


def copy(client: Any, src: Endpoint, dest: Endpoint, *, follow: bool = False,
         archive: bool = False) -> None:
    if (src.container is None) == (dest.container is None):
        raise CopyError("copying between containers is not supported; one side must be "
                        "CONTAINER:PATH" if src.container else
                        "one side of cp must be CONTAINER:PATH")
    if src.container is not None:
        copy_from(client, src.container, src.path, dest.path, follow=follow)
    else:
        assert dest.container is not None
        copy_to(client, dest.container, src.path, dest.path, archive=archive)
