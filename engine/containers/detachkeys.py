"""Detach keys: the byte sequence that, typed on an attached terminal, lets the client go while
the container (or exec) keeps running. Docker's spelling ("ctrl-p,ctrl-q", default) and its
rule: only a TTY stream is watched; bytes that begin the sequence are held until it completes
(detach: they are never delivered) or breaks (they are delivered, late)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import BadParameter

DEFAULT = "ctrl-p,ctrl-q"
_CTRL = "abcdefghijklmnopqrstuvwxyz"


def parse_detach_keys(spec: str | None, where: str = "detachKeys") -> bytes:
    """`ctrl-<a-z @ [ \\ ] ^ _>` or one character, comma-separated → bytes; "" or None is the
    default. A bad spelling is a 400 naming it."""
    spec = spec or DEFAULT
    out = bytearray()
    for key in spec.split(","):
        lowered = key.strip().lower()
        if lowered.startswith("ctrl-") and len(lowered) == 6:
            c = lowered[5]
            if c in _CTRL:
                out.append(ord(c) - ord("a") + 1)
                continue
            if c in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
                continue
        elif len(key) == 1:
            out.append(ord(key))
            continue
        raise BadParameter(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


@dataclass
class DetachWatch:
    """Feeds client bytes through; `feed` returns what to deliver and whether the client
    detached (then the held sequence is swallowed)."""
    keys: bytes
    held: bytes = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for i in range(len(data)):
            b = data[i:i + 1]
            if b == self.keys[len(self.held):len(self.held) + 1]:
                self.held += b
                if len(self.held) == len(self.keys):
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if b == self.keys[:1]:
                self.held = b
            else:
                out += b
        return bytes(out), False

    def flush(self) -> bytes:
        """At the client's EOF: a begun sequence was input after all."""
        held, self.held = self.held, b""
        return held
