"""A build context directory as .dockerignore lets it be seen: what the client packs into the
tar it sends to POST /build, and what the builder's COPY walks once the engine has unpacked it.

One reading of the directory for both sides, so what leaves the client and what a COPY finds
follow the same rules: ignored entries stay out (a directory re-included below an ignored one is
still entered), symlinks are resolved inside the context only (a `.dockerignore` or a source
that is a link never makes us read a host file), links found while walking are kept as links,
and a device node is refused. Pure apart from reading the directory; no engine state.
"""
from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.dockerignore import Matcher
from engine.errors import BadParameter


class ContextError(BadParameter):
    pass


@dataclass(frozen=True)
class Entry:
    rel: str          # context-relative posix path ("" = the root)
    path: Path        # host path
    st: os.stat_result


class ContextDir:
    def __init__(self, root: Path, matcher: Matcher | None = None) -> None:
        self.root = Path(root)
        if matcher is None:
            ignore = self.resolve(".dockerignore", follow_last=True)
            matcher = Matcher.from_text((read_regular(ignore) or "") if ignore is not None else "")
        self.matcher = matcher

    def resolve(self, rel: str, *, follow_last: bool = False) -> Path | None:
        """Host path of `rel`, following symlinks on the way only inside the context (the last
        component too with `follow_last`: a COPY source that is a link copies its target)."""
        current = self.root
        parts = [p for p in rel.split("/") if p]
        hops = 0
        while parts:
            part = parts.pop(0)
            candidate = current / part
            try:
                st = candidate.lstat()
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
                hops += 1
                if hops > 40:
                    raise ContextError(f"too many levels of symbolic links: {rel}")
                target = os.readlink(candidate)
                base = "" if target.startswith("/") else str(current.relative_to(self.root))
                joined = posixpath.normpath(posixpath.join("/", base, target)).lstrip("/")
                parts = [p for p in joined.split("/") if p] + parts
                current = self.root
                continue
            current = candidate
        return current

    def walk(self, rel: str) -> Iterator[Entry]:
        """The entry `rel` and, for a directory, everything below it that is not ignored.
        A symlink named as the source itself is followed (inside the context), like Docker."""
        path = self.resolve(rel, follow_last=True)
        if path is None:
            return
        st = path.lstat()
        self._check(rel, st)
        yield Entry(rel, path, st)
        if not stat.S_ISDIR(st.st_mode):
            return
        yield from self._walk_dir(path, rel)

    def _walk_dir(self, path: Path, rel: str) -> Iterator[Entry]:
        for name in sorted(os.listdir(path)):
            child_rel = f"{rel}/{name}" if rel else name
            child = path / name
            st = child.lstat()
            if stat.S_ISDIR(st.st_mode):
                if self.matcher.ignored(child_rel) and not self.matcher.may_descend(child_rel):
                    continue
                if not self.matcher.ignored(child_rel):
                    yield Entry(child_rel, child, st)
                yield from self._walk_dir(child, child_rel)
                continue
            if self.matcher.ignored(child_rel):
                continue
            self._check(child_rel, st)
            yield Entry(child_rel, child, st)

    @staticmethod
    def _check(rel: str, st: os.stat_result) -> None:
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            raise ContextError(f"build context contains a device node: {rel}")


def read_regular(path: Path) -> str | None:
    """The text of `path` if it is a regular file, never following a link at its end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read().decode(errors="replace")
