"""`convert --to kubernetes`: the compose model (compose.model.Project, loaded as `up` loads
it) as a list of Kubernetes manifests (plain dicts) and the list of what did not map.

Pure: nothing is written, nothing is asked of the engine or a cluster; secret and config
files are read through the options' `read_file`. Building and pushing images (--push) is
compose/kube/push.py's, which hands its digests in as `ConvertOptions.images`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compose.kube.context import (SERVICE_LABEL, BindMounts, ConversionError, ConvertOptions,
                                  Kind, ServiceType, build_context)
from compose.kube.files import file_objects
from compose.kube.pods import pod_spec
from compose.kube.service_objects import service_objects
from compose.kube.unmapped import PROJECT, Unmapped, leftovers
from compose.kube.volumes import claims
from compose.kube.waits import account_objects
from compose.kube.workloads import workload

if TYPE_CHECKING:
    from compose.model import Project

__all__ = ["BindMounts", "ConversionError", "ConversionResult", "ConvertOptions", "Kind",
           "ServiceType", "Unmapped", "convert_project"]


@dataclass(frozen=True)
class ConversionResult:
    manifests: list[dict] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)


def convert_project(project: Project, options: ConvertOptions | None = None) -> ConversionResult:
    """Manifests in apply order (accounts, claims, files, Services, workloads), and every
    construct without a faithful mapping. Raises ConversionError (one line, naming the service
    and key) for what it refuses, such as a bind mount without --bind-mounts hostpath."""
    options = options or ConvertOptions()
    ctx, notes = build_context(project, options)
    pods: dict[str, dict] = {}
    for name, service in project.services.items():
        notes += leftovers(name, service.canonical)
        pods[name] = pod_spec(ctx, service, notes)
    services: list[dict] = []
    workloads: list[dict] = []
    for name, service in project.services.items():
        services += service_objects(ctx, service, notes)
        workloads.append(workload(ctx, service, pods[name], notes))
    notes += _network_notes(project)
    accounts = account_objects(ctx) if any("initContainers" in p for p in pods.values()) else []
    manifests = accounts + claims(ctx, notes) + file_objects(ctx, notes) + services + workloads
    _check_unique(manifests)
    return ConversionResult(manifests=manifests, unmapped=_ordered(project, notes))


def _check_unique(manifests: list[dict]) -> None:
    """Two objects of one kind under one name would overwrite each other when applied (a
    service called `web-published` beside web's published ports, an alias named like one)."""
    seen: dict[tuple[str, str], dict] = {}
    for m in manifests:
        key = (m["kind"], m["metadata"]["name"])
        if key in seen:
            first = seen[key]["metadata"]["labels"].get(SERVICE_LABEL, "-")
            second = m["metadata"]["labels"].get(SERVICE_LABEL, "-")
            raise ConversionError(f"services {first!r} and {second!r} both need the {key[0]} "
                                  f"{key[1]!r}; rename one of them")
        seen[key] = m


def _network_notes(project: Project) -> list[Unmapped]:
    out = []
    used = {n.network for s in project.services.values() for n in s.networks}
    if len(used) > 1:
        out.append(Unmapped(PROJECT, "networks", f"{', '.join(sorted(used))}: pods share one "
                            "flat network; write NetworkPolicies to keep them apart"))
    for key, net in project.networks.items():
        if key not in used:
            continue
        if net.internal:
            out.append(Unmapped(PROJECT, f"networks.{key}.internal", "cutting pods off from "
                                "the outside takes an egress NetworkPolicy"))
        if net.subnets or net.driver not in (None, "bridge") or net.external:
            out.append(Unmapped(PROJECT, f"networks.{key}", "drivers, subnets and external "
                                "networks are the cluster network's business"))
    return out


def _ordered(project: Project, notes: list[Unmapped]) -> list[Unmapped]:
    """Each entry once, grouped by service in the file's order, project-level ones last."""
    seen: set = set()
    unique = [n for n in notes if not (n in seen or seen.add(n))]
    rank = {name: i for i, name in enumerate(project.services)}
    return sorted(unique, key=lambda n: rank.get(n.service, len(rank)))
