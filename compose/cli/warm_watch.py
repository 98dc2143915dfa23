"""Knows when the code a warm server imported has changed on disk (see compose/cli/warm_server.py).

A worker forked from a server runs the server's imported code, so after an upgrade or an edit —
of pycompose or of any package it imported (`pip install -U trio`) — the server must stop serving.
Stat-ing every loaded file per request would cost each command about 1.5 ms (some 430 files), so
the server asks inotify instead: one watch per directory that holds a loaded module, plus each
`sys.path` directory (where pip adds and removes `*.dist-info` and `.pth` files). Checking before a
request is then one non-blocking read that finds nothing.

What counts as a change: anything done to a file the server loaded; a watched directory moved or
deleted; in a `sys.path` directory, package metadata or a `.pth` file appearing, going or being
renamed (an install, upgrade or removal). A new module elsewhere does not count: a worker imports
what the server did not from disk anyway, and it cannot alter what the server did import.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from compose.inotify import (DIRECTORY_MASK as WATCH_MASK, IN_DELETE_SELF, IN_IGNORED,
                             IN_MOVE_SELF, IN_Q_OVERFLOW, Inotify)

# the watched directory itself went away (or the kernel dropped events): always a change
SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW
INSTALL_SUFFIXES = (".pth", ".dist-info", ".egg-info", ".egg-link")
# an mtime this close before the server began importing may belong to a write the import missed
# (file times come from a coarse clock)
MTIME_SLACK_NS = 50_000_000


@dataclass(frozen=True)
class Watched:
    """One watched directory."""

    names: frozenset[str]   # the files loaded from it
    packages: bool = False  # a sys.path directory: installs and removals show here


def watch_plan(files: Iterable[str], path_dirs: Iterable[str]) -> dict[str, Watched]:
    """directory -> what to watch there; `sys.path` directories are watched even when nothing
    was loaded straight from them."""
    names: dict[str, set[str]] = {}
    for path in files:
        directory, name = os.path.split(os.path.abspath(path))
        names.setdefault(directory, set()).add(name)
    packages = {os.path.abspath(d) for d in path_dirs if d and os.path.isdir(d)}
    return {directory: Watched(frozenset(names.get(directory, ())), directory in packages)
            for directory in sorted(names.keys() | packages)}


def event_matters(mask: int, name: str, watched: Watched) -> bool:
    if mask & SELF_GONE:
        return True
    if name in watched.names:
        return True
    return watched.packages and name.endswith(INSTALL_SUFFIXES)


def changed_since(plan: Mapping[str, Watched], since_ns: int) -> str | None:
    """A loaded file (or sys.path directory) that changed or went after `since_ns` (a
    time.time_ns() taken before the imports), or None: closes the gap between importing and
    watching."""
    cutoff = since_ns - MTIME_SLACK_NS
    for directory, watched in plan.items():
        paths = [os.path.join(directory, n) for n in sorted(watched.names)]
        for path in paths + ([directory] if watched.packages else []):
            try:
                if os.stat(path).st_mtime_ns >= cutoff:
                    return path
            except OSError:
                return path
    return None


class SourceWatch:
    """inotify over a watch plan. `changed()` is sticky: once true, the server is stale."""

    def __init__(self, plan: Mapping[str, Watched]) -> None:
        self._inotify = Inotify()
        self.fd = self._inotify.fd
        self._watched: dict[int, Watched] = {}
        self._directories: dict[int, str] = {}
        self._changed = False
        self.what = ""  # the first change seen, for the log
        try:
            for directory, watched in plan.items():
                wd = self._inotify.add_watch(directory, WATCH_MASK)
                if wd is None:
                    self._changed = True  # gone since it was imported from
                    self.what = self.what or directory
                    continue
                self._watched[wd] = watched
                self._directories[wd] = directory
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        return self.fd

    def changed(self) -> bool:
        """Drain the pending events (one read when there are none)."""
        if self._changed:
            return True
        for wd, mask, name in self._inotify.events():
            if not self._changed and event_matters(mask, name,
                                                   self._watched.get(wd, Watched(frozenset()))):
                self._changed = True
                self.what = os.path.join(self._directories.get(wd, "?"), name)
        return self._changed

    def close(self) -> None:
        self._inotify.close()
        self.fd = -1
