"""Compose's duration and byte-size notations, as numbers the engine API takes. Pure."""
from __future__ import annotations

import re

from compose.orchestrator.errors import OrchestratorError
from compose.values import parse_bytes, parse_duration


def duration_ns(value: str | int | float | None) -> int | None:
    """`1m30s`, `500ms`, `10` (seconds) -> nanoseconds; None stays None. The notation itself is
    read by compose.values.parse_duration, the one parser of it."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    text = str(value).strip()
    if re.fullmatch(r"[0-9]*\.?[0-9]+", text):
        return int(float(text) * 1_000_000_000)
    try:
        return parse_duration(text)
    except ValueError:
        raise OrchestratorError(f"invalid duration {value!r}") from None


def duration_seconds(value: str | int | float | None) -> int | None:
    ns = duration_ns(value)
    return None if ns is None else ns // 1_000_000_000


def byte_size(value: str | int | float | None) -> int | None:
    """`512m`, `1g`, `1024`, `1.5GB` -> bytes (compose.values.parse_bytes)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return parse_bytes(value)
    except ValueError:
        raise OrchestratorError(f"invalid byte size {value!r}") from None
