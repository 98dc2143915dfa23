"""What we remove from the reference's JSON before comparing (each is in DIFFERENCES.md)."""
from __future__ import annotations

from typing import Any


def reference(doc: dict[str, Any]) -> dict[str, Any]:
    for service in (doc.get("services") or {}).values():
        # Go prints its struct's empty command/entrypoint as null; unset is the same thing
        for key in ("command", "entrypoint"):
            if key in service and service[key] is None:
                del service[key]
    for service in (doc.get("services") or {}).values():
        # blkio device entries: the reference's JSON shows Go's field names (Path, Rate,
        # Weight: its struct has no JSON tags); its YAML and the specification say path, rate
        for entries in (service.get("blkio_config") or {}).values():
            if isinstance(entries, list):
                for i, entry in enumerate(entries):
                    entries[i] = {k.lower(): v for k, v in entry.items()}
        for rule in (service.get("develop") or {}).get("watch") or []:
            if rule.get("exec") == {"command": None}:   # an empty exec struct
                del rule["exec"]
        deploy = service.get("deploy")
        # the same for deploy's placement and resources structs
        for key in ("placement", "resources"):
            if isinstance(deploy, dict) and deploy.get(key) == {}:
                del deploy[key]
    for network in (doc.get("networks") or {}).values():
        # an empty IPAM struct: no IPAM configuration at all
        if isinstance(network, dict) and network.get("ipam") == {}:
            del network["ipam"]
    return doc


def ours(doc: dict[str, Any]) -> dict[str, Any]:
    """What we print and the reference drops (DIFFERENCES.md, second table)."""
    for network in (doc.get("networks") or {}).values():
        ipam = network.get("ipam") if isinstance(network, dict) else None
        if isinstance(ipam, dict):
            ipam.pop("options", None)
    return doc


def differences(ours: Any, want: Any, path: str = "") -> list[str]:
    """Every JSON path where the two documents differ, with both values: a readable failure."""
    if isinstance(ours, dict) and isinstance(want, dict):
        found = []
        for key in sorted(set(ours) | set(want), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in want:
                found.append(f"{sub}: ours {ours[key]!r}, reference has no such key")
            elif key not in ours:
                found.append(f"{sub}: ours missing, reference {want[key]!r}")
            else:
                found += differences(ours[key], want[key], sub)
        return found
    if isinstance(ours, list) and isinstance(want, list) and len(ours) == len(want):
        return [d for i, (a, b) in enumerate(zip(ours, want)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if ours == want and type(ours) is type(want) else [f"{path}: ours {ours!r}, reference {want!r}"]
