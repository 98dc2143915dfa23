"""The shape vocabulary of the Docker Engine API's JSON types, and the check of a value against
a shape, shared by the API server (request bodies, engine/api/shapes.py) and the image store
(image configs, engine/images/configcheck.py): both refuse a misfit worded as Docker's Go decoder
words it ("json: cannot unmarshal array into Go struct field X.Name of type string").

Shapes are data (frozen dataclasses). As in Go: fields not declared are ignored, and null is
accepted everywhere (it means "unset").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.errors import BadParameter

INT64 = (-(1 << 63), (1 << 63) - 1)


class BadShape(BadParameter):
    """A request body or query parameter of the wrong type (400)."""


# -- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    kind: str                      # "string" | "bool" | "int" | "number"
    go: str                        # the Go type named in messages
    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True)
class ListOf:
    item: "Shape"
    go: str = ""

    @property
    def go_name(self) -> str:
        return self.go or "[]" + go_name(self.item)


@dataclass(frozen=True)
class MapOf:
    value: "Shape"
    go: str = ""

    @property
    def go_name(self) -> str:
        return self.go or "map[string]" + go_name(self.value)


@dataclass(frozen=True)
class Obj:
    go: str
    fields: Mapping[str, "Shape"] = field(default_factory=dict)


@dataclass(frozen=True)
class OneOf:
    """Go types with their own decoder that take several JSON forms (strslice.StrSlice takes a
    string or a list of strings; our size fields take bytes or "32m")."""
    choices: tuple["Shape", ...]
    go: str


@dataclass(frozen=True)
class AnyValue:
    go: str = "interface {}"


Shape = Scalar | ListOf | MapOf | Obj | OneOf | AnyValue

STRING = Scalar("string", "string")
BOOL = Scalar("bool", "bool")
INT = Scalar("int", "int64", *INT64)
UINT16 = Scalar("int", "uint16", 0, 0xFFFF)
UINT32 = Scalar("int", "uint32", 0, 0xFFFFFFFF)
UINT64 = Scalar("int", "uint64", 0, (1 << 64) - 1)
STRINGS = ListOf(STRING)
STRING_MAP = MapOf(STRING)
STR_SLICE = OneOf((STRING, STRINGS), "strslice.StrSlice")
EMPTY = Obj("struct {}")
ANY = AnyValue()


def go_name(shape: Shape) -> str:
    if isinstance(shape, (ListOf, MapOf)):
        return shape.go_name
    return shape.go


def json_kind(value: Any) -> str:
    """What Go calls a JSON value in its unmarshal errors (numbers carry their literal)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}" if not isinstance(value, float) or math.isfinite(value) \
            else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _fail(value: Any, shape: Shape, top: str, path: tuple[str, ...]) -> BadShape:
    # Go names a field by its struct's bare type name (no package), a whole value by its type
    where = (f"Go struct field {top.rsplit('.', 1)[-1]}.{'.'.join(path)}" if path
             else f"Go value of type {top}")
    of_type = f" of type {go_name(shape)}" if path else ""
    return BadShape(f"json: cannot unmarshal {json_kind(value)} into {where}{of_type}")


def _matches_scalar(value: Any, shape: Scalar) -> bool:
    if shape.kind == "string":
        return isinstance(value, str)
    if shape.kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float):
        # integral floats ("1.0", "1e3") are taken as the integer they spell, as our own
        # model's parsers do; a fraction or an infinity is no int
        if not math.isfinite(value) or (shape.kind == "int" and not value.is_integer()):
            return False
    if shape.lo is not None and value < shape.lo:
        return False
    return shape.hi is None or value <= shape.hi


def check(value: Any, shape: Shape, top: str, path: tuple[str, ...] = ()) -> None:
    """Raise BadShape naming the first field of `value` that does not fit `shape`."""
    found = _mismatch(value, shape) if value is not None else None
    if found is not None:
        bad, bad_shape, names = found
        raise _fail(bad, bad_shape, top, (*path, *reversed(names)))


def _mismatch(value: Any, shape: Shape) -> tuple[Any, Shape, list[str]] | None:
    """(value, shape, field names innermost first) of the first misfit, or None. No
    exception and no path building on the way down: a container create walks a hundred
    values, and nearly every request fits."""
    cls = type(shape)
    if cls is Scalar:
        if shape.kind == "string":  # type: ignore[union-attr]
            return None if type(value) is str else (value, shape, [])
        return None if _matches_scalar(value, shape) else (value, shape, [])  # type: ignore[arg-type]
    if cls is Obj:
        if type(value) is not dict:
            return value, shape, []
        fields = shape.fields  # type: ignore[union-attr]
        for name, v in value.items():           # bodies name fewer fields than shapes do
            sub = fields.get(name)
            if sub is not None and v is not None:
                found = _mismatch(v, sub)
                if found is not None:
                    found[2].append(name)
                    return found
        return None
    if cls is ListOf or cls is MapOf:
        if type(value) is not (list if cls is ListOf else dict):
            return value, shape, []
        sub = shape.item if cls is ListOf else shape.value  # type: ignore[union-attr]
        items = value if cls is ListOf else value.values()
        if sub is STRING:                         # the common []string / map[string]string
            if all(type(v) is str or v is None for v in items):
                return None
        for v in items:
            if v is not None:
                found = _mismatch(v, sub)
                if found is not None:
                    return found
        return None
    if cls is OneOf:
        if any(_mismatch(value, c) is None for c in shape.choices):  # type: ignore[union-attr]
            return None
        return value, shape, []
    return None                                   # AnyValue


# -- Docker types both the API and the image store check -------------------------------------

HEALTHCHECK = Obj("container.HealthConfig", {
    "Test": STR_SLICE, "Interval": INT, "Timeout": INT, "StartPeriod": INT,
    "StartInterval": INT, "Retries": INT,
})
