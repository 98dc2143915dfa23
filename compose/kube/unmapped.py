"""The one list of what a conversion could not carry over faithfully: (service, key, why).

Every key of a service's canonical form is either mapped by the converter (HANDLED, which may
still add a more precise entry of its own) or listed here with a reason, so nothing in a
compose file is dropped without a word. Project-level entries use "-" as the service.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

PROJECT = "-"


@dataclass(frozen=True)
class Unmapped:
    service: str     # the compose service, or "-" for a top-level volume, secret, network...
    key: str         # the compose key path, e.g. `user`, `volumes[2]`, `depends_on.db`
    why: str         # one line: what Kubernetes does instead, or why nothing


# Keys of a canonical service the converter reads (module that maps each in brackets).
HANDLED = frozenset({
    # workloads / pods
    "image", "build", "command", "entrypoint", "environment", "env_file", "working_dir", "user",
    "group_add", "cap_add", "cap_drop", "privileged", "read_only", "init", "tty", "stdin_open",
    "healthcheck", "deploy", "scale", "restart", "labels", "annotations", "hostname",
    "extra_hosts", "dns", "dns_opt", "dns_search", "sysctls", "platform", "pull_policy",
    "mem_limit", "cpus", "pids_limit", "stop_grace_period", "stop_signal", "shm_size",
    "security_opt", "ipc", "pid", "network_mode", "container_name", "cpu_shares",
    "memswap_limit", "ulimits", "mac_address", "domainname", "post_start", "pre_stop",
    # Services
    "ports", "expose", "networks", "links",
    # volumes, files
    "volumes", "tmpfs", "secrets", "configs", "volumes_from",
    # ordering
    "depends_on",
    # nothing to carry: which services a command acts on, and whose logs it shows
    "profiles", "attach",
})

# Keys with no Kubernetes counterpart, and why; any other unknown key gets a generic reason.
REASONS: dict[str, str] = {
    "develop": "watch rules are for local development; Kubernetes has no file sync",
    "logging": "the cluster decides where container logs go",
    "devices": "host devices need a device plugin in Kubernetes",
    "device_cgroup_rules": "no device cgroup rules in a pod spec",
    "cgroup_parent": "the kubelet places pods in its own cgroups",
    "cgroup": "pods get their own cgroup namespace",
    "uts": "a pod has its own UTS namespace (hostNetwork shares the node's)",
    "userns_mode": "user namespaces are the pod's hostUsers setting, not per container",
    "runtime": "runtimes are RuntimeClasses chosen by the cluster admin",
    "isolation": "Windows isolation has no Linux pod counterpart",
    "external_links": "containers outside the project cannot be linked from a pod",
    "oom_score_adj": "the kubelet sets OOM scores from the pod's QoS class",
    "oom_kill_disable": "pods cannot disable the OOM killer",
    "mem_reservation": "a memory reservation is a request only when given under deploy",
    "mem_swappiness": "swap behaviour is a node setting",
    "cpu_period": "CFS settings are derived from the CPU limit",
    "cpu_quota": "CFS settings are derived from the CPU limit",
    "cpu_rt_period": "no real-time CPU scheduling in a pod spec",
    "cpu_rt_runtime": "no real-time CPU scheduling in a pod spec",
    "cpu_count": "Windows-only setting",
    "cpu_percent": "Windows-only setting",
    "cpuset": "CPU pinning is the kubelet's CPU manager policy",
    "blkio_config": "no block I/O weights in a pod spec",
    "storage_opt": "ephemeral storage is a resource request/limit",
    "credential_spec": "Windows-only setting",
    "gpus": "GPUs need a device plugin and an extended resource request",
    "models": "no model runner in Kubernetes",
    "provider": "providers are Compose plugins",
    "use_api_socket": "there is no engine socket in a pod",
    "label_file": "labels from files are read by Compose only",
}


def leftovers(service: str, canonical: str) -> list[Unmapped]:
    """An entry for every key of the service's canonical JSON that the converter does not read
    (extensions `x-*` are the file author's, and carry no meaning for either side)."""
    doc = json.loads(canonical)
    out = []
    for key in doc:
        if key in HANDLED or key.startswith("x-"):
            continue
        out.append(Unmapped(service, key, REASONS.get(key, "no Kubernetes equivalent")))
    return out


def render_table(entries: Iterable[Unmapped]) -> str:
    """SERVICE, KEY and WHY columns, as on stderr after a conversion ('' when none)."""
    rows = [("SERVICE", "KEY", "WHY")] + [(e.service, e.key, e.why) for e in entries]
    if len(rows) == 1:
        return ""
    w0 = max(len(r[0]) for r in rows) + 3
    w1 = max(len(r[1]) for r in rows) + 3
    return "".join(f"{r[0]:<{w0}}{r[1]:<{w1}}{r[2]}\n" for r in rows)
