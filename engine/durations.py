"""Go's duration text (`1m30s`, `500ms`, `-1.5h`), as Go's time.ParseDuration reads it: the
one reading of it for the Dockerfile's HEALTHCHECK flags (daemon), the engine CLI's flags and
compose files, which all take what a Go program would. Pure and cheap to import."""
from __future__ import annotations

import re

# Go takes both micro signs: U+00B5 (µ, the keyboard's) and U+03BC (μ, the Greek letter)
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
       "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_go_duration(text: str) -> int:
    """Nanoseconds. An optional sign, then one or more number+unit parts (a number may have a
    fraction: `1.5h`, `.5s`); a bare `0` needs no unit. Anything else is a ValueError naming
    the text; callers word it for their flag or key."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    pos, total = 0, 0
    for m in _PART.finditer(body):
        if m.start() != pos:
            break
        total += _part_ns(m.group(1), _NS[m.group(2)])
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"invalid duration: {text!r}")
    return -total if text.startswith("-") else total


def _part_ns(number: str, unit: int) -> int:
    # in integers, not floats: 0.29s is 290000000 ns, never 289999999
    whole, _, fraction = number.partition(".")
    ns = int(whole or "0") * unit
    if fraction:
        ns += int(fraction) * unit // 10 ** len(fraction)
    return ns
