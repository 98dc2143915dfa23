"""`include`: other compose applications imported into this one.

Each entry is loaded as an independent project: its own project directory (the first
included file's directory, or `project_directory`) against which its relative paths are
resolved, and its own env file (`env_file`, else `.env` in that directory) for interpolation,
where the including project's environment wins. Includes nest; a cycle is an error. Services,
networks, volumes, secrets, configs and models are copied in; a name defined both by an
include and locally (or by two includes) with different content is an error.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any, Callable, Mapping

from compose.errors import ComposeError
from compose.extends import _rebase, rebase_service
from compose.merge import merge

KINDS = ("services", "networks", "volumes", "secrets", "configs", "models")

ReadSingle = Callable[[str, Mapping[str, str], bool, Callable[[str], None]], dict]


class IncludeError(ComposeError):
    """An include cannot be loaded, forms a cycle, or conflicts with local definitions."""


def apply_include(data: dict, path: str, environment: Mapping[str, str], interpolate: bool,
                  warn: Callable[[str], None], read_single: ReadSingle,
                  chain: tuple[str, ...] = ()) -> dict:
    """`data` (the document of `path`) with its `include` entries loaded and copied in."""
    here = os.path.dirname(os.path.abspath(path))
    chain = chain + (os.path.abspath(path),)
    imported: dict[str, dict] = {k: {} for k in KINDS}
    for i, entry in enumerate(data.get("include") or []):
        if isinstance(entry, str):
            entry = {"path": entry}
        paths = entry.get("path")
        paths = [paths] if isinstance(paths, str) else list(paths or [])
        files = [posixpath.normpath(posixpath.join(here, str(p))) for p in paths]
        if not files:
            raise IncludeError("include entry without a path", path=("include", i))
        project_dir = entry.get("project_directory")
        project_dir = _rebase(str(project_dir), here) if project_dir else os.path.dirname(files[0])
        env = dict(_included_env(entry, here, project_dir, environment))
        env.update(environment)  # the including project's environment wins
        included: dict = {}
        for file in files:
            if os.path.abspath(file) in chain:
                names = " -> ".join(os.path.basename(c) for c in chain + (file,))
                raise IncludeError(f"include cycle detected: {names}", path=("include", i))
            if not os.path.isfile(file):
                raise IncludeError(f"included file {file} not found", path=("include", i))
            doc = read_single(file, env, interpolate, warn)
            doc = apply_include(doc, file, env, interpolate, warn, read_single, chain)
            if any(isinstance(s, dict) and "extends" in s for s in (doc.get("services") or {}).values()):
                from compose.extends import resolve_extends

                doc = resolve_extends(doc, file, lambda p: read_single(p, env, interpolate, warn),
                                      project_dir)
            included = merge(included, doc, ())
        for kind in KINDS:
            for key, value in (included.get(kind) or {}).items():
                value = _rebased(kind, value, project_dir)
                if kind == "services":
                    value = _with_environment(value, env)
                if key in imported[kind] and imported[kind][key] != value:
                    raise IncludeError(f"{kind}.{key} conflicts with imported resource",
                                       path=("include", i))
                imported[kind][key] = value
    result = {k: v for k, v in data.items() if k != "include"}
    for kind in KINDS:
        local = data.get(kind) or {}
        for key in imported[kind]:
            if key in local and local[key] != imported[kind][key]:
                raise IncludeError(f"{kind}.{key} conflicts with imported resource", path=(kind, key))
        if imported[kind]:
            result[kind] = {**imported[kind], **local}
    return result


def _with_environment(service: Any, env: Mapping[str, str]) -> Any:
    """An included service's bare `environment` names take their values from the included
    project's environment (its env_file, then ours), as Compose v2 resolves them."""
    if not isinstance(service, dict) or service.get("environment") is None:
        return service
    environment = service["environment"]
    if isinstance(environment, dict):
        environment = {k: env.get(str(k)) if v is None and str(k) in env else v
                       for k, v in environment.items()}
    else:
        environment = [f"{item}={env[str(item)]}" if "=" not in str(item) and str(item) in env
                       else item for item in environment]
    return {**service, "environment": environment}


def _rebased(kind: str, value: Any, project_dir: str) -> Any:
    if not isinstance(value, dict):
        return value
    if kind == "services":
        return rebase_service(value, project_dir)
    if kind in ("secrets", "configs") and isinstance(value.get("file"), str):
        return {**value, "file": _rebase(value["file"], project_dir)}
    return value


def _included_env(entry: dict, here: str, project_dir: str, environment: Mapping[str, str]) -> dict:
    env_files = entry.get("env_file")
    if env_files is None:
        candidates, required = [os.path.join(project_dir, ".env")], False
    else:
        candidates = [env_files] if isinstance(env_files, str) else list(env_files)
        candidates, required = [_rebase(str(c), here) for c in candidates], True
    result: dict = {}
    for file in candidates:
        if not os.path.isfile(file):
            if required:
                raise IncludeError(f"env file {file} not found")
            continue
        from compose.loader.dotenv import parse_dotenv

        with open(file, encoding="utf-8") as f:
            text = f.read()
        lookup = {**result, **environment}
        result.update(parse_dotenv(text, lookup.get, file))
    return result
