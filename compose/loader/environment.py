"""The project's inputs before any compose file is parsed: its environment, its compose files,
its directory, and (once the files' `name:` is known) its name.

Follows docker compose's `toProjectOptions`: the OS environment always wins; `--env-file`s (or
`.env` in the working directory) fill in what it lacks; `COMPOSE_FILE` is read from that merged
environment; and once the project directory is known, its `.env` is read again (still never
overriding). The OS environment and the current directory are passed in, never read here.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from compose.errors import ComposeError, ComposeFileNotFound, ProjectNameError
from compose.loader.discovery import (NO_CONFIG_FILE, STDIN, files_from_env, files_from_flags,
                                      find_default_files)
from compose.loader.dotenv import read_env_files
from compose.loader.interpolation import Warn, default_warn, interpolate

__all__ = ["ProjectSources", "resolve_sources", "project_name", "normalize_project_name",
           "check_project_name", "default_profiles", "parse_go_bool"]


@dataclass(frozen=True)
class ProjectSources:
    config_files: tuple[str, ...]    # absolute paths in -f order; "-" is stdin
    working_dir: Path                # the project directory: relative paths resolve against it
    environment: Mapping[str, str]   # the project environment, for interpolation
    env_files: tuple[str, ...]       # the env files that were read (absolute)


_GO_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_GO_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))


def parse_go_bool(name: str, value: str) -> bool:
    """A boolean environment setting, read as Go's strconv.ParseBool reads it."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ComposeError(f"{name}: strconv.ParseBool: parsing {value!r}: invalid syntax")


def _default_env_files(working_dir: Path, os_env: Mapping[str, str]) -> list[str] | None:
    """`<working_dir>/.env` when it exists and is not a directory, unless disabled."""
    disabled = os_env.get("COMPOSE_DISABLE_ENV_FILE")
    if disabled is not None and parse_go_bool("COMPOSE_DISABLE_ENV_FILE", disabled):
        return None
    candidate = working_dir / ".env"
    if candidate.exists() and not candidate.is_dir():
        return [str(candidate)]
    return None


def _first_file_dir(files: Sequence[str]) -> Path | None:
    for path in files:
        if path != STDIN:
            return Path(path).parent
    return None


def _merge_missing(environment: dict[str, str], values: Mapping[str, str]) -> None:
    for key, value in values.items():
        environment.setdefault(key, value)


def resolve_sources(*, os_env: Mapping[str, str], cwd: Path, files: Sequence[str] = (),
                    project_directory: str | None = None, env_files: Sequence[str] = (),
                    require_files: bool = True, warn: Warn | None = None) -> ProjectSources:
    """Work out the compose files, project directory and project environment from the global
    flags (`-f`, `--project-directory`, `--env-file`) and the OS environment `os_env`."""
    warn = warn or default_warn
    cwd = Path(os.path.normpath(cwd))
    environment = dict(os_env)
    environment.setdefault("PWD", str(cwd))
    project_dir = Path(os.path.normpath(cwd / project_directory)) if project_directory else None

    explicit_env_files = list(env_files)
    if not explicit_env_files and os_env.get("COMPOSE_ENV_FILES"):
        explicit_env_files = [f for f in os_env["COMPOSE_ENV_FILES"].split(",") if f]

    flag_files = files_from_flags(files, cwd) if files else []

    # First pass: .env of the directory known before file discovery.
    working_dir = project_dir or _first_file_dir(flag_files) or cwd
    used_env_files = explicit_env_files or _default_env_files(working_dir, os_env) or []
    if used_env_files:
        _merge_missing(environment, read_env_files(used_env_files, environment, base_dir=cwd,
                                                   warn=warn))

    config_files = flag_files
    if not config_files:
        config_files = files_from_env(environment, cwd) or []
    if not config_files:
        config_files = find_default_files(project_dir or cwd, warn)
    if not config_files and require_files:
        raise ComposeFileNotFound(NO_CONFIG_FILE)

    # Second pass: the project directory may only be known now; its .env fills in what is
    # still missing (a .env found in the first pass stays in use when this one has none).
    working_dir = project_dir or _first_file_dir(config_files) or cwd
    if not explicit_env_files:
        used_env_files = _default_env_files(working_dir, os_env) or used_env_files
    if used_env_files:
        _merge_missing(environment, read_env_files(used_env_files, environment, base_dir=cwd,
                                                   warn=warn))

    return ProjectSources(
        config_files=tuple(config_files),
        working_dir=working_dir,
        environment=MappingProxyType(environment),
        env_files=tuple(os.path.normpath(cwd / f) for f in used_env_files),
    )


# --- project name ------------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"[a-z0-9_-]")
_INVALID_NAME = ("must consist only of lowercase alphanumeric characters, hyphens, and "
                 "underscores as well as start with a letter or number")


def normalize_project_name(name: str) -> str:
    """Lower-case, keep `[a-z0-9_-]`, drop leading `_`/`-` (how directory names and `name:`
    become project names)."""
    return "".join(_NAME_CHARS.findall(name.lower())).lstrip("_-")


def check_project_name(name: str) -> str:
    """`name` itself when it is a valid project name (as `-p` / COMPOSE_PROJECT_NAME must be)."""
    if normalize_project_name(name) != name:
        raise ProjectNameError(f"invalid project name {json_quote(name)}: {_INVALID_NAME}")
    return name


def json_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def project_name(*, working_dir: Path, environment: Mapping[str, str],
                 explicit: str | None = None, names_in_files: Sequence[object] = (),
                 warn: Warn | None = None) -> str:
    """The project name: `-p` > COMPOSE_PROJECT_NAME (project env) > the last `name:` of the
    compose files (interpolated, then normalized) > the project directory's basename
    (normalized). The first two must already be valid. Callers then add the result to the
    environment as COMPOSE_PROJECT_NAME for interpolation."""
    warn = warn or default_warn
    if explicit:
        return check_project_name(explicit)
    from_env = environment.get("COMPOSE_PROJECT_NAME")
    if from_env:
        return check_project_name(from_env)
    raw_names = [str(n) for n in names_in_files if n is not None and str(n) != ""]
    if raw_names:
        interpolated = interpolate({"name": raw_names[-1]}, environment, casts={}, warn=warn)
        name = normalize_project_name(interpolated["name"])
    else:
        dirname = Path(working_dir).name
        real = Path(os.path.realpath(working_dir)).name
        if real != dirname:
            warn("project has been loaded without an explicit name from a symlink. "
                 f"Using name {json_quote(dirname)}")
        name = normalize_project_name(dirname)
    if not name:
        raise ProjectNameError("project name must not be empty")
    return name


def default_profiles(flags: Sequence[str], environment: Mapping[str, str]) -> list[str]:
    """Active profiles: the `--profile` flags, else COMPOSE_PROFILES (comma-separated)."""
    if flags:
        return list(flags)
    return [p.strip() for p in environment.get("COMPOSE_PROFILES", "").split(",") if p.strip()]

