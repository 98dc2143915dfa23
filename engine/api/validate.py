"""Request checking before any handler runs: JSON bodies against declared shapes, query
parameters against declared kinds.

Shapes (engine/jsonshape.py) are data describing the types the Docker Engine API documents for
each field we read. A mismatch is a 400 worded as Docker's Go decoder words it ("json: cannot
unmarshal array into Go struct field X.Name of type string"), so a client sees the same kind of
message from us as from dockerd, and no handler ever meets a list where it expects a string.
As in Go: fields not declared are ignored, and null is accepted everywhere (it means "unset").
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from engine.errors import PycomposeError
# The shape vocabulary lives in engine/jsonshape.py (the image store checks configs with it
# too); re-exported here for the route modules and engine/api/shapes.py.
from engine.jsonshape import (ANY, BOOL, EMPTY, INT, INT64, STR_SLICE,  # noqa: F401
                              STRING, STRING_MAP, STRINGS, UINT16, UINT32, UINT64, AnyValue,
                              BadShape, ListOf, MapOf, Obj, OneOf, Scalar, Shape, check, conform,
                              go_name, json_kind)

# Go's encoding/json refuses documents nested deeper than this; Python's parser would raise
# RecursionError (not a ValueError) somewhat below it, so we check depth ourselves.
MAX_DEPTH = 512

# -- JSON parsing -----------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _depth_exceeded(data: bytes) -> bool:
    """Cheap pre-scan: only a document with that many brackets at all can be too deep."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:       # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_surrogates(value: Any) -> Any:
    """Go decodes a lone UTF-16 surrogate escape as U+FFFD; Python keeps it, and such a string
    cannot be written as UTF-8 later (a file, a label, a log line)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    return value


def parse_json(data: bytes) -> tuple[Any, bool]:
    """A request body as Go would decode it: (value, whether it had to be rewritten).

    NaN/Infinity literals and numbers beyond float range are refused (Go has neither); a
    document nested too deeply is refused instead of exhausting the stack.
    """
    if not data.strip():
        return None, False
    if _depth_exceeded(data):
        raise BadShape(f"invalid JSON body: exceeded max depth of {MAX_DEPTH}")
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadShape(f"invalid JSON body: exceeded max depth of {MAX_DEPTH}") from None
    except ValueError as exc:
        raise BadShape(f"invalid JSON body: {exc}") from None
    if b"\\ud" in data or b"\\uD" in data:
        fixed = _fix_surrogates(value)
        return fixed, fixed != value
    return value, False


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    return number


# -- query parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """How one query parameter must read: kind "bool" | "int" | "time" | "filters" |
    "json_map" | "string" (anything), ints within [lo, hi]."""
    kind: str
    lo: int = INT64[0]
    hi: int = INT64[1]


Q_STR = Query("string")
Q_BOOL = Query("bool")
Q_INT = Query("int")
Q_TIME = Query("time")
Q_FILTERS = Query("filters")
Q_JSON_MAP = Query("json_map")

_BOOLS = {"", "0", "1", "true", "false", "yes", "no", "on", "off"}
_INT = re.compile(r"^[+-]?[0-9]+$")
# unix seconds whose nanoseconds still fit an int64 (Docker's timestamps are int64 ns)
_MAX_SECONDS = INT64[1] / 1e9
_FILTER_VALUE = OneOf((STRINGS, MapOf(BOOL)), "map[string]bool")


def check_query_value(name: str, value: str, spec: Query) -> None:
    if spec.kind == "bool":
        if value.lower() not in _BOOLS:
            raise BadShape(f"invalid boolean for query parameter {name!r}: {value!r}")
    elif spec.kind == "int":
        if value == "":
            return
        if not _INT.match(value.strip()) or not spec.lo <= int(value) <= spec.hi:
            raise BadShape(f"invalid value for query parameter {name!r}: {value!r} (an "
                           f"integer from {spec.lo} to {spec.hi})")
    elif spec.kind == "time":
        _check_time(name, value)
    elif spec.kind in ("filters", "json_map"):
        if value == "":
            return
        try:
            doc, _ = parse_json(value.encode("utf-8", "surrogateescape"))
        except BadShape:
            raise BadShape(f"invalid {name}: {value!r} is not JSON") from None
        shape = MapOf(_FILTER_VALUE) if spec.kind == "filters" else STRING_MAP
        if not isinstance(doc, dict):
            raise BadShape(f"invalid {name}: {value!r} is not a JSON object")
        try:
            check(doc, shape, name)
        except BadShape:
            raise BadShape(f"invalid {name}: {value!r} (expected "
                           f"{go_name(shape)})") from None


def _check_time(name: str, value: str) -> None:
    """since/until: unix seconds (a float is fine) or a date; a number must fit Docker's int64
    nanoseconds. Dates are left to the handler's parser (it answers 400 for bad ones)."""
    try:
        seconds = float(value.strip())
    except ValueError:
        return
    if not math.isfinite(seconds) or abs(seconds) > _MAX_SECONDS:
        raise BadShape(f"invalid value for {name}: {value!r} (out of range)")


# -- per-route checking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """What one route accepts: `body` None = no JSON body is read (none, or a tarball);
    `query` maps each parameter the route reads to its kind."""
    body: Shape | None = None
    body_go: str = ""
    query: Mapping[str, Query] = field(default_factory=dict)


def check_request(req: Any, spec: Endpoint) -> None:
    """Check `req` (engine.api.http.Request) against `spec`; a body that Go would decode
    differently (lone surrogates, a field named in another case) is rewritten in place so the
    handler reads Go's value."""
    for name, kind in spec.query.items():
        for value in req.query.get(name, ()):
            check_query_value(name, value, kind)
    if spec.body is None:
        return
    value, rewritten = parse_json(req.body_bytes())
    # keys naming a field in another case ("cmd") come back renamed, as Go matches them
    conformed = conform(value, spec.body, spec.body_go or go_name(spec.body))
    if rewritten or conformed is not value:
        req.body.seek(0)
        req.body.truncate()
        req.body.write(json.dumps(conformed).encode())
        req.body.seek(0)


Handler = Callable[[Any], Awaitable[Any]]


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def one_line(message: str) -> str:
    """A message that quotes user input (a name, a path) stays one line: control characters
    are shown escaped, as repr() would."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)


def checked(spec: Endpoint, handler: Handler) -> Handler:
    async def run(req: Any) -> Any:
        check_request(req, spec)
        try:
            return await handler(req)
        except PycomposeError as exc:
            if _CONTROL.search(exc.message):
                exc.message = one_line(exc.message)
                exc.args = (exc.message,)
            raise

    run.__name__ = getattr(handler, "__name__", "handler")
    return run


def adder(router: Any, table: Mapping[tuple[str, str], Endpoint] | None = None
          ) -> Callable[[str, str, Handler], None]:
    """`router.add` with each route's declared shapes checked first (engine.api.shapes)."""
    if table is None:
        from engine.api.shapes import ENDPOINTS
        table = ENDPOINTS

    def add(method: str, template: str, handler: Handler) -> None:
        spec = table.get((method.upper(), template))
        router.add(method, template, checked(spec, handler) if spec is not None else handler)

    return add
