"""Container links on user-defined networks: `target:alias` makes `alias` resolve, for the
linking container only, to the target container (by its name on the networks they share), as
Docker's resolver does. Legacy links on the default bridge (environment variables, /etc/hosts
entries) are engine.containers.legacylinks. Pure."""
from __future__ import annotations

from typing import Any

from engine.errors import BadParameter

DEFAULT_BRIDGE = ("", "default", "bridge")


def parse_link(text: Any, where: str) -> tuple[str, str]:
    """`name:alias`, `name` (alias = name) or Docker's stored `/name:/self/alias` → (target,
    alias)."""
    if not isinstance(text, str) or not text.strip(":/"):
        raise BadParameter(f"{where}: invalid link {text!r}")
    target, _, alias = text.partition(":")
    target = target.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else target
    if not target or not alias:
        raise BadParameter(f"{where}: invalid link {text!r}")
    return target, alias


def links_of(body: dict) -> dict[str, str]:
    """alias → target for a create body: HostConfig.Links and every endpoint's Links."""
    host = body.get("HostConfig") if isinstance(body.get("HostConfig"), dict) else {}
    out: dict[str, str] = {}
    for i, text in enumerate(host.get("Links") or []):
        target, alias = parse_link(text, f"HostConfig.Links[{i}]")
        out[alias.lower()] = target
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    for name, cfg in (endpoints.items() if isinstance(endpoints, dict) else []):
        for i, text in enumerate((cfg or {}).get("Links") or [] if isinstance(cfg, dict) else []):
            target, alias = parse_link(text, f"EndpointsConfig[{name!r}].Links[{i}]")
            out[alias.lower()] = target
    return out
