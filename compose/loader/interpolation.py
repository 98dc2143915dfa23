"""`${VAR}` interpolation with compose-go's template semantics and error texts.

Supported: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
`${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`, nesting inside defaults/messages/alternatives
(evaluated lazily: a branch not taken neither warns nor fails), `$$` for a literal `$`.
A `$` followed by neither a name nor `{` is kept as is; `${` that does not form a valid
template is an error (`Invalid template`).

compose-go finds templates with one regular expression whose braced branch is greedy up to the
*last* `}` of the string, then cuts that match at the brace closing the first `{` and
substitutes the remainder recursively. We do the same, so that odd inputs
(`${FOO:-a} }}}`, `${A:-{"json":1}}`) give the reference results.

Only values are interpolated, never mapping keys. After substitution some compose paths are
converted back to numbers/booleans (`COMPOSE_CASTS`).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from compose.errors import InterpolationError, KeyPath, format_path, nearest_line

__all__ = [
    "Lookup", "Warn", "lookup_function", "default_warn", "InvalidTemplate", "MissingRequired", "Variable", "substitute", "interpolate",
    "variables", "COMPOSE_CASTS", "Cast", "compile_casts", "to_int", "to_float", "to_bool",
]

Lookup = Union[Mapping[str, str], Callable[[str], "str | None"]]
Warn = Callable[[str], None]
Cast = Callable[[str, Warn], Any]

_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))")
_NAME_END = re.compile(r"[^A-Za-z0-9_]")
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class InvalidTemplate(InterpolationError):
    """`${` that does not form a template (compose-go's InvalidTemplateError)."""

    def __init__(self, template: str = "") -> None:
        self.template = template
        super().__init__(f"Invalid template: {_go_quote(template)}")

    def with_template(self, template: str) -> InvalidTemplate:
        return InvalidTemplate(template) if not self.template else self


class MissingRequired(InterpolationError):
    """`${VAR?msg}` / `${VAR:?msg}` with VAR unset (or empty)."""

    def __init__(self, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        text = f"required variable {variable} is missing a value"
        super().__init__(f"{text}: {reason}" if reason else text)


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def lookup_function(lookup: Lookup | None) -> Callable[[str], str | None]:
    """A mapping or function turned into `name -> value | None`."""
    if lookup is None:
        return lambda name: None
    if isinstance(lookup, Mapping):
        return lookup.get
    return lookup


def default_warn(message: str) -> None:
    """Where warnings go when the caller gives no `warn` function: the compose logger."""
    import logging  # only when needed: CLI start-up time matters

    logging.getLogger("pycompose.compose").warning("%s", message)


# --- one string --------------------------------------------------------------------------------

def substitute(template: str, lookup: Lookup | None, *, warn: Warn | None = None) -> str:
    """`template` with every variable replaced. Raises InvalidTemplate or MissingRequired
    (the first problem found, as compose-go reports). Unset variables without a default become
    "" and are reported through `warn`."""
    if "$" not in template:
        return template
    return _substitute(template, lookup_function(lookup), warn or default_warn)


def _substitute(template: str, get: Callable[[str], str | None], warn: Warn) -> str:
    if "$" not in template:
        return template
    first_error: list[InterpolationError] = []

    def replace(match: re.Match[str]) -> str:
        try:
            return _replace(match.group(0), get, warn)
        except InvalidTemplate as err:
            if not first_error:
                first_error.append(err.with_template(template))
        except InterpolationError as err:
            if not first_error:
                first_error.append(err)
        return ""

    result = _PATTERN.sub(replace, template)
    if first_error:
        raise first_error[0]
    return result


def _closing_brace(text: str) -> int:
    """Index of the `}` closing the first `{` (compose-go skips the character after each `{`)."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "}":
            depth -= 1
            if depth == 0:
                return i
        elif char == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operator(text: str) -> str | None:
    best, best_index = None, -1
    for op in _OPERATORS:
        index = text.find(op)
        if index >= 0 and (best_index < 0 or index < best_index):
            best, best_index = op, index
    return best


def _replace(matched: str, get: Callable[[str], str | None], warn: Warn) -> str:
    operator = _operator(matched)
    rest = ""
    closing = _closing_brace(matched)
    if closing > -1:
        rest = matched[closing + 1:]
        matched = matched[:closing + 1]
    groups = _PATTERN.match(matched)
    assert groups is not None  # `matched` starts with what the pattern matched before
    if groups.group("escaped"):
        return "$"
    name = groups.group("named")
    if not name:
        name = groups.group("braced")
        if not name:
            raise InvalidTemplate()
        if operator is not None and operator in name:
            value = _apply_operator(name, operator, get, warn)
            return value + _substitute(rest, get, warn)
    value = get(name)
    if value is None:
        warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return value


def _apply_operator(expression: str, operator: str, get: Callable[[str], str | None],
                    warn: Warn) -> str:
    name, _, argument = expression.partition(operator)
    value = get(name)
    needs_value = operator.startswith(":")
    missing = value is None or (needs_value and value == "")
    if operator in (":-", "-"):
        return _substitute(argument, get, warn) if missing else value  # type: ignore[return-value]
    if operator in (":+", "+"):
        return "" if missing else _substitute(argument, get, warn)
    if missing:  # ":?" / "?"
        raise MissingRequired(name, _substitute(argument, get, warn))
    return value  # type: ignore[return-value]


# --- variables referenced by a config ----------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    name: str
    default: str = ""
    presence: str = ""
    required: bool = False


def variables(data: Any) -> dict[str, Variable]:
    """Every variable referenced by a string in `data`, with its default / presence value /
    required flag (compose-go's ExtractVariables; a later reference to the same name wins)."""
    found: dict[str, Variable] = {}
    for text in _strings(data):
        if "$" in text:
            for var in _extract(text):
                if var.name:
                    found[var.name] = var
    return found


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from _strings(value)
    elif hasattr(data, "tag") and hasattr(data, "value"):  # !override / !reset markers
        yield from _strings(data.value)


def _extract(text: str) -> list[Variable]:
    out: list[Variable] = []
    for match in _PATTERN.finditer(text):
        if match.group("escaped"):
            continue
        expression = match.group("named")
        if not expression:
            expression = match.group("braced") or ""
            whole = match.group(0)
            closing = _closing_brace(whole)
            if closing > 0:
                expression = whole[2:closing]
                out.extend(_extract(whole[closing + 1:]))
        end = _NAME_END.search(expression)
        name, default, presence, required = expression, "", "", False
        if end and end.start() > 0:
            name, rest = expression[:end.start()], expression[end.start():]
            if rest.startswith((":?", "?")):
                required = True
            elif rest.startswith(":-"):
                default = rest[2:]
            elif rest.startswith("-"):
                default = rest[1:]
            elif rest.startswith(":+"):
                presence = rest[2:]
            elif rest.startswith("+"):
                presence = rest[1:]
        out.append(Variable(name, default, presence, required))
        for nested in (default, presence):
            if nested:
                out.extend(_extract(nested))
    return out


# --- type casts after interpolation ------------------------------------------------------------

_GO_INT_SYNTAX = re.compile(r"[-+]?[0-9]+\Z")
_GO_FLOAT_SYNTAX = re.compile(
    r"[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|inf(inity)?|nan)\Z", re.IGNORECASE)


def to_int(text: str, warn: Warn) -> int:
    if not _GO_INT_SYNTAX.match(text):
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax")
    value = int(text)
    if not -2**63 <= value < 2**63:
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: value out of range")
    return value


def to_float(text: str, warn: Warn) -> float:
    if not _GO_FLOAT_SYNTAX.match(text):
        raise ValueError(f"strconv.ParseFloat: parsing {_go_quote(text)}: invalid syntax")
    return float(text)


_TRUE_1_1 = frozenset(("y", "yes", "on"))
_FALSE_1_1 = frozenset(("n", "no", "off"))


def to_bool(text: str, warn: Warn) -> bool:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in _TRUE_1_1:
        warn(f"{_go_quote(text)} for boolean is not supported by YAML 1.2, please use `true`")
        return True
    if lowered in _FALSE_1_1:
        warn(f"{_go_quote(text)} for boolean is not supported by YAML 1.2, please use `false`")
        return False
    raise ValueError(f"invalid boolean: {text}")


def _service(*parts: str) -> str:
    return ".".join(("services", "*") + parts)


# compose-go's loader/interpolate.go: values at these paths are converted after substitution.
# `*` matches any key, `[]` any list item. (ports[].published stays a string, as in compose-go.)
COMPOSE_CASTS: dict[str, Cast] = {
    _service("cpu_count"): to_int,
    _service("cpu_percent"): to_float,
    _service("cpu_period"): to_int,
    _service("cpu_quota"): to_int,
    _service("cpu_rt_period"): to_int,
    _service("cpu_rt_runtime"): to_int,
    _service("cpus"): to_float,
    _service("cpu_shares"): to_int,
    _service("init"): to_bool,
    _service("depends_on", "*", "required"): to_bool,
    _service("depends_on", "*", "restart"): to_bool,
    _service("deploy", "replicas"): to_int,
    _service("deploy", "update_config", "parallelism"): to_int,
    _service("deploy", "update_config", "max_failure_ratio"): to_float,
    _service("deploy", "rollback_config", "parallelism"): to_int,
    _service("deploy", "rollback_config", "max_failure_ratio"): to_float,
    _service("deploy", "restart_policy", "max_attempts"): to_int,
    _service("deploy", "placement", "max_replicas_per_node"): to_int,
    _service("healthcheck", "retries"): to_int,
    _service("healthcheck", "disable"): to_bool,
    _service("oom_kill_disable"): to_bool,
    _service("oom_score_adj"): to_int,
    _service("pids_limit"): to_int,
    _service("ports", "[]", "target"): to_int,
    _service("privileged"): to_bool,
    _service("read_only"): to_bool,
    _service("scale"): to_int,
    _service("stdin_open"): to_bool,
    _service("tty"): to_bool,
    _service("ulimits", "*"): to_int,
    _service("ulimits", "*", "hard"): to_int,
    _service("ulimits", "*", "soft"): to_int,
    _service("volumes", "[]", "read_only"): to_bool,
    _service("volumes", "[]", "volume", "nocopy"): to_bool,
    "networks.*.external": to_bool,
    "networks.*.internal": to_bool,
    "networks.*.attachable": to_bool,
    "networks.*.enable_ipv4": to_bool,
    "networks.*.enable_ipv6": to_bool,
    "volumes.*.external": to_bool,
    "secrets.*.external": to_bool,
    "configs.*.external": to_bool,
}

_CAST_NAMES: dict[str, Cast] = {"int": to_int, "float": to_float, "bool": to_bool}


class _CastTable:
    """Cast patterns indexed by (path length, last key) for a quick lookup per string value;
    patterns ending in `*` or `[]` are indexed under (length, None)."""

    def __init__(self, casts: Mapping[str, Cast | str]) -> None:
        self.index: dict[tuple[int, str | None], list[tuple[tuple[str, ...], Cast]]] = {}
        for pattern, cast in casts.items():
            parts = tuple(pattern.split("."))
            fn = _CAST_NAMES[cast] if isinstance(cast, str) else cast
            last = None if parts[-1] in ("*", "[]") else parts[-1]
            self.index.setdefault((len(parts), last), []).append((parts, fn))

    def find(self, path: KeyPath) -> Cast | None:
        if not path:
            return None
        size, last = len(path), path[-1]
        for key in ((size, last), (size, None)) if isinstance(last, str) else ((size, None),):
            for parts, cast in self.index.get(key, ()):
                if _matches(parts, path):
                    return cast
        return None


def _matches(parts: tuple[str, ...], path: KeyPath) -> bool:
    for want, have in zip(parts, path):
        if want == "*":
            continue
        if want == "[]":
            if not isinstance(have, int):
                return False
        elif want != have:
            return False
    return True


def compile_casts(casts: Mapping[str, Cast | str]) -> _CastTable:
    """Casts given as `{"services.*.scale": to_int}` or `{"*.replicas": "int"}`."""
    return _CastTable(casts)


_COMPOSE_TABLE = _CastTable(COMPOSE_CASTS)


# --- a whole config ----------------------------------------------------------------------------

def interpolate(data: Any, lookup: Lookup | None, *, filename: str | None = None,
                line_of: Callable[[KeyPath], int | None] | None = None,
                casts: Mapping[str, Cast | str] | _CastTable | None = _COMPOSE_TABLE,
                warn: Warn | None = None) -> Any:
    """A copy of `data` with every string value interpolated (keys are left alone) and the
    values at cast paths converted. Errors name the key path, and the file and line when
    `filename` / `line_of` (e.g. `YamlDocument.line_of`) are given."""
    table = casts if isinstance(casts, _CastTable) else _CastTable(casts or {})
    walker = _Walker(lookup_function(lookup), warn or default_warn, table)
    try:
        return walker.walk(data, ())
    except _PathError as failure:
        line = nearest_line(line_of, failure.path) if line_of else None
        raise InterpolationError(failure.message, filename=filename, line=line,
                                 path=failure.path) from None


class _PathError(Exception):
    def __init__(self, path: KeyPath, message: str) -> None:
        self.path = path
        self.message = message


class _Walker:
    def __init__(self, get: Callable[[str], str | None], warn: Warn, casts: _CastTable) -> None:
        self.get = get
        self.warn = warn
        self.casts = casts

    def walk(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, dict):
            return {key: self.walk(item, path + (key,)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, path + (index,)) for index, item in enumerate(value)]
        tag = getattr(value, "tag", None)
        if tag == "!override":
            return type(value)(self.walk(value.value, path))
        return value

    def string(self, text: str, path: KeyPath) -> Any:
        if "$" in text:
            try:
                text = _substitute(text, self.get, self.warn)
            except InvalidTemplate as err:
                raise _PathError(path, f"invalid interpolation format for {format_path(path)}.\n"
                                 f"You may need to escape any $ with another $.\n{err.template}")
            except InterpolationError as err:
                raise _PathError(path, f"error while interpolating {format_path(path)}: "
                                 f"{err.detail}")
        cast = self.casts.find(path)
        if cast is None:
            return text
        try:
            return cast(text, self.warn)
        except ValueError as err:
            raise _PathError(path, f"error while interpolating {format_path(path)}: failed to "
                             f"cast to expected type: {err}")

