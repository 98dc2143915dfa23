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
    # fold_name(field) -> field: Go's decoder also takes a key that names a field only without
    # case ("cmd" for Cmd); with two fields alike, the first declared (Go's dominant one)
    folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded: dict[str, str] = {}
        for name in self.fields:
            folded.setdefault(fold_name(name), name)
        object.__setattr__(self, "folded", folded)


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

# The two non-ASCII letters whose case-fold set holds an ASCII one (long s with S, the Kelvin
# sign with K): Go's key matching (bytes.EqualFold) takes them for those letters.
_FOLD_SPECIAL = {"\u017f": "S", "\u212a": "K"}


def fold_name(name: str) -> str:
    """What a JSON key is compared by when it matches no field name exactly, as Go's
    encoding/json does (bytes.EqualFold): ASCII letters without case, plus the two letters
    above. Any other non-ASCII character folds to no ASCII one, so it is kept as it is and
    never matches our (ASCII) field names; str.upper() would turn the dotless i into I."""
    if name.isascii():
        return name.upper()
    return "".join(_FOLD_SPECIAL.get(c, c) if c > "\x7f" else c.upper() for c in name)

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
    """Raise BadShape naming the first field of `value` that does not fit `shape` (as Go
    reads it: see conform)."""
    conform(value, shape, top, path)


def conform(value: Any, shape: Shape, top: str, path: tuple[str, ...] = ()) -> Any:
    """`value` as Go's decoder reads it into `shape`, or BadShape naming the first misfit.

    Go matches a key to a field exactly first, else without case (`{"cmd": [...]}` sets Cmd).
    Nearly every body names its fields exactly: then the walk that checks types finds nothing
    to fold and `value` itself is returned, unchanged. Only a key that folds onto a field
    costs a copy with the keys renamed (fold_keys), checked again.
    """
    found = _mismatch(value, shape) if value is not None else None
    if found is not None and found[1] is _FOLDS:
        value = fold_keys(value, shape)
        found = _mismatch(value, shape)
        if found is not None and found[1] is _FOLDS:  # cannot happen: every such key renamed
            found = None
    if found is not None:
        bad, bad_shape, names = found
        raise _fail(bad, bad_shape, top, (*path, *reversed(names)))
    return value


# what _mismatch reports for an object with a key that names a field only without case
_FOLDS = AnyValue("folds")


def fold_keys(value: Any, shape: Shape) -> Any:
    """A copy of `value` whose object keys that name a declared field only without case are
    renamed to that field, all the way down (map keys are data and stay as sent).

    As Go decodes, keys are taken in the order sent and two keys naming one field both apply,
    the later over the earlier (json.loads has already kept only the last of two *identical*
    keys): an object merges into the one before, a map adds its entries, anything else
    replaces it, and a null replaces it too except a plain value's (Go leaves a non-pointer
    string, number or bool as it was).
    """
    cls = type(shape)
    if cls is Obj and type(value) is dict:
        fields, folded = shape.fields, shape.folded  # type: ignore[union-attr]
        out: dict = {}
        for key, item in value.items():
            name = key if key in fields else folded.get(fold_name(key), key)
            sub = fields.get(name)
            if sub is None:
                out[key] = item  # undeclared: kept for whoever reads it, unchecked
                continue
            item = fold_keys(item, sub)
            out[name] = _later(out[name], item, sub) if name in out else item
        return out
    if cls is ListOf and type(value) is list:
        return [fold_keys(v, shape.item) for v in value]  # type: ignore[union-attr]
    if cls is MapOf and type(value) is dict:
        return {k: fold_keys(v, shape.value) for k, v in value.items()}  # type: ignore[union-attr]
    if cls is OneOf:
        for choice in shape.choices:  # type: ignore[union-attr]
            found = _mismatch(value, choice)
            if found is None or found[1] is _FOLDS:
                return fold_keys(value, choice)
    return value


def _later(earlier: Any, later: Any, shape: Shape) -> Any:
    """Go's result of decoding `later` into the field that `earlier` already set."""
    if later is None:
        return earlier if type(shape) is Scalar else None
    if type(earlier) is dict and type(later) is dict:
        if type(shape) is Obj:
            merged = dict(earlier)
            for name, item in later.items():
                sub = shape.fields.get(name)  # type: ignore[union-attr]
                merged[name] = (_later(merged[name], item, sub)
                                if sub is not None and name in merged else item)
            return merged
        if type(shape) is MapOf:
            return {**earlier, **later}
    return later


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
            if sub is None:
                # undeclared, or a field's name in another case: Go takes that one (conform)
                if fold_name(name) in shape.folded:  # type: ignore[union-attr]
                    return value, _FOLDS, []
            elif v is not None:
                found = _mismatch(v, sub)
                if found is not None:
                    if found[1] is not _FOLDS:
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
        for choice in shape.choices:  # type: ignore[union-attr]
            found = _mismatch(value, choice)
            if found is None or found[1] is _FOLDS:
                return found
        return value, shape, []
    return None                                   # AnyValue


# -- Docker types both the API and the image store check -------------------------------------

HEALTHCHECK = Obj("container.HealthConfig", {
    "Test": STR_SLICE, "Interval": INT, "Timeout": INT, "StartPeriod": INT,
    "StartInterval": INT, "Retries": INT,
})
