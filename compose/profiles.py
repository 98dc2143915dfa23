"""Profiles: which services of the canonical document are enabled.

A service without `profiles` is always enabled; one with profiles only when one of them is
active. Active profiles come from `--profile`, else COMPOSE_PROFILES (comma-separated); `*`
activates all. Services named on the command line are enabled whatever their profiles, and
their profiles become active too. A required dependency of an enabled service that stays
disabled is an error, as in Compose.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from compose.errors import ComposeError


class ProfileError(ComposeError):
    """An enabled service depends on a service that the active profiles disable."""


def active_profiles(flags: Iterable[str], environment: Mapping[str, str]) -> list[str]:
    profiles = [p for flag in flags for p in flag.split(",") if p.strip()]
    if not profiles:
        profiles = [p.strip() for p in environment.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    return list(dict.fromkeys(p.strip() for p in profiles))


def _enabled(service: dict, active: set[str]) -> bool:
    profiles = service.get("profiles") or []
    return not profiles or "*" in active or bool(active.intersection(profiles))


def apply_profiles(services: Mapping[str, dict], profiles: Iterable[str],
                   targets: Iterable[str] = ()) -> tuple[dict, dict, list[str]]:
    """Split canonical services into (enabled, disabled, active profiles)."""
    active = set(profiles)
    targets = list(targets)
    for name in targets:
        if name not in services:
            raise ComposeError(f"no such service: {name}")
        active.update(services[name].get("profiles") or [])
    enabled = {n: s for n, s in services.items() if n in targets or _enabled(s, active)}
    disabled = {n: s for n, s in services.items() if n not in enabled}
    for name, svc in enabled.items():
        deps = svc.get("depends_on") or {}
        for dep, cfg in list(deps.items()):
            if dep in disabled:
                if not cfg.get("required", True):
                    continue  # kept, as Compose v2 prints it; `up` skips it with a warning
                raise ProfileError(
                    f"service {dep!r} was pulled in as a dependency of service {name!r} but is not "
                    f"enabled by the active profiles. You may fix this by adding a common profile "
                    f"to {dep!r} and {name!r}", path=("services", name, "depends_on", dep))
        if "depends_on" in svc and not deps:
            del svc["depends_on"]
    return enabled, disabled, sorted(active)


def drop_unused_resources(canonical: dict) -> None:
    """Keep only the top-level networks, volumes, secrets and configs that an enabled service
    uses, as Compose v2 does after applying profiles (a disabled service's network is not made,
    an unused volume not created); a section left empty disappears."""
    used: dict[str, set] = {"networks": set(), "volumes": set(), "secrets": set(), "configs": set()}
    for service in canonical.get("services", {}).values():
        used["networks"].update(service.get("networks") or {})
        used["volumes"].update(v.get("source") for v in service.get("volumes") or []
                               if isinstance(v, dict) and v.get("type") == "volume" and v.get("source"))
        used["secrets"].update(_sources(service.get("secrets")))
        used["secrets"].update(_sources((service.get("build") or {}).get("secrets")))
        used["configs"].update(_sources(service.get("configs")))
    for section, names in used.items():
        if section not in canonical:
            continue
        kept = {k: v for k, v in (canonical[section] or {}).items() if k in names}
        if kept:
            canonical[section] = kept
        else:
            del canonical[section]


def _sources(refs) -> list[str]:
    return [r if isinstance(r, str) else r.get("source") for r in refs or []]
