"""What `up` asks of the engine for the project's networks: which ones a set of services needs,
and the create body of each (Docker's POST /networks/create shape). Pure, and free of trio, so
the CLI can start creating networks before it has imported the executor (see headstart.py)."""
from __future__ import annotations

from collections.abc import Iterable

from compose.orchestrator import labels as L
from compose.orchestrator.project_view import ProjectSpec, Resource

_IPAM_KEYS = {"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange"}


def needed(project: ProjectSpec, services: Iterable[str]) -> list[str]:
    """Network keys the services attach to, in first-use order, once each."""
    return list(dict.fromkeys(k for n in services for k in project.services[n].networks()))


def create_body(project: ProjectSpec, res: Resource) -> dict:
    cfg = res.config
    body = {"Name": res.name, "Driver": cfg.get("driver") or "bridge",
            "Options": dict(cfg.get("driver_opts") or {}),
            "Internal": bool(cfg.get("internal")),
            "Attachable": bool(cfg.get("attachable")),
            "Labels": L.resource_labels(L.NETWORK, res.key, project.name,
                                        user_labels=cfg.get("labels") or {}),
            "CheckDuplicate": True}
    ipam = cfg.get("ipam") or {}
    if ipam.get("config"):
        body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                        "Config": [{_IPAM_KEYS.get(k, k): v for k, v in c.items()}
                                   for c in ipam["config"]]}
    return body
