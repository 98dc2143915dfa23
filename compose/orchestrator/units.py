"""Compose's duration and byte-size notations, as numbers the engine API takes. Pure."""
from __future__ import annotations

import re

from compose.orchestrator.errors import OrchestratorError

_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
       "m": 60_000_000_000, "h": 3_600_000_000_000}
_BYTES = re.compile(r"^([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def duration_ns(value: str | int | float | None) -> int | None:
    """`1m30s`, `500ms`, `10` (seconds) -> nanoseconds; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    text = str(value).strip()
    if re.fullmatch(r"[0-9]*\.?[0-9]+", text):
        return int(float(text) * 1_000_000_000)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise OrchestratorError(f"invalid duration {value!r}")
    return int(total)


def duration_seconds(value: str | int | float | None) -> int | None:
    ns = duration_ns(value)
    return None if ns is None else ns // 1_000_000_000


def byte_size(value: str | int | float | None) -> int | None:
    """`512m`, `1g`, `1024`, `1.5GB` -> bytes."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    match = _BYTES.match(str(value).strip())
    if not match:
        raise OrchestratorError(f"invalid byte size {value!r}")
    return int(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])
