"""Parsers of the value kinds a ContainerCreate body is made of (pure): sizes, signals, string
lists, numbers, objects and names. Each refusal is a `BadParameter` naming the field."""
from __future__ import annotations

import re
import signal as _signal

from engine.errors import BadParameter

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def parse_bytes(value: object, field_name: str) -> int:
    """An int, or a string like "32m" / "1.5g" (binary units, as docker's CLI parses them)."""
    if isinstance(value, bool):
        raise BadParameter(f"{field_name}: invalid size {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise BadParameter(f"{field_name}: invalid size {value!r} (expected bytes or e.g. \"32m\")")


def parse_signal(value: object, field_name: str) -> int:
    """"SIGTERM", "TERM", "15" or 15 → signal number."""
    if isinstance(value, int) and not isinstance(value, bool):
        num = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().upper()
        if text.isdigit():
            num = int(text)
        else:
            name = text if text.startswith("SIG") else "SIG" + text
            try:
                num = int(getattr(_signal.Signals, name))
            except AttributeError:
                raise BadParameter(f"{field_name}: invalid signal {value!r}") from None
    else:
        raise BadParameter(f"{field_name}: invalid signal {value!r}")
    if not 0 < num < 65:
        raise BadParameter(f"{field_name}: invalid signal {value!r}")
    return num


def strings(value: object, field_name: str, *, split: bool = False) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(value.split()) if split else (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise BadParameter(f"{field_name}: expected a list of strings, got {value!r}")


def opt_int(value: object, field_name: str, *, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadParameter(f"{field_name}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise BadParameter(f"{field_name}: must be >= {minimum}, got {value!r}")
    return int(value)


def obj(value: object, field_name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadParameter(f"{field_name}: expected an object, got {value!r}")
    return value
