"""Bind mount propagation, as Docker gives it: `private`/`rprivate` (the default: nothing
crosses), `slave`/`rslave` (mounts the host makes under the source appear in the container),
`shared`/`rshared` (and the container's mounts there appear on the host). The `r` forms apply
to the whole tree of the bind, the others to its top mount.

How the container gets them (mounts.py applies it; the kernel's rules, see the kernel's
sharedsubtree documentation): a container without such binds makes its whole mount namespace
private, as always. With one, the namespace becomes a slave of the host's instead (host events
come in, none go out: the container's own /proc, /dev and its old root going away never reach
the host), its root bind is made private again, and then:
- a slave bind is a plain bind of the source: the namespace's copy of the source's mount is a
  slave of the host's, and so is a bind of it;
- a shared bind must be a peer of the host's mount, which nothing in a slave namespace is any
  more: so its source is cloned (open_tree) *before* the namespace turns slave, while the
  copy is still a peer, and that clone is attached at the target.

Docker refuses a shared bind whose source is not on a shared mount, and a slave bind whose
source is on a private one (nothing would ever propagate): so do we, at start, in its words
(`check_sources`, reading the daemon's /proc/self/mountinfo, only when such a bind exists).

Pure but for `check_sources` (which reads mountinfo when not given it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from engine.errors import BadParameter
from engine.runtime import syscalls as sc
from engine.runtime.spec import Mount

FLAGS = {"private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
         "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
         "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC}
NAMES = frozenset(FLAGS)
DEFAULT = "rprivate"
_SHARED = ("shared", "rshared")
_SLAVE = ("slave", "rslave")


def flags(name: str) -> int:
    """MS_* flags of a propagation name ("" is Docker's default, rprivate)."""
    return FLAGS[name or DEFAULT]


def is_shared(m: Mount) -> bool:
    return m.type == "bind" and m.propagation in _SHARED


def links_host(mounts: Iterable[Mount]) -> bool:
    """Does any bind want the host's mount events (then the namespace becomes a slave rather
    than private)?"""
    return any(m.type == "bind" and m.propagation in (*_SHARED, *_SLAVE) for m in mounts)


def root_flags(mounts: Iterable[Mount]) -> int:
    return sc.MS_REC | (sc.MS_SLAVE if links_host(mounts) else sc.MS_PRIVATE)


def recursive(m: Mount) -> bool:
    """A bind takes the mounts below its source along unless it is a plain `bind` (Docker's
    BindOptions.NonRecursive)."""
    return "bind" not in m.options


@dataclass(frozen=True)
class MountPoint:
    path: str
    optional: tuple[str, ...]        # "shared:N", "master:N", ... (mountinfo's optional fields)

    @property
    def shared(self) -> bool:
        return any(f.startswith("shared:") for f in self.optional)

    @property
    def slave(self) -> bool:
        return any(f.startswith("master:") for f in self.optional)


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountPoint]:
    """/proc/<pid>/mountinfo -> its mount points, in order (later ones lie over earlier)."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        end = fields.index("-", 6)
        out.append(MountPoint(_unescape(fields[4]), tuple(fields[6:end])))
    return out


def mount_of(path: str, points: list[MountPoint]) -> MountPoint | None:
    """The mount `path` (absolute, links resolved) is on: the deepest mount point above it,
    the last one mounted where several lie on one path."""
    best: MountPoint | None = None
    for point in points:
        prefix = point.path.rstrip("/") + "/"
        if path == point.path or path.startswith(prefix) or point.path == "/":
            if best is None or len(point.path) >= len(best.path):
                best = point
    return best


def check_sources(mounts: Iterable[Mount], mountinfo: str | None = None) -> None:
    """Raise BadParameter, in Docker's words, for a shared bind whose source is not on a shared
    mount or a slave bind whose source is on a private one."""
    wanted = [m for m in mounts if m.type == "bind" and m.propagation in (*_SHARED, *_SLAVE)]
    if not wanted:
        return
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    points = parse_mountinfo(mountinfo)
    for m in wanted:
        source = os.path.realpath(m.source)
        point = mount_of(source, points)
        where = point.path if point is not None else "/"
        if m.propagation in _SHARED and not (point and point.shared):
            raise BadParameter(f"path {m.source} is mounted on {where} but it is not a shared "
                               "mount")
        if m.propagation in _SLAVE and not (point and (point.shared or point.slave)):
            raise BadParameter(f"path {m.source} is mounted on {where} but it is not a shared "
                               "or slave mount")
