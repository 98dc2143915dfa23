"""The build context: a directory (or an extracted tar stream) filtered by .dockerignore.

Sources named by COPY/ADD are resolved inside the context only: `..` cannot climb out, a
symlink on the way is followed only while it stays inside, and symlinks *in* copied trees are
copied as links (never followed). Device nodes are refused. `content_hash` gives the cache key
part of a COPY: names, modes, link targets and file contents of everything it would copy.
The directory reading itself (.dockerignore, links inside the context, the walk) is
engine/contextdir.py, shared with the client that packs the context.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from pathlib import Path
from typing import BinaryIO

# ContextError and Entry are re-exported: the builder and its tests name them from here
from engine.contextdir import ContextDir, ContextError, Entry, read_regular
from engine.images.archive import extract_layer
from engine.images.decompress import decompressed

__all__ = ["BuildContext", "ContextError", "Entry", "TarEnd"]

GLOB_CHARS = "*?["
BLOCK = 512


class TarEnd:
    """A tar stream read through to its end, then completed: the last entry padded to a whole
    block and two zero blocks added. The docker CLI's classic builder (`build -f -`) sends a
    context whose last entry is unpadded and has no end-of-archive blocks; Go's tar reader, and
    so Docker, takes it. Zeros after a complete archive are past its end and never read as
    entries, so a well-formed stream is unchanged in meaning."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._size = 0
        self._tail: bytes | None = None

    def read(self, n: int = -1) -> bytes:
        if self._tail is None:
            data = self._inner.read(n)
            if data or n == 0:
                self._size += len(data)
                return data
            self._tail = bytes(-self._size % BLOCK + 2 * BLOCK)
        if n < 0:
            n = len(self._tail)
        data, self._tail = self._tail[:n], self._tail[n:]
        return data


class BuildContext(ContextDir):
    """The context as the builder sees it: the shared directory view (engine/contextdir.py)
    plus what only a build needs: unpacking the client's tar, the Dockerfile, COPY sources."""

    @classmethod
    def from_tar(cls, stream: BinaryIO, dest: Path) -> BuildContext:
        """Extract a (optionally compressed) context tar into the empty dir `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        extract_layer(TarEnd(decompressed(stream)), dest, allow_devices=False,
                      overlay_whiteouts=False)
        return cls(dest)

    # -- files -----------------------------------------------------------------------------

    def read_dockerfile(self, name: str = "Dockerfile") -> str:
        rel = self.clean(name, what="Dockerfile")
        # a Dockerfile that is a link is followed inside the context only (`Dockerfile ->
        # /etc/shadow` must not make the engine read, and echo in an error, a host file)
        path = self.resolve(rel, follow_last=True)
        text = read_regular(path) if path is not None else None
        if text is None:
            raise ContextError(f"Cannot locate specified Dockerfile: {name}")
        return text

    def clean(self, path: str, what: str = "source") -> str:
        """Context-relative form of a COPY source; refuses climbing out with `..`."""
        normalized = posixpath.normpath("/" + path.replace("\\", "/")) if path else "/"
        parts = [p for p in path.split("/") if p]
        depth = 0
        for part in parts:
            depth = depth - 1 if part == ".." else depth + (part != ".")
            if depth < 0:
                raise ContextError(f"forbidden path outside the build context: {path}")
        return normalized.lstrip("/")

    def matches(self, source: str) -> list[str]:
        """Context paths a COPY source names (globs expanded, .dockerignore applied)."""
        rel = self.clean(source)
        if not any(c in rel for c in GLOB_CHARS):
            path = self.resolve(rel, follow_last=True)
            if path is None or not os.path.lexists(path) or self.matcher.ignored(rel):
                return []
            return [rel]
        found: list[str] = []
        pattern = rel.split("/")
        self._glob(self.root, "", pattern, found)
        return sorted(found)

    def _glob(self, here: Path, prefix: str, pattern: list[str], found: list[str]) -> None:
        head, rest = pattern[0], pattern[1:]
        try:
            names = sorted(os.listdir(here))
        except (NotADirectoryError, FileNotFoundError):
            return
        for name in names:
            if not fnmatch.fnmatchcase(name, head):
                continue
            rel = f"{prefix}{name}"
            if self.matcher.ignored(rel) and not rest:
                continue
            if rest:
                if (here / name).is_dir() and not (here / name).is_symlink():
                    self._glob(here / name, rel + "/", rest, found)
            else:
                found.append(rel)

    def content_hash(self, sources: list[str]) -> str:
        """sha256 over what copying `sources` would copy (names, modes, links, contents)."""
        digest = hashlib.sha256()
        for source in sources:
            for entry in self.walk(source):
                mode = entry.st.st_mode
                digest.update(f"{entry.rel}\0{stat.S_IFMT(mode)}\0{stat.S_IMODE(mode)}\0"
                              .encode())
                if stat.S_ISLNK(mode):
                    digest.update(os.readlink(entry.path).encode() + b"\0")
                elif stat.S_ISREG(mode):
                    digest.update(_file_digest(entry.path).encode())
        return digest.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

