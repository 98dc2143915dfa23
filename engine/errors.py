"""Typed errors. Every error a user can cause carries a one-line, user-facing message.

The CLI renders these once, at its edge; the API server maps `status` onto the HTTP status
code and `{"message": ...}` body, as the Docker Engine API does.
"""
from __future__ import annotations


class PycomposeError(Exception):
    """Root of every error whose message is meant for the user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class EngineError(PycomposeError):
    """An engine-side failure; `status` is the HTTP status the API answers with."""

    status: int = 500
    exit_code = 125  # docker CLI's code for "the engine failed"


class BadParameter(EngineError):
    status = 400


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


class NotRunning(Conflict):
    """The operation needs a running container (exec, pause, ...)."""


class CommandNotFound(EngineError):
    """The container's command does not exist in its filesystem (docker's exit code 127)."""

    status = 400  # Docker answers a start with a missing command as a bad parameter
    exit_code = 127


class CommandNotExecutable(EngineError):
    """The container's command exists but cannot be executed (docker's exit code 126)."""

    status = 400
    exit_code = 126


class EngineUnavailable(PycomposeError):
    """The client could not reach (or start) the engine daemon."""


def error_for_status(status: int, message: str) -> EngineError:
    """The typed error a client raises for an API error response."""
    cls = {400: BadParameter, 404: NotFound, 409: Conflict}.get(status, EngineError)
    return cls(message)
