"""Which compose files a project is made of (compose-go `cli/options.go`).

Order of sources: `-f` flags (repeatable, `-` = stdin) > `COMPOSE_FILE` (split on
`COMPOSE_PATH_SEPARATOR`, default `:`) > the default names searched in the working directory and
then in each parent; with the default search, one override file next to the main file joins in.
Only the file system is consulted here (no environment of our own).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from compose.errors import ComposeFileNotFound

__all__ = ["DEFAULT_FILE_NAMES", "DEFAULT_OVERRIDE_FILE_NAMES", "STDIN", "find_default_files",
           "files_from_flags", "files_from_env", "NO_CONFIG_FILE"]

# Note the orders: compose.yaml before .yml, but docker-compose.yml before .yaml; overrides
# prefer .yml. These are compose-go's lists.
DEFAULT_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDE_FILE_NAMES = ("compose.override.yml", "compose.override.yaml",
                               "docker-compose.override.yml", "docker-compose.override.yaml")
STDIN = "-"
NO_CONFIG_FILE = "no configuration file provided: not found"


def _abs(path: str, cwd: Path) -> str:
    return os.path.normpath(os.path.join(cwd, path))


def _existing(directory: Path, names: Sequence[str]) -> list[str]:
    return [str(directory / name) for name in names if (directory / name).exists()]


def find_default_files(start: Path, warn: Callable[[str], None]) -> list[str]:
    """The default compose file in `start` or its closest parent that has one, plus at most one
    override file from that same directory. Empty when no directory up to `/` has one."""
    directory = Path(os.path.normpath(start))
    while True:
        candidates = _existing(directory, DEFAULT_FILE_NAMES)
        if candidates:
            found = [candidates[0]]
            if len(candidates) > 1:
                warn("Found multiple config files with supported names: " + ", ".join(candidates))
                warn(f"Using {candidates[0]}")
            overrides = _existing(directory, DEFAULT_OVERRIDE_FILE_NAMES)
            if overrides:
                if len(overrides) > 1:
                    warn("Found multiple override files with supported names: "
                         + ", ".join(overrides))
                    warn(f"Using {overrides[0]}")
                found.append(overrides[0])
            return found
        if directory.parent == directory:
            return []
        directory = directory.parent


def files_from_flags(files: Sequence[str], cwd: Path) -> list[str]:
    """`-f` values made absolute (against `cwd`); `-` stays. A missing file is an error."""
    out = []
    for given in files:
        if given == STDIN:
            out.append(STDIN)
            continue
        path = _abs(given, cwd)
        if not os.path.exists(path):
            raise ComposeFileNotFound(f"open {path}: no such file or directory")
        if os.path.isdir(path):
            raise ComposeFileNotFound(f"read {path}: is a directory")
        out.append(path)
    return out


def files_from_env(environment: Mapping[str, str], cwd: Path) -> list[str] | None:
    """The files `COMPOSE_FILE` names (None when it is not set), absolute and existing."""
    value = environment.get("COMPOSE_FILE")
    if value is None:
        return None
    separator = environment.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    out = []
    for given in value.split(separator):
        if given == STDIN:
            out.append(STDIN)
            continue
        if not given:
            continue
        path = _abs(given, cwd)
        if not os.path.exists(path):
            raise ComposeFileNotFound(f"stat {path}: no such file or directory "
                                      "(named by COMPOSE_FILE)")
        out.append(path)
    return out
