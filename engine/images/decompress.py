"""Layer and archive streams as uncompressed bytes: compression detected by magic bytes,
output bounded against decompression bombs, broken streams reported as one line.

Only the ratio catches a bomb early: gzip of zeros expands ~1000:1 and zstd far more, while
real layers compress 2-10:1.
"""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Mapping

from engine.errors import BadParameter, EngineError
from engine.images.tarpath import MAGIC_LENGTH, Compression, detect_compression

CHUNK = 1 << 20


class _Prefixed:
    """A reader that gives back bytes already peeked from `inner` before reading on; counts
    what it hands out (the compressed bytes a decompressor consumed, for the ratio limit)."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head, self._inner = head, inner
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._inner.read(), b""
            else:
                data, self._head = self._head[:n], self._head[n:]
                if len(data) < n:
                    data += self._inner.read(n - len(data))
        else:
            data = self._inner.read(n)
        self.count += len(data)
        return data


@dataclass(frozen=True)
class DecompressionLimits:
    """How much a compressed stream may expand to before it is refused as a decompression bomb.
    Below `ratio_after` bytes no ratio is refused (small files of zeros are common);
    `max_bytes` bounds any stream, compressed or not."""
    max_bytes: int = 256 << 30
    max_ratio: int = 500
    ratio_after: int = 64 << 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "DecompressionLimits":
        default = cls()
        try:
            return cls(int(env.get("PYCOMPOSE_LAYER_MAX_BYTES") or default.max_bytes),
                       int(env.get("PYCOMPOSE_LAYER_MAX_RATIO") or default.max_ratio),
                       int(env.get("PYCOMPOSE_LAYER_RATIO_AFTER") or default.ratio_after))
        except ValueError:
            raise BadParameter("PYCOMPOSE_LAYER_MAX_BYTES, PYCOMPOSE_LAYER_MAX_RATIO and "
                               "PYCOMPOSE_LAYER_RATIO_AFTER must be integers") from None


# the defaults until the daemon's main sets the ones its environment names (set_limits)
LIMITS = DecompressionLimits()


def set_limits(limits: DecompressionLimits) -> None:
    """Set once at the daemon's start: every later decompression is bounded by `limits`."""
    global LIMITS
    LIMITS = limits


class DecompressionBomb(BadParameter):
    """A stream that expands beyond the configured limits."""


class _Bounded:
    """A decompressed stream that refuses to grow past the limits and turns a broken or
    truncated compressed stream into one BadParameter line instead of EOFError/zlib.error."""

    def __init__(self, inner, source: _Prefixed, kind: Compression,
                 limits: DecompressionLimits) -> None:
        self._inner, self._source, self._kind, self._limits = inner, source, kind, limits
        self._errors: tuple[type[BaseException], ...] = (EOFError, zlib.error, gzip.BadGzipFile)
        if kind is Compression.ZSTD:
            import zstandard  # type: ignore[import-not-found]
            self._errors += (zstandard.ZstdError,)
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._inner.read(n)
        except self._errors as exc:
            raise BadParameter(f"broken {self._kind.value} stream: {exc or 'truncated'}") \
                from None
        self.total += len(data)
        limits = self._limits
        if self.total > limits.max_bytes:
            raise DecompressionBomb(f"refusing a layer or archive larger than "
                                    f"{limits.max_bytes} bytes uncompressed "
                                    f"(PYCOMPOSE_LAYER_MAX_BYTES)")
        if (self._kind is not Compression.NONE and self.total > limits.ratio_after
                and self.total > limits.max_ratio * max(self._source.count, 1)):
            raise DecompressionBomb(
                f"refusing a {self._kind.value} stream that expands more than "
                f"{limits.max_ratio}:1 ({self._source.count} bytes to over {self.total}): a "
                f"decompression bomb? (PYCOMPOSE_LAYER_MAX_RATIO)")
        return data


def decompressed(fileobj: BinaryIO, limits: DecompressionLimits | None = None):
    """`fileobj` as an uncompressed stream, the compression detected by magic bytes, bounded by
    `limits` (default: the environment's)."""
    limits = limits or LIMITS
    head = b""
    while len(head) < MAGIC_LENGTH:     # a pipe may hand out fewer bytes than asked
        more = fileobj.read(MAGIC_LENGTH - len(head))
        if not more:
            break
        head += more
    raw = _Prefixed(head, fileobj)
    kind = detect_compression(head)
    if kind is Compression.NONE:
        inner = raw
    elif kind is Compression.GZIP:
        inner = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[arg-type]
    elif kind is Compression.ZSTD:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise EngineError("layer is zstd-compressed and the Python module 'zstandard' is "
                              "not installed (pip install zstandard)") from None
        inner = zstandard.ZstdDecompressor().stream_reader(raw)
    else:
        raise BadParameter(f"unsupported layer compression {kind.value!r} (gzip, zstd or none)")
    return _Bounded(inner, raw, kind, limits)
