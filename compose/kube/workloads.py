"""Which workload each service becomes, and the workload object around its pod template.

    Job          a one-shot service: another waits on it with service_completed_successfully,
                 or its file says `restart: "no"` and nothing reaches it (no ports, no expose,
                 no healthcheck, nobody waits for it to start or be healthy)
    StatefulSet  a long-running service that writes to a named volume
    Deployment   every other service
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from compose.kube.context import (DEPENDS_ON_ANNOTATION, Context, Kind, annotations,
                                  valid_labels)
from compose.kube.unmapped import Unmapped
from compose.model import Condition, MountType, RestartPolicy

if TYPE_CHECKING:
    from compose.model import Project, Service


def workload_kind(service: Service, project: Project) -> Kind:
    waits = [d for other in project.services.values() for d in other.depends_on
             if d.service == service.name]
    if any(d.condition is Condition.COMPLETED for d in waits):
        return Kind.JOB
    if _says_no_restart(service) and not waits and not service.ports and not service.expose \
            and service.healthcheck is None:
        return Kind.JOB
    if any(v.type is MountType.VOLUME and v.source and not v.read_only for v in service.volumes):
        return Kind.STATEFUL_SET
    return Kind.DEPLOYMENT


def _says_no_restart(service: Service) -> bool:
    """`restart: "no"` written in the file (the default is also "no", but says nothing about
    whether the command ends), or deploy.restart_policy.condition none."""
    doc = json.loads(service.canonical)
    if doc.get("restart") == "no":
        return True
    policy = (doc.get("deploy") or {}).get("restart_policy") or {}
    return policy.get("condition") == "none"


def workload(ctx: Context, service: Service, pod: dict, notes: list[Unmapped]) -> dict:
    """The Deployment, StatefulSet or Job of `service`, with `pod` as its pod spec."""
    kind = ctx.kinds[service.name]
    name = ctx.services[service.name]
    labels = valid_labels(service.labels)
    template = {"metadata": {"labels": {**labels, **ctx.selector(service.name)}},
                "spec": pod}
    notes_of = service.name
    pod_annotations = {**annotations(service.labels, notes_of, "labels", notes),
                       **annotations(_compose_annotations(service), notes_of, "annotations", notes)}
    deps = {d.service: d.condition.value for d in service.depends_on
            if d.service in ctx.project.services}
    if deps:
        pod_annotations[DEPENDS_ON_ANNOTATION] = json.dumps(deps, sort_keys=True)
    if pod_annotations:
        template["metadata"]["annotations"] = pod_annotations
    deploy_labels = dict(service.deploy.labels) if service.deploy else {}
    # deploy.labels label the service (here: the workload), labels its containers (the pods)
    meta = ctx.metadata(name, service.name, labels=valid_labels(deploy_labels),
                        annotations=annotations(deploy_labels, notes_of, "deploy.labels",
                                                notes) or None)
    if kind is Kind.JOB:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": _job_spec(service, template, notes)}
    pod["restartPolicy"] = "Always"
    _note_restart(service, notes)
    spec: dict = {"replicas": service.replicas,
                  "selector": {"matchLabels": ctx.selector(service.name)},
                  "template": template}
    if kind is Kind.STATEFUL_SET:
        spec["serviceName"] = name
        # Compose starts and stops replicas together, not one after another
        spec["podManagementPolicy"] = "Parallel"
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
    if any("persistentVolumeClaim" in v for v in pod.get("volumes", [])):
        # a ReadWriteOnce claim may not be attachable to a second node during a rolling update
        spec["strategy"] = {"type": "Recreate"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _compose_annotations(service: Service) -> dict:
    return dict(json.loads(service.canonical).get("annotations") or {})


def _job_spec(service: Service, template: dict, notes: list[Unmapped]) -> dict:
    pod = template["spec"]
    restart = service.restart
    if service.deploy is not None and service.deploy.restart_policy is not None:
        restart = service.deploy.restart_policy
    retries = 0
    if restart.policy is RestartPolicy.ON_FAILURE:
        retries = restart.max_retries or 6
    elif restart.policy in (RestartPolicy.ALWAYS, RestartPolicy.UNLESS_STOPPED):
        notes.append(Unmapped(service.name, "restart", f"{restart.policy.value}: a Job's pod "
                              "is not started again once it has succeeded"))
        retries = 6
    pod["restartPolicy"] = "Never"
    spec: dict = {"completions": service.replicas, "parallelism": service.replicas,
                  "backoffLimit": retries, "template": template}
    waits = [c["name"] for c in pod.get("initContainers", []) if c["name"].startswith("wait-for-")]
    if waits:
        # a wait that gives up (the dependency not there yet) is retried in a new pod without
        # using up the retries, which belong to the service's own command
        spec["podFailurePolicy"] = {"rules": [
            {"action": "Ignore", "onExitCodes": {"containerName": w, "operator": "NotIn",
                                                 "values": [0]}} for w in waits]}
    return spec


def _note_restart(service: Service, notes: list[Unmapped]) -> None:
    doc = json.loads(service.canonical)
    policy = doc.get("restart")
    if policy and policy not in ("always", "unless-stopped"):
        notes.append(Unmapped(service.name, "restart", f"{policy}: the pods of a Deployment or "
                              "StatefulSet are always restarted"))
