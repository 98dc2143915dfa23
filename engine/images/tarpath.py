"""Decisions about layer tar entries, without touching the filesystem (pure).

Which path inside the layer an entry names (or why it is refused), what an OCI whiteout means,
and how a stream is compressed. The extractor in `archive.py` acts on these decisions.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.errors import BadParameter

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# Other ".wh..wh." names are aufs bookkeeping (hard-link dirs); they carry no meaning for us.
META_PREFIX = ".wh..wh."


def clean_name(name: str, *, what: str = "entry") -> tuple[str, ...]:
    """The components of a member name inside the layer root.

    A leading "/" is re-rooted at the layer (an image's absolute path is a path *in the image*);
    "." is dropped and ".." applied; anything that climbs above the layer root is refused.
    """
    if "\x00" in name:
        raise BadParameter(f"refusing layer {what} {name!r}: NUL byte in name")
    parts: list[str] = []
    for component in name.split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                raise BadParameter(f"refusing layer {what} {name!r}: it escapes the layer directory")
            parts.pop()
            continue
        parts.append(component)
    return tuple(parts)


class WhiteoutKind(enum.Enum):
    DELETE = "delete"    # hide one name of the lower layers
    OPAQUE = "opaque"    # hide every lower-layer entry of the containing directory
    META = "meta"        # aufs bookkeeping: ignore


@dataclass(frozen=True)
class Whiteout:
    kind: WhiteoutKind
    parent: tuple[str, ...]
    name: str = ""       # the hidden name (DELETE only)


def whiteout_of(parts: tuple[str, ...], *, is_regular: bool) -> Whiteout | None:
    """The whiteout an entry stands for, or None for an ordinary entry.

    Only regular files are markers (OCI image spec, "Whiteouts"). A marker naming "" / "." / ".."
    would hide the directory itself or its parent: refused.
    """
    if not parts or not is_regular:
        return None
    base = parts[-1]
    if not base.startswith(WHITEOUT_PREFIX):
        return None
    parent = parts[:-1]
    if base == OPAQUE_MARKER:
        return Whiteout(WhiteoutKind.OPAQUE, parent)
    if base.startswith(META_PREFIX):
        return Whiteout(WhiteoutKind.META, parent)
    hidden = base[len(WHITEOUT_PREFIX):]
    if hidden in ("", ".", "..") or "/" in hidden:
        raise BadParameter(f"refusing whiteout {'/'.join(parts)!r}: it names no file")
    return Whiteout(WhiteoutKind.DELETE, parent, hidden)


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


_MAGICS = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
)
MAGIC_LENGTH = 6


def detect_compression(head: bytes) -> Compression:
    """Compression of a stream from its first bytes (media types are not trusted for this)."""
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return Compression.NONE
