"""Validation of an interpolated, merged compose document against compose.schema.json.

Two validators read the same schema file:

* a small built-in checker for exactly the JSON Schema keywords our schema uses
  (`KEYWORDS`). It decides valid/invalid and costs nothing to import, which keeps
  `pycompose config -q` fast;
* `jsonschema` (draft 7), imported only when the document is invalid, to pick the most
  relevant error (`best_match`) and to describe it. If the two ever disagree, jsonschema wins:
  a document the built-in checker rejects but jsonschema accepts is accepted.
  `PYCOMPOSE_SCHEMA=jsonschema` in the environment the CLI passes to the loader forces
  jsonschema for every document (`force_jsonschema`).

The error becomes one line, in YAML's terms:
`compose.yaml:12: services.web.ports: 80 is an integer, expected a sequence`.

Attributes the schema accepts but pycompose does not act on yet produce a one-line warning
naming them (`unsupported_attributes`); the list of what we act on is `SUPPORTED_SERVICE_KEYS`.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "compose.schema.json"

KEYWORDS = frozenset({"$ref", "additionalProperties", "enum", "items", "oneOf", "pattern",
                      "patternProperties", "properties", "required", "type", "uniqueItems"})

# The one place listing the service attributes pycompose acts on (what compose/orchestrator's
# create_body and planning read today). Everything else valid is accepted with a warning.
# Keep in step with the orchestrator when it learns an attribute.
SUPPORTED_SERVICE_KEYS = frozenset({
    "build", "cap_add", "cap_drop", "command", "configs", "container_name", "cpu_shares", "cpus",
    "cpuset", "uts",
    "depends_on", "deploy", "develop", "dns", "dns_opt", "dns_search", "domainname", "entrypoint",
    "env_file", "environment", "expose", "extends", "extra_hosts", "group_add", "healthcheck",
    "hostname", "image", "init", "ipc", "labels", "links", "mac_address", "mem_limit",
    "memswap_limit", "network_mode", "networks", "pid", "pids_limit", "ports", "privileged",
    "profiles", "read_only", "restart", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "user", "volumes",
    "volumes_from", "working_dir",
})
SUPPORTED_TOP_LEVEL = frozenset({"version", "name", "include", "services", "networks",
                                 "volumes", "secrets", "configs"})

LineOf = Callable[[tuple], "int | None"]


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


# --- the built-in checker -------------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


class _Checker:
    def __init__(self, schema: dict, variables_allowed: bool = False) -> None:
        self.root = schema
        # uninterpolated documents (`config --no-interpolate`): `${...}` stands for any value
        self.variables_allowed = variables_allowed

    def _resolve(self, ref: str) -> dict:
        node: Any = self.root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def valid(self, schema: dict, value: Any) -> bool:
        if self.variables_allowed and isinstance(value, str) and "${" in value:
            return True
        if "$ref" in schema:
            return self.valid(self._resolve(schema["$ref"]), value)
        t = schema.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(_TYPES[x](value) for x in types):
                return False
        if "enum" in schema and value not in schema["enum"]:
            return False
        if "pattern" in schema and isinstance(value, str) and not _regex(schema["pattern"]).search(value):
            return False
        if "oneOf" in schema and sum(self.valid(s, value) for s in schema["oneOf"]) != 1:
            return False
        if isinstance(value, dict):
            props = schema.get("properties", {})
            patterns = schema.get("patternProperties", {})
            extra = schema.get("additionalProperties", True)
            for key in schema.get("required", ()):
                if key not in value:
                    return False
            for key, item in value.items():
                matched = False
                if key in props:
                    matched = True
                    if not self.valid(props[key], item):
                        return False
                for pattern, sub in patterns.items():
                    if _regex(pattern).search(key):
                        matched = True
                        if not self.valid(sub, item):
                            return False
                if not matched and extra is False:
                    return False
                if not matched and isinstance(extra, dict) and not self.valid(extra, item):
                    return False
        if isinstance(value, list):
            items = schema.get("items")
            if items is not None and not all(self.valid(items, v) for v in value):
                return False
            if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
                return False
        return True


# --- errors -------------------------------------------------------------------------------------

def key_path(path) -> str:
    """`services.web.ports[0]` from a path of keys and list indexes."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(error) -> tuple[list, str]:
    """The path and message of a jsonschema error, worded like compose's own messages."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        extra = [k for k in extra if not any(re.search(p, k) for p in error.schema.get("patternProperties", {}))]
        if extra:
            path.append(extra[0])
            return path, f"additional property {extra[0]!r} is not allowed"
    if error.validator == "oneOf" and error.context:
        # prefer the alternative whose type matched: its message is the useful one
        typed = [e for e in error.context if e.validator != "type"]
        if typed:
            from jsonschema.exceptions import best_match

            return _describe(best_match(typed))
        kinds = []
        for sub in error.schema.get("oneOf", []):
            sub = _deref(sub)
            t = sub.get("type")
            kinds += t if isinstance(t, list) else [t] if t else []
        if kinds:
            names = " or ".join(_YAML_KINDS.get(k, k) for k in dict.fromkeys(kinds))
            return path, f"{_short(error.instance)} is {yaml_kind(error.instance)}, expected {names}"
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) \
            else [error.validator_value]
        names = " or ".join(_YAML_KINDS.get(t, t) for t in wanted)
        return path, f"{_short(error.instance)} is {yaml_kind(error.instance)}, expected {names}"
    if error.validator == "pattern" and error.schema.get("description"):
        return path, f"{_short(error.instance)} is not {error.schema['description']}"
    return path, error.message


def _deref(schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = load_schema()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


# JSON Schema's type names, as a YAML author knows them
_YAML_KINDS = {"object": "a mapping", "array": "a sequence", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "null": "null"}


def yaml_kind(value: Any) -> str:
    """What a YAML author calls this value's type: "a mapping", "a sequence", "an integer"…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a sequence" if isinstance(value, list) else "a mapping"


def _short(value: Any) -> str:
    """A value as it would be written in YAML (flow style), cut at 60 characters."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        import yaml

        text = yaml.safe_dump(value, default_flow_style=True, width=10_000,
                              allow_unicode=True).strip()
        text = text.removesuffix("\n...").strip()
    return text if len(text) <= 60 else text[:57] + "..."


def validate(data: Any, *, filename: str | None = None, line_of: LineOf | None = None,
             variables_allowed: bool = False, force_jsonschema: bool = False) -> None:
    """Raise ComposeError (one line: file:line: key.path: message) if `data` is not a valid
    compose document."""
    schema = load_schema()
    checker = _Checker(schema, variables_allowed)
    if (not force_jsonschema or variables_allowed) and checker.valid(schema, data):
        return
    import jsonschema
    from jsonschema.exceptions import best_match

    error = best_match(jsonschema.Draft7Validator(schema).iter_errors(data))
    if error is None:
        return
    path, message = _describe(error)
    from compose.errors import ComposeError, nearest_line

    line = nearest_line(line_of, path) if line_of is not None else None
    raise ComposeError(message, filename=filename, line=line, path=path)


def unsupported_attributes(data: dict) -> list[str]:
    """One warning line per service (and for the top level) naming the attributes that are
    valid Compose but that pycompose ignores for now."""
    warnings = []
    top = sorted(k for k in data if k not in SUPPORTED_TOP_LEVEL and not k.startswith("x-"))
    if top:
        warnings.append(f"top-level attributes not supported yet, ignored: {', '.join(top)}")
    for name, service in (data.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        keys = sorted(k for k in service if k not in SUPPORTED_SERVICE_KEYS and not k.startswith("x-"))
        if keys:
            warnings.append(f"services.{name}: attributes not supported yet, ignored: {', '.join(keys)}")
    return warnings
