"""`extends`: a service built on another one, from the same file or another file.

Runs per file after interpolation, before the file is merged with the others. The base
service is merged under the extending one with the override rules of compose/merge.py (path
`services.<name>`). Chains are followed; a cycle is an error naming the chain. Relative paths
of a service taken from another file are rebased onto that file's directory.
"""
from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Callable

from compose.errors import ComposeError
from compose.merge import _split_short, merge, strip_markers

# load_file(path) -> the interpolated data of that compose file (a dict)
LoadFile = Callable[[str], dict]


class ExtendsError(ComposeError):
    """A service extends something that does not exist, or extends itself in a circle."""


def _rebase(path: str, base_dir: str) -> str:
    if not path or path.startswith(("/", "~")) or re.match(r"^([a-z]+://|git@|github\.com/)", path):
        return path
    return posixpath.normpath(posixpath.join(base_dir, path))


def rebase_service(svc: dict, base_dir: str) -> dict:
    """The service with its relative host paths made absolute against `base_dir`."""
    svc = dict(svc)
    build = svc.get("build")
    if isinstance(build, str):
        svc["build"] = _rebase(build, base_dir)
    elif isinstance(build, dict):
        build = dict(build)
        build["context"] = _rebase(str(build.get("context") or "."), base_dir)
        svc["build"] = build
    env_file = svc.get("env_file")
    if env_file is not None:
        items = env_file if isinstance(env_file, list) else [env_file]
        svc["env_file"] = [_rebase(e, base_dir) if isinstance(e, str)
                           else {**e, "path": _rebase(str(e.get("path")), base_dir)} for e in items]
    if isinstance(svc.get("label_file"), (str, list)):
        lf = svc["label_file"]
        svc["label_file"] = [_rebase(x, base_dir) for x in (lf if isinstance(lf, list) else [lf])]
    volumes = []
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            parts = _split_short(v)
            if len(parts) > 1 and parts[0].startswith("."):
                parts[0] = _rebase(parts[0], base_dir)
                v = ":".join(parts)
        elif isinstance(v, dict) and v.get("type") == "bind" and v.get("source"):
            v = {**v, "source": _rebase(str(v["source"]), base_dir)}
        volumes.append(v)
    if "volumes" in svc:
        svc["volumes"] = volumes
    return svc


def resolve_extends(data: dict, filename: str, load_file: LoadFile,
                    project_dir: str | None = None) -> dict:
    """`data` (one file's interpolated document) with every `extends` resolved.

    `extends.file` in a file of the project itself (the compose file, an override, an included
    project's file) is relative to the project directory, `project_dir`, as in Compose v2, not
    to that file's own directory; in a file reached through `extends`, to that file's directory.
    """
    services = data.get("services")
    if not isinstance(services, dict):
        return data
    cache: dict[str, dict] = {os.path.abspath(filename): data}
    origin = os.path.abspath(filename)
    base_dir = project_dir or os.path.dirname(origin)
    resolved = {name: _resolve(name, services[name], origin, cache, load_file, [], origin, base_dir)
                for name in services}
    return {**data, "services": resolved}


def _resolve(name: str, svc: Any, filename: str, cache: dict[str, dict], load_file: LoadFile,
             chain: list[tuple[str, str]], origin: str, origin_dir: str) -> Any:
    if not isinstance(svc, dict) or "extends" not in svc:
        return svc
    # errors in the file being loaded get their line from the caller; others name their file
    where = None if filename == origin else os.path.relpath(filename)
    link = (filename, name)
    if link in chain:
        names = [n for _, n in chain[chain.index(link):]] + [name]
        raise ExtendsError(f"circular reference with extends: {' -> '.join(names)}",
                           filename=where, path=("services", name, "extends"))
    ext = svc["extends"]
    base_name = ext if isinstance(ext, str) else ext.get("service")
    base_file = filename
    if isinstance(ext, dict) and ext.get("file"):
        here = origin_dir if filename == origin else os.path.dirname(filename)
        base_file = posixpath.normpath(posixpath.join(here, str(ext["file"])))
    if base_file not in cache:
        if not os.path.isfile(base_file):
            raise ExtendsError(f"extends file {base_file} not found", filename=where,
                               path=("services", name, "extends"))
        cache[base_file] = load_file(base_file)
    base_services = cache[base_file].get("services") or {}
    if base_name not in base_services:
        raise ExtendsError(f"cannot extend service {name!r}: service {base_name!r} not found in "
                           f"{os.path.basename(base_file)}", filename=where,
                           path=("services", name, "extends"))
    base = _resolve(base_name, base_services[base_name], base_file, cache, load_file, chain + [link],
                    origin, origin_dir)
    base = strip_markers(base)
    if base_file != filename:
        base = rebase_service(base, os.path.dirname(base_file))
    local = {k: v for k, v in svc.items() if k != "extends"}
    merged = merge(base, local, ("services", name))
    return merged
