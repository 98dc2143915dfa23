"""Errors the orchestrator raises; every one carries a one-line message for the user."""
from __future__ import annotations

from engine.errors import PycomposeError


class OrchestratorError(PycomposeError):
    """A compose operation could not be carried out."""


class DependencyError(OrchestratorError):
    """A `depends_on` condition failed (`dependency failed to start: ...`)."""


class UpstreamError(OrchestratorError):
    """Skipped because a dependency failed; the dependency's own error is reported once."""


class NoSuchService(OrchestratorError):
    pass


class NotSupported(OrchestratorError):
    pass
