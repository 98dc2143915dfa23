"""The project's networks and the engine: which ones a set of services needs, the create body of
each (Docker's POST /networks/create shape), and `down`'s blocking removal of them. Free of
trio, so the CLI can start on networks before it has imported the executor (headstart.py)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compose.orchestrator import labels as L
from compose.orchestrator.project_view import ProjectSpec, Resource
from engine.errors import EngineError, NotFound

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


def unsupported(err: EngineError) -> bool:
    """An engine without this endpoint (an older or network-less engine)."""
    return getattr(err, "status", 500) in (404, 405, 501)


def remove_all(client: Any, project: ProjectSpec) -> list[tuple[str, EngineError | None]]:
    """`down`'s network phase, blocking, through one API client: the declared networks (not
    external) and any others labelled with the project (made earlier, no longer declared),
    each removed once. Returns (name, None) per network removed and (name, error) per engine
    refusal (NotFound included: the caller decides what to say); stops after an error saying
    the engine has no network endpoints. Listing errors and non-engine errors propagate."""
    names = [res.name for res in project.networks.values() if not res.external]
    labelled = client.networks({"label": [f"{L.PROJECT}={project.name}"]})
    names += [n["Name"] for n in labelled or [] if n.get("Name") not in names]
    out: list[tuple[str, EngineError | None]] = []
    for name in names:
        try:
            client.remove_network(name)
            out.append((name, None))
        except NotFound as e:
            out.append((name, e))
        except EngineError as e:
            out.append((name, e))
            if unsupported(e):
                break
    return out
