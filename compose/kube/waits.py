"""depends_on as init containers that wait, and the permission they need to ask.

Only the API server knows whether a pod is Ready (its readiness probe, i.e. the compose
healthcheck) or a Job has completed, so each wait is `kubectl wait` in an init container,
run under a ServiceAccount allowed to read pods and jobs:

    service_started                  the dependency's pods are Running
    service_healthy                  the dependency's pods are Ready
    service_completed_successfully   the dependency's Job is Complete

`kubectl wait` fails at once while no pod matches yet; the kubelet then runs the init
container again (a Job's pods are replaced without spending the Job's retries, see
workloads.py), which is the retry loop Compose runs itself.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from compose.kube.context import ROLE_ANNOTATION, Context, Kind
from compose.kube.names import dns_label
from compose.kube.unmapped import Unmapped
from compose.model import Condition

if TYPE_CHECKING:
    from compose.model import Service

TIMEOUT = "--timeout=600s"


def account_name(ctx: Context) -> str:
    return dns_label(f"{ctx.project.name}-depends-on")


def wait_containers(ctx: Context, service: Service, notes: list[Unmapped]) -> list[dict]:
    out = []
    for dep in service.depends_on:
        if dep.service not in ctx.project.services:
            continue   # not enabled (profiles) and not required: Compose starts without it
        target = ctx.services[dep.service]
        kind = ctx.kinds[dep.service]
        if dep.restart:
            notes.append(Unmapped(service.name, f"depends_on.{dep.service}.restart", "Kubernetes "
                                  "does not restart dependents when a dependency restarts"))
        if dep.condition is Condition.COMPLETED:
            check = ["--for=condition=Complete", f"job/{target}"]
        elif kind is Kind.JOB and dep.condition is Condition.STARTED:
            continue   # a Job may be done before anyone sees it running; it was started
        elif dep.condition is Condition.HEALTHY:
            check = ["--for=condition=Ready", "pod", _selector(ctx, dep.service)]
        else:
            check = ["--for=jsonpath={.status.phase}=Running", "pod", _selector(ctx, dep.service)]
        out.append({"name": dns_label(f"wait-for-{target}", 63), "image": ctx.options.wait_image,
                    "command": ["kubectl", "wait", *check, TIMEOUT]})
    return out


def _selector(ctx: Context, service: str) -> str:
    return "--selector=" + ",".join(f"{k}={v}" for k, v in ctx.selector(service).items())


def account_objects(ctx: Context) -> list[dict]:
    """The ServiceAccount the waiting pods run as, a Role to read pods and jobs, its binding."""
    name = account_name(ctx)
    purpose = {ROLE_ANNOTATION: "depends-on waits"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": ctx.metadata(name, annotations=purpose)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": ctx.metadata(name, annotations=purpose),
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": ["batch"], "resources": ["jobs"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": ctx.metadata(name, annotations=purpose),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name,
                       "namespace": ctx.options.namespace}]},
    ]
