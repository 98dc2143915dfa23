"""Resolve docker's `-u` specs against the container's own /etc/passwd and /etc/group.

Accepted: "" (root), "uid", "uid:gid", "name", "name:group", and mixes. Numeric ids need no
entry (like Docker); an unknown name is a BadParameter naming it. Supplementary groups are the
groups that list the user as a member. The files are opened with RESOLVE_IN_ROOT so a symlinked
/etc/passwd in an image cannot make us read the host's.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from engine.errors import BadParameter
from engine.runtime import syscalls
from engine.runtime.spec import User


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def parse_passwd(text: str) -> list[PasswdEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        try:
            entries.append(PasswdEntry(parts[0], int(parts[2]), int(parts[3]),
                                       parts[5] if len(parts) > 5 else "/"))
        except ValueError:
            continue
    return entries


def home_of(passwd: list[PasswdEntry], uid: int) -> str:
    """HOME for a process running as `uid` when nothing set it: the home of the first passwd
    entry with that uid, "/" without one (as Docker; the runtime applies it in the child)."""
    for entry in passwd:
        if entry.uid == uid and entry.home:
            return entry.home
    return "/"


def parse_group(text: str) -> list[GroupEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 3 or line.startswith("#"):
            continue
        try:
            members = tuple(m for m in (parts[3].split(",") if len(parts) > 3 else []) if m)
            entries.append(GroupEntry(parts[0], int(parts[2]), members))
        except ValueError:
            continue
    return entries


def _parse_id(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value >= 2**32 - 1:
            raise BadParameter(f"invalid user or group id {text}")
        return value
    return None


def resolve_user_from(spec: str, passwd: list[PasswdEntry], groups: list[GroupEntry]) -> User:
    """Pure resolution of `spec` against parsed passwd/group entries."""
    user_part, _, group_part = spec.partition(":")
    user_part = user_part or "0"
    uid = _parse_id(user_part)
    entry: PasswdEntry | None
    if uid is None:
        entry = next((p for p in passwd if p.name == user_part), None)
        if entry is None:
            raise BadParameter(f"unable to find user {user_part}: no matching entries in "
                               "passwd file")
        uid = entry.uid
    else:
        entry = next((p for p in passwd if p.uid == uid), None)
    gid = entry.gid if entry else 0
    if group_part:
        numeric = _parse_id(group_part)
        if numeric is None:
            match = next((g for g in groups if g.name == group_part), None)
            if match is None:
                raise BadParameter(f"unable to find group {group_part}: no matching entries in "
                                   "group file")
            gid = match.gid
        else:
            gid = numeric
    extra: list[int] = []
    if entry is not None:
        for g in groups:
            if entry.name in g.members and g.gid != gid and g.gid not in extra:
                extra.append(g.gid)
    return User(uid=uid, gid=gid, additional_gids=tuple(extra))


def _read_in_root(rootfs: Path, path: str) -> str:
    try:
        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise BadParameter(f"container root {rootfs} is not accessible: {e.strerror}") from None
    try:
        # non-blocking: a FIFO planted at /etc/passwd must not hang the start
        fd = syscalls.open_in_root(root_fd, path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return ""  # missing file: numeric ids still work, names will not resolve
    finally:
        os.close(root_fd)
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""  # a FIFO or a device is no user database
        return f.read(4 * 1024 * 1024)


def resolve_user(rootfs: Path, user: str) -> User:
    """`user` as given to `docker run -u`; rootfs is the container's mounted root."""
    user = user.strip()
    if not user:
        user = "0"
    passwd = parse_passwd(_read_in_root(Path(rootfs), "/etc/passwd"))
    groups = parse_group(_read_in_root(Path(rootfs), "/etc/group"))
    return resolve_user_from(user, passwd, groups)
