"""Names of the engine objects a project owns, as Docker Compose spells them.

Discovery never relies on these names (labels do that, see `labels.py`); names only have to match
what Compose users type and see (`demo-web-1`, `demo_default`).
"""
from __future__ import annotations

import re
import secrets

SEPARATOR = "-"
ONEOFF_MARK = "run"

_REPLICA_NAME = re.compile(r"^(?P<project>.+)-(?P<service>.+)-(?P<number>[0-9]+)$")


def container_name(project: str, service: str, number: int) -> str:
    """`<project>-<service>-<n>`, `n` from 1."""
    return f"{project}{SEPARATOR}{service}{SEPARATOR}{number}"


def new_slug() -> str:
    """The 12-hex id that tells one-off containers apart (also their `slug` label)."""
    return secrets.token_hex(6)


def oneoff_name(project: str, service: str, slug: str) -> str:
    """`<project>-<service>-run-<12hex>`."""
    return f"{project}{SEPARATOR}{service}{SEPARATOR}{ONEOFF_MARK}{SEPARATOR}{slug}"


def scoped_name(project: str, key: str) -> str:
    """Networks, volumes, configs and secrets: `<project>_<key>` (underscore, as Compose does)."""
    return f"{project}_{key}"


def default_network(project: str) -> str:
    return scoped_name(project, "default")


def short_name(name: str, project: str) -> str:
    """The name logs and progress show: the container name without its project (`web-1`), or the
    custom `container_name` unchanged."""
    name = name.lstrip("/")
    prefix = f"{project}{SEPARATOR}"
    return name[len(prefix):] if name.startswith(prefix) else name


def temporary_name(old_id: str, name: str) -> str:
    """The name a replacement container carries until the old one is gone."""
    return f"{old_id[:12]}_{name}"


def built_image_name(project: str, service: str) -> str:
    """The image a service with `build:` and no `image:` gets."""
    return f"{project}{SEPARATOR}{service}"
