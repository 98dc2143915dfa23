"""Kubernetes object names from compose names: DNS-1035 labels, chosen deterministically.

Compose allows `_`, `.` and capitals in service, volume, secret and config names; Kubernetes
does not (a Service name must be a DNS-1035 label, so we hold every object to that, the
strictest of the rules). A name that has to change is reported, because anything that reached
the old name by DNS will not find the new one.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# A StatefulSet's pods carry `controller-revision-hash: <name>-<10 chars>` as a label value
# (at most 63), so its name must leave 11 characters; we hold every workload to that.
MAX_NAME = 52
_INVALID = re.compile(r"[^a-z0-9-]+")
_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str, limit: int = 63) -> bool:
    return len(name) <= limit and bool(_LABEL.match(name))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def dns_label(name: str, limit: int = MAX_NAME) -> str:
    """`name` made a DNS-1035 label of at most `limit` characters; the same input always gives
    the same output, and a name that is already valid is kept as it is."""
    if is_dns_label(name, limit):
        return name
    out = _INVALID.sub("-", name.lower()).strip("-")
    out = re.sub(r"-{2,}", "-", out)
    if not out or not out[0].isalpha():
        out = "x-" + out if out else "x"
    if len(out) > limit:
        # cut, and keep the names of two long inputs with a common prefix apart
        out = out[: limit - 7].rstrip("-") + "-" + _digest(name)
    return out.rstrip("-") or "x"


@dataclass(frozen=True)
class Rename:
    kind: str        # "service", "volume", "secret", "config", "alias"
    original: str
    name: str


class NameTable:
    """The Kubernetes name of each compose name of one kind, unique within that kind.

    Two compose names that sanitize alike (`web_1`, `web-1`) get a digest suffix on the one
    that had to change, so a valid name is never the one moved aside."""

    def __init__(self, kind: str, originals: list[str], limit: int = MAX_NAME) -> None:
        self.kind = kind
        self._names: dict[str, str] = {}
        taken = {n for n in originals if is_dns_label(n, limit)}
        for original in originals:
            if original in taken:
                self._names[original] = original
                continue
            name = dns_label(original, limit)
            salt = 0
            while name in taken:
                salt += 1
                base = dns_label(original, limit)[: limit - 7].rstrip("-")
                name = dns_label(f"{base}-{_digest(f'{original}#{salt}')}", limit)
            taken.add(name)
            self._names[original] = name

    def __getitem__(self, original: str) -> str:
        return self._names[original]

    def get(self, original: str) -> str | None:
        return self._names.get(original)

    def renames(self) -> list[Rename]:
        return [Rename(self.kind, o, n) for o, n in self._names.items() if o != n]
