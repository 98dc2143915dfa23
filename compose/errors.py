"""Errors of the compose layer: a user mistake in a compose file, an env file or a flag.

Every error renders as one line a user can act on, located where we know it:

    compose.yaml:12: services.web.ports[0]: invalid port "abc"

Location pieces that are unknown are left out. Loader stages that learn the location later
(the file name is known to the caller, the line to the YAML reader) add it with `located()`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.errors import PycomposeError

KeyPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """`("services", "web", "ports", 0)` -> `services.web.ports[0]`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            if out:
                out.append(".")
            out.append(str(part))
    return "".join(out)


def nearest_line(line_of: Callable[[KeyPath], int | None], path: Sequence[str | int]
                 ) -> int | None:
    """The line an error about `path` points at: that of `path`, else of its closest ancestor
    with one (a missing key has no line of its own; its mapping does)."""
    key = tuple(path)
    while key:
        line = line_of(key)
        if line is not None:
            return line
        key = key[:-1]
    return None


class ComposeError(PycomposeError):
    """A problem with the user's compose configuration (file, env file, flags)."""

    # Subclasses whose compose-go message already names the key path set this to False so the
    # path is not printed twice.
    show_path: bool = True

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 path: Sequence[str | int] | None = None) -> None:
        super().__init__(message)
        self.detail = message
        self.filename = filename
        self.line = line
        self.path: KeyPath | None = tuple(path) if path is not None else None
        self.message = self._render()
        self.args = (self.message,)

    def _render(self) -> str:
        prefix = ""
        if self.filename:
            prefix = self.filename + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            prefix = f"line {self.line}: "
        if self.show_path and self.path:
            prefix += format_path(self.path) + ": "
        return prefix + self.detail

    def located(self, *, filename: str | None = None, line: int | None = None,
                path: Sequence[str | int] | None = None) -> ComposeError:
        """The same error with missing location pieces filled in (known pieces are kept)."""
        if filename and not self.filename:
            self.filename = filename
        if line and not self.line:
            self.line = line
        if path is not None and self.path is None:
            self.path = tuple(path)
        self.message = self._render()
        self.args = (self.message,)
        return self

    def __str__(self) -> str:
        return self.message


class YamlError(ComposeError):
    """The file is not valid YAML, or not YAML a compose file may use."""


class InterpolationError(ComposeError):
    """A `${...}` template is invalid or a required variable is missing."""

    show_path = False  # compose-go's texts ("error while interpolating a.b: ...") carry it


class EnvFileError(ComposeError):
    """An env file (`.env`, `--env-file`, `env_file:`) cannot be read or parsed."""


class ProjectNameError(ComposeError):
    """The project name given by `-p` / COMPOSE_PROJECT_NAME is not acceptable."""


class ComposeFileNotFound(ComposeError):
    """No compose file was given or found, or a named one does not exist."""


class NormalizeError(Exception):
    """Raised with a key path; project.py turns it into a ComposeError with file and line."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key
