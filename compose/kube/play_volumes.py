"""A pod's volumes as compose mounts, named volumes and files kube play writes.

    persistentVolumeClaim   the named volume of the claim (kept by `kube down`, removed by
                            `kube down --volumes`)
    volumeClaimTemplates    one named volume per StatefulSet pod, `<template>-<pod>` as Kubernetes
                            names its claims
    emptyDir                a named volume of that pod, removed by every `kube down`; tmpfs when
                            `medium: Memory` and one container mounts it
    hostPath                a bind mount (DirectoryOrCreate, or no type: the directory is made)
    configMap / secret      files written under the play's state directory, bound read-only: the
                            mount path is a directory of one file per key, as the kubelet makes it
                            (subPath: just that file)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from compose.kube.play_fields import ManifestError
from compose.kube.play_manifests import ManifestSet, Workload
from compose.kube.play_pods import Container, Volume, VolumeMount

EPHEMERAL_LABEL = "io.pycompose.kube.ephemeral"
CLAIM_LABEL = "io.pycompose.kube.claim"
_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")


@dataclass(frozen=True)
class StateFile:
    """A file kube play writes before `up`: `path` is relative to the play's state directory."""
    path: str
    content: bytes
    mode: int


@dataclass
class PodVolumes:
    """What the volumes of one pod instance need, collected while its containers are mapped."""
    volumes: dict[str, dict] = field(default_factory=dict)     # compose top-level volumes
    files: dict[str, StateFile] = field(default_factory=dict)


def mounts(container: Container, workload: Workload, instance: str, manifests: ManifestSet,
           out: PodVolumes) -> list[dict]:
    """The compose `volumes` of one container of the pod `instance`."""
    by_name = {v.name: v for v in workload.pod.volumes}
    templates = {t.name for t in workload.claim_templates}
    where = f"{workload.meta.source}: {workload.meta.ref}: container {container.name!r}"
    result = []
    for m in container.mounts:
        if m.name in templates and m.name not in by_name:
            result.append(_named(f"{m.name}-{instance}", m, where,
                                 {CLAIM_LABEL: f"{m.name}-{instance}"}, out))
            continue
        result.append(_one(by_name[m.name], m, container, workload, instance, manifests, where,
                           out))
    return result


def _one(v: Volume, m: VolumeMount, container: Container, workload: Workload, instance: str,
         manifests: ManifestSet, where: str, out: PodVolumes) -> dict:
    if v.source == "persistentVolumeClaim":
        # a claim no manifest defines is made all the same, as a default storage class would
        mount = _named(v.ref, m, where, {CLAIM_LABEL: v.ref}, out)
        mount["read_only"] = m.read_only or v.read_only
        return mount
    if v.source == "emptyDir":
        users = [c for c in (*workload.pod.init_containers, *workload.pod.containers)
                 if any(x.name == v.name for x in c.mounts)]
        if v.medium == "Memory" and len(users) == 1 and not m.sub_path:
            return {"type": "tmpfs", "target": m.path}
        return _named(f"{instance}-{v.name}", m, where, {EPHEMERAL_LABEL: "true"}, out)
    if v.source == "hostPath":
        source = v.ref.rstrip("/") + ("/" + m.sub_path if m.sub_path else "")
        create = v.host_path_type in ("", "DirectoryOrCreate") and not m.sub_path
        return {"type": "bind", "source": source, "target": m.path, "read_only": m.read_only,
                "bind": {"create_host_path": create}}
    directory = _write_data_volume(v, workload, manifests, where, out)
    source = f"./{directory}" + (f"/{m.sub_path}" if m.sub_path else "")
    return {"type": "bind", "source": source, "target": m.path, "read_only": True}


def _named(key: str, m: VolumeMount, where: str, labels: dict, out: PodVolumes) -> dict:
    if m.sub_path:
        raise ManifestError(f"{where}: volumeMounts {m.name!r}: subPath on a volume is not "
                            "supported by kube play")
    out.volumes[key] = {"labels": labels}
    return {"type": "volume", "source": key, "target": m.path, "read_only": m.read_only}


def _write_data_volume(v: Volume, workload: Workload, manifests: ManifestSet, where: str,
                       out: PodVolumes) -> str:
    """Write the files of a configMap/secret volume; returns their directory (relative)."""
    kind = "ConfigMap" if v.source == "configMap" else "Secret"
    directory = f"volumes/{workload.meta.kind.lower()}-{workload.meta.name}/{v.name}"
    obj = manifests.data_object(kind, v.ref)
    if obj is None and not v.optional:
        raise ManifestError(f"{where}: volume {v.name!r} refers to {kind} {v.ref!r}, which no "
                            "manifest defines")
    data = dict(obj.data) if obj is not None else {}
    mode = v.default_mode if v.default_mode is not None else 0o644
    wanted = [(item.key, item.path, item.mode) for item in v.items] if v.items else \
        [(key, key, None) for key in sorted(data)]
    for key, path, item_mode in wanted:
        if key not in data:
            if v.optional:
                continue
            raise ManifestError(f"{where}: volume {v.name!r}: {kind} {v.ref!r} has no key "
                                f"{key!r}")
        if not v.items and not _KEY.match(key):
            raise ManifestError(f"{where}: volume {v.name!r}: {kind} {v.ref!r} key {key!r} is "
                                "not a valid file name")
        rel = f"{directory}/{path}"
        out.files[rel] = StateFile(rel, data[key], item_mode if item_mode is not None else mode)
    # the directory exists even when it holds no file (an optional object that is absent)
    out.files.setdefault(f"{directory}/", StateFile(f"{directory}/", b"", 0o755))
    return directory
