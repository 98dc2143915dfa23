"""The project's networks and the engine: which ones a set of services needs, the create body of
each (Docker's POST /networks/create shape), and `down`'s blocking removal of them. Free of
trio, so the CLI can start on networks before it has imported the executor (early_calls.py)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compose.model import IpamPool, Network
from compose.orchestrator import labels as L
from compose.orchestrator.project_view import ProjectSpec, Resource
from engine.errors import EngineError, NotFound



def needed(project: ProjectSpec, services: Iterable[str]) -> list[str]:
    """Network keys the services attach to, in first-use order, once each."""
    return list(dict.fromkeys(k for n in services for k in project.services[n].networks()))


def _pool(pool: IpamPool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value, api in ((pool.subnet, "Subnet"), (pool.ip_range, "IPRange"),
                       (pool.gateway, "Gateway")):
        if value:
            out[api] = value
    if pool.aux_addresses:
        out["AuxiliaryAddresses"] = dict(pool.aux_addresses)
    return out


def create_body(project: ProjectSpec, res: Resource) -> dict:
    net = res.model if isinstance(res.model, Network) else Network(res.key, res.name)
    body = {"Name": res.name, "Driver": net.driver or "bridge",
            "Options": dict(net.driver_opts),
            "Internal": net.internal,
            "Attachable": net.attachable,
            "Labels": L.resource_labels(L.NETWORK, res.key, project.name,
                                        user_labels=net.labels),
            "CheckDuplicate": True}
    if net.enable_ipv6:   # sent, so the engine refuses it by name instead of it being lost
        body["EnableIPv6"] = True
    if net.ipam:
        body["IPAM"] = {"Driver": net.ipam_driver or "default",
                        "Config": [_pool(p) for p in net.ipam]}
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
