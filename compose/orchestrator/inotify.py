"""A recursive file watcher over Linux inotify, through ctypes (no dependency: `watch` needs
one kernel facility, and a watcher library would add a compiled wheel for ~100 lines).

inotify watches one directory at a time, so every directory below a root gets its own watch,
and a directory that appears later is added when its creation is seen; what was written into
it before its watch existed is found by walking it once then. When the kernel's queue
overflows, the roots themselves are reported (the caller syncs them whole).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from compose.inotify import (IN_CREATE, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR, IN_MOVE_SELF,
                             IN_MOVED_FROM, IN_MOVED_TO, IN_Q_OVERFLOW, Inotify)


class TreeWatch:
    """inotify over directory trees. `fileno()` is readable when events wait; `read()` returns
    the absolute paths they concern (never blocks)."""

    def __init__(self, roots: Iterable[str],
                 descend: Callable[[str], bool] = lambda directory: True) -> None:
        """`descend(directory)`: watch this directory below a root (and what is below it)?"""
        self._descend = descend
        self._inotify = Inotify()
        self.fd = self._inotify.fd
        self.roots = tuple(dict.fromkeys(os.path.abspath(r) for r in roots))
        self._dirs: dict[int, str] = {}
        try:
            for root in self.roots:
                self._add_tree(root)
        except BaseException:
            self.close()
            raise

    def _add(self, directory: str) -> bool:
        wd = self._inotify.add_watch(directory)
        if wd is None:
            return False   # gone (or replaced) since it was seen: its events come anyway
        self._dirs[wd] = directory
        return True

    def _add_tree(self, root: str) -> list[str]:
        """Watch `root` and every directory below it; the files found (for a new directory)."""
        found: list[str] = []
        if not self._add(root):
            return found
        for parent, dirs, files in os.walk(root):
            kept = []
            for d in dirs:
                path = os.path.join(parent, d)
                if not os.path.islink(path) and self._descend(path) and self._add(path):
                    found.append(path)
                    kept.append(d)
            dirs[:] = kept   # os.walk goes only where the watches are
            found += [os.path.join(parent, f) for f in files]
        return found

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[str]:
        paths: dict[str, None] = {}
        for wd, mask, name in self._inotify.events():
            for path in self._event(wd, mask, name):
                paths[path] = None
        return list(paths)

    def _event(self, wd: int, mask: int, name: str) -> list[str]:
        if mask & IN_Q_OVERFLOW:
            return list(self.roots)
        directory = self._dirs.get(wd)
        if directory is None:
            return []
        if mask & IN_IGNORED:
            del self._dirs[wd]   # the directory went: its parent reported it
            return []
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            return [directory] if directory in self.roots else []
        path = os.path.join(directory, name) if name else directory
        if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and self._descend(path):
            return [path, *self._add_tree(path)]
        if mask & IN_ISDIR and mask & IN_MOVED_FROM:
            self._forget(path)   # its watches would go on reporting under the old name
        return [path]

    def _forget(self, directory: str) -> None:
        prefix = directory + "/"
        for wd, d in list(self._dirs.items()):
            if d == directory or d.startswith(prefix):
                self._inotify.rm_watch(wd)
                del self._dirs[wd]

    def close(self) -> None:
        self._inotify.close()
        self.fd = -1

    def __enter__(self) -> TreeWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
