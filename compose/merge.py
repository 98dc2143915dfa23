"""Merging compose documents the way compose-go does (override files, `extends`, `include`).

Two passes, both pure functions over plain YAML data (dicts, lists, scalars):

* `merge(base, override)`: mappings merge key by key, sequences append, scalars are replaced,
  with per-path exceptions (`RULES`): some keys replace wholesale, mapping-like lists
  (environment, labels, ...) are merged as `K=V` sequences, list/map forms of depends_on and
  networks are unified first, logging merges only for the same driver, ipam.config by subnet.
* `unicity(data)`: de-duplicates list entries that are identified by a key (ports by binding,
  volumes by target, environment by name, ...). The later entry wins, at the first position.

`!reset` and `!override` tags come from the YAML reader as marker objects (see `is_reset` /
`is_override`); `merge` removes (reset) or replaces (override) at their path, and
`strip_markers` resolves them in a document that is not merged onto anything.
"""
from __future__ import annotations

from typing import Any, Callable

Path = tuple[str, ...]


# --- tag markers --------------------------------------------------------------------------------

def is_reset(value: Any) -> bool:
    return getattr(value, "tag", None) == "!reset"


def is_override(value: Any) -> bool:
    return getattr(value, "tag", None) == "!override"


def strip_markers(value: Any) -> Any:
    """The plain data of a document whose tags apply to nothing below them: `!reset` entries
    vanish, `!override` becomes its value."""
    if is_override(value):
        return strip_markers(value.value)
    if isinstance(value, dict):
        return {k: strip_markers(v) for k, v in value.items() if not is_reset(v)}
    if isinstance(value, list):
        return [strip_markers(v) for v in value if not is_reset(v)]
    return value


# --- path patterns ------------------------------------------------------------------------------

def _match(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(p == "*" or p == s for p, s in zip(pattern, path))


def _pat(text: str) -> Path:
    return tuple(text.split("."))


# --- conversions between the list and map forms ---------------------------------------------

def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_kv_sequence(value: Any) -> list:
    """environment/labels/...: a mapping becomes `K=V` items sorted by key (`K` alone for null)."""
    if isinstance(value, dict):
        return [k if v is None else f"{k}={_scalar_text(v)}" for k, v in sorted(value.items())]
    if isinstance(value, list):
        return list(value)
    if value is None:
        return []
    return [value]


def _as_host_sequence(value: Any) -> list:
    """extra_hosts: `host: ip` or `host: [ip, ip]` become `host=ip` items sorted by host."""
    if isinstance(value, dict):
        out: list = []
        for host, ips in sorted(value.items()):
            for ip in ips if isinstance(ips, list) else [ips]:
                out.append(f"{host}={ip}")
        return out
    return _as_kv_sequence(value)


def _as_name_mapping(value: Any, default: Callable[[], Any]) -> dict:
    """networks/models/depends_on: a list of names becomes {name: default()}."""
    if isinstance(value, list):
        return {str(name): default() for name in value}
    if value is None:
        return {}
    return value


def _depends_default() -> dict:
    return {"condition": "service_started", "required": True}


# --- special mergers ------------------------------------------------------------------------

def _merge_replace(base: Any, override: Any, path: Path) -> Any:
    return strip_markers(override)


def _merge_kv_sequence(base: Any, override: Any, path: Path) -> Any:
    merged = _as_kv_sequence(base)
    if isinstance(override, dict):
        # `FOO: !reset null` inside a mapping removes FOO from what the base defined
        reset = {str(k) for k, v in override.items() if is_reset(v)}
        merged = [item for item in merged if _before_equals(item) not in reset]
    return merged + _as_kv_sequence(strip_markers(override))


def _merge_to_sequence(base: Any, override: Any, path: Path) -> Any:
    """dns, tmpfs, env_file, ...: a single string counts as a one-item list."""
    return _as_kv_sequence(base) + _as_kv_sequence(strip_markers(override))


def _merge_extra_hosts(base: Any, override: Any, path: Path) -> Any:
    merged = _as_host_sequence(base)
    seen = set(map(str, merged))
    return merged + [h for h in _as_host_sequence(strip_markers(override)) if str(h) not in seen]


def _merge_build(base: Any, override: Any, path: Path) -> Any:
    if isinstance(base, str):
        base = {"context": base}
    if isinstance(override, str):
        override = {"context": override}
    return _merge_mappings(base, override, path)


def _merge_depends_on(base: Any, override: Any, path: Path) -> Any:
    return _merge_mappings(_as_name_mapping(base, _depends_default),
                           _as_name_mapping(override, _depends_default), path)


def _merge_name_map(base: Any, override: Any, path: Path) -> Any:
    return _merge_mappings(_as_name_mapping(base, lambda: None),
                           _as_name_mapping(override, lambda: None), path)


def _merge_logging(base: Any, override: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(override, dict):
        return strip_markers(override)
    b, o = base.get("driver"), override.get("driver")
    if b is None or o is None or b == o:
        return _merge_mappings(base, override, path)
    return strip_markers(override)


def _merge_ipam_config(base: Any, override: Any, path: Path) -> Any:
    override = strip_markers(override)
    if not isinstance(base, list) or not isinstance(override, list):
        return override
    merged = list(base)
    for item in override:
        subnet = item.get("subnet") if isinstance(item, dict) else None
        for i, existing in enumerate(merged):
            if subnet is not None and isinstance(existing, dict) and existing.get("subnet") == subnet:
                merged[i] = _merge_mappings(existing, item, path + (str(i),))
                break
        else:
            merged.append(item)
    return merged


_KV = ("environment", "labels", "annotations", "sysctls", "label_file",
       "build.args", "build.labels", "build.additional_contexts", "deploy.labels")
_SEQ = ("tmpfs", "dns", "dns_opt", "dns_search", "env_file")

RULES: list[tuple[Path, Callable[[Any, Any, Path], Any]]] = [
    *[(_pat("services.*." + k), _merge_replace) for k in ("command", "entrypoint", "healthcheck.test")],
    (_pat("services.*.ulimits.*"), _merge_replace),
    *[(_pat("services.*." + k), _merge_kv_sequence) for k in _KV],
    *[(_pat("services.*." + k), _merge_to_sequence) for k in _SEQ],
    (_pat("networks.*.labels"), _merge_kv_sequence),
    (_pat("volumes.*.labels"), _merge_kv_sequence),
    (_pat("services.*.extra_hosts"), _merge_extra_hosts),
    (_pat("services.*.build.extra_hosts"), _merge_extra_hosts),
    (_pat("services.*.build"), _merge_build),
    (_pat("services.*.depends_on"), _merge_depends_on),
    (_pat("services.*.networks"), _merge_name_map),
    (_pat("services.*.models"), _merge_name_map),
    (_pat("services.*.logging"), _merge_logging),
    (_pat("networks.*.ipam.config"), _merge_ipam_config),
]


# --- the merge ----------------------------------------------------------------------------------

def _dotted(path: Path) -> str:
    return ".".join(path)


def _cannot_override(path: Path) -> Exception:
    from compose.errors import ComposeError

    return ComposeError(f"cannot override {_dotted(path)}", path=path)


def merge(base: Any, override: Any, path: Path = ()) -> Any:
    """`override` merged onto `base` (neither is modified). `path` is where they sit in the
    whole document, which selects the rule; callers merging whole files leave it empty."""
    if is_override(override):
        return strip_markers(override.value)
    if is_reset(override):
        return None
    for pattern, rule in RULES:
        if _match(pattern, path):
            if override is None:
                return base
            if base is None:
                return strip_markers(override)
            return rule(base, override, path)
    if override is None:
        return base
    if base is None:
        return strip_markers(override)
    if isinstance(base, dict):
        if not isinstance(override, dict):
            raise _cannot_override(path)
        return _merge_mappings(base, override, path)
    if isinstance(base, list):
        if not isinstance(override, list):
            raise _cannot_override(path)
        return list(base) + [strip_markers(v) for v in override if not is_reset(v)]
    return strip_markers(override)


def _merge_mappings(base: dict, override: dict, path: Path) -> dict:
    if not isinstance(override, dict):
        raise _cannot_override(path)
    result = dict(base)
    for key, value in override.items():
        if is_reset(value):
            result.pop(key, None)
        elif key in result:
            result[key] = merge(result[key], value, path + (str(key),))
        else:
            result[key] = strip_markers(value)
    return result


def merge_all(documents: list[Any]) -> dict:
    """Merge a sequence of whole documents (first file, then overrides)."""
    result: Any = {}
    for doc in documents:
        result = merge(result, doc or {}, ())
    return result if isinstance(result, dict) else {}


# --- unicity ------------------------------------------------------------------------------------

def _before_equals(item: Any) -> str:
    return _scalar_text(item).split("=", 1)[0]


def _value(item: Any) -> str:
    return repr(item) if isinstance(item, (dict, list)) else _scalar_text(item)


def _split_short(spec: str) -> list[str]:
    """Split a short volume/device spec on ':' except inside `${...}` and after a drive letter."""
    parts, depth, cur = [], 0, ""
    for i, ch in enumerate(spec):
        if ch == "{" and i and spec[i - 1] == "$":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == ":" and depth == 0 and not (len(cur) == 1 and cur.isalpha() and not parts
                                              and spec[i + 1:i + 2] in ("\\", "/")):
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _mount_target(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target", ""))
    parts = _split_short(str(item))
    return parts[1] if len(parts) > 1 else parts[0]


def _port_key(item: Any) -> str:
    if isinstance(item, dict):
        return "{}:{}:{}/{}".format(item.get("host_ip") or "0.0.0.0", item.get("published") or "",
                                    item.get("target"), item.get("protocol") or "tcp")
    return _scalar_text(item)


def _secret_key(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target") or f"/run/secrets/{item.get('source')}")
    return f"/run/secrets/{item}"


def _config_key(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target") or f"/{item.get('source')}")
    return f"/{item}"


def _env_file_key(item: Any) -> str:
    return str(item.get("path")) if isinstance(item, dict) else str(item)


UNIQUE: list[tuple[Path, Callable[[Any], str]]] = [
    *[(_pat("services.*." + k), _before_equals) for k in (
        "environment", "labels", "annotations", "sysctls", "tmpfs", "cap_add", "cap_drop", "dns",
        "dns_opt", "dns_search", "links", "profiles", "build.args", "build.labels",
        "build.additional_contexts", "build.tags", "build.platform", "build.platforms",
        "deploy.labels", "networks.*.aliases", "networks.*.link_local_ips")],
    (_pat("networks.*.labels"), _before_equals),
    (_pat("volumes.*.labels"), _before_equals),
    (_pat("networks.*.ipam.options"), _before_equals),
    (_pat("services.*.volumes"), _mount_target),
    (_pat("services.*.devices"), _mount_target),
    (_pat("services.*.ports"), _port_key),
    (_pat("services.*.expose"), _value),
    (_pat("services.*.secrets"), _secret_key),
    (_pat("services.*.configs"), _config_key),
    (_pat("services.*.env_file"), _env_file_key),
]


def dedupe(items: list, key: Callable[[Any], str]) -> list:
    """Later entries replace earlier ones with the same key, at the earlier one's position."""
    index: dict[str, int] = {}
    out: list = []
    for item in items:
        k = key(item)
        if k in index:
            out[index[k]] = item
        else:
            index[k] = len(out)
            out.append(item)
    return out


def _build_trie(entries: list[tuple[Path, Callable[[Any], str]]]) -> dict:
    trie: dict = {}
    for pattern, key in entries:
        node = trie
        for part in pattern[:-1]:
            node = node.setdefault(part, {})
        node[pattern[-1]] = key
    return trie


# UNIQUE as a trie ({"services": {"*": {"ports": key_fn, ...}}, ...}): the pass only visits the
# paths that can hold a de-duplicated list, and copies only the mappings on those paths.
_UNIQUE_TRIE = _build_trie(UNIQUE)


def unicity(data: Any, _trie: Any = None) -> Any:
    """The de-duplication pass over a whole document (returns a new structure; the input is
    not modified)."""
    trie = _UNIQUE_TRIE if _trie is None else _trie
    if callable(trie):
        return dedupe(data, trie) if isinstance(data, list) else data
    if not isinstance(data, dict):
        return data
    out = None
    for k, v in data.items():
        sub = trie.get(str(k)) or trie.get("*")
        if sub is None:
            continue
        new = unicity(v, sub)
        if new is not v:
            if out is None:
                out = dict(data)
            out[k] = new
    return data if out is None else out
