"""Named volumes as PersistentVolumeClaims; a service's volumes, tmpfs and shm as pod volumes
and container mounts.

A named volume is one claim however many services use it, as in Compose (a StatefulSet's
volumeClaimTemplates would give each replica its own). Bind mounts are refused unless the
user asks for hostPath volumes, which only work where the node has the same files.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from compose.kube.context import (VOLUME_SIZE_LABEL, BindMounts, Context, ConversionError,
                                  annotations, check_quantity)
from compose.kube.names import dns_label
from compose.kube.unmapped import PROJECT, Unmapped
from compose.model import MountType

if TYPE_CHECKING:
    from compose.model import Project, Service, ServiceVolume


def _users(project: Project) -> dict[str, list[str]]:
    """Volume key -> the services mounting it."""
    out: dict[str, list[str]] = {}
    for name, svc in project.services.items():
        for v in svc.volumes:
            if v.type is MountType.VOLUME and v.source and name not in out.get(v.source, []):
                out.setdefault(v.source, []).append(name)
    return out


def claim_name(ctx: Context, key: str) -> str:
    volume = ctx.project.volumes[key]
    return dns_label(volume.name) if volume.external else ctx.volumes[key]


def claims(ctx: Context, notes: list[Unmapped]) -> list[dict]:
    """One PersistentVolumeClaim per named volume a service mounts (an external volume is a
    claim expected to exist already, under the volume's name)."""
    out = []
    for key, users in _users(ctx.project).items():
        volume = ctx.project.volumes.get(key)
        if volume is None:
            raise ConversionError(f"service {users[0]!r} mounts volume {key!r}, which is not "
                                  "declared under top-level volumes")
        if volume.external:
            continue
        size = volume.labels.get(VOLUME_SIZE_LABEL) or ctx.options.volume_size
        check_quantity(size, f"volumes.{key}: size")
        if volume.driver and volume.driver != "local" or volume.driver_opts:
            notes.append(Unmapped(PROJECT, f"volumes.{key}.driver", "drivers and their options "
                                  "are the StorageClass's business; the default class is used"))
        if len(users) > 1:
            notes.append(Unmapped(PROJECT, f"volumes.{key}", f"shared by {', '.join(users)}: "
                                  "a ReadWriteOnce claim needs their pods on one node"))
        labels = annotations({k: v for k, v in volume.labels.items() if k != VOLUME_SIZE_LABEL},
                             PROJECT, f"volumes.{key}.labels", notes)
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": ctx.metadata(ctx.volumes[key], annotations=labels or None),
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": size}}}})
    return out


def pod_volumes(ctx: Context, service: Service, notes: list[Unmapped]) -> tuple[list[dict], list[dict]]:
    """(pod volumes, container volumeMounts) for the service's volumes, tmpfs and shm_size."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    for i, v in enumerate(service.volumes):
        where = f"volumes[{i}]"
        if not v.target.startswith("/"):
            # e.g. `d:/data`, which Compose reads as a Windows path
            notes.append(Unmapped(service.name, where, f"target {v.target!r} is not an absolute "
                                  "path, which a volumeMount needs"))
            continue
        mount: dict = {"mountPath": v.target}
        if v.read_only:
            mount["readOnly"] = True
        if v.type is MountType.VOLUME and v.source:
            name = f"vol-{ctx.volumes[v.source]}"[:63].rstrip("-")
            if not any(x["name"] == name for x in volumes):
                volumes.append({"name": name, "persistentVolumeClaim":
                                {"claimName": claim_name(ctx, v.source)}})
            if v.subpath:
                mount["subPath"] = v.subpath
            # (nocopy needs nothing: a claim starts empty, never seeded from the image)
        elif v.type is MountType.VOLUME:
            # anonymous: lives with the container in Compose, with the pod here
            name = f"anon-{i}"
            volumes.append({"name": name, "emptyDir": {}})
        elif v.type is MountType.BIND:
            name = f"host-{i}"
            volumes.append({"name": name, "hostPath": {"path": _bind(ctx, service, v, where)}})
            notes.append(Unmapped(service.name, where, f"bind mount of {v.source} as hostPath: "
                                  "the node running the pod must have it"))
        elif v.type is MountType.TMPFS:
            name = f"tmpfs-{i}"
            volumes.append({"name": name, "emptyDir": _memory(v.tmpfs_size)})
            if v.tmpfs_mode is not None:
                notes.append(Unmapped(service.name, f"{where}.tmpfs.mode", "an emptyDir's mode "
                                      "is not settable"))
        else:
            notes.append(Unmapped(service.name, where, f"{v.type.value} mounts have no pod "
                                  "volume counterpart"))
            continue
        if v.propagation:
            mount.update(_propagation(service, v.propagation, where, notes))
        mount["name"] = name
        mounts.append(mount)
    for i, spec in enumerate(service.tmpfs):
        path, _, opts = spec.partition(":")
        size = _tmpfs_size(opts)
        if size is None and "size=" in opts:
            notes.append(Unmapped(service.name, f"tmpfs[{i}]", f"size in {opts!r} is not a size: "
                                  "no sizeLimit"))
        name = f"tmpfs-t{i}"
        volumes.append({"name": name, "emptyDir": _memory(size)})
        mounts.append({"name": name, "mountPath": path})
        if any(o and not o.startswith("size=") for o in opts.split(",")):
            notes.append(Unmapped(service.name, f"tmpfs[{i}]", f"options {opts!r}: only the "
                                  "size carries over (an emptyDir's sizeLimit)"))
    if service.shm_size:
        volumes.append({"name": "dshm", "emptyDir": _memory(service.shm_size)})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if service.volumes_from:
        notes.append(Unmapped(service.name, "volumes_from", "pods do not share volumes with "
                              "other pods' containers; mount the same claims instead"))
    return volumes, mounts


_PROPAGATION = {"private": "None", "rprivate": "None", "slave": "HostToContainer",
                "rslave": "HostToContainer", "shared": "Bidirectional", "rshared": "Bidirectional"}


def _propagation(service: Service, mode: str, where: str, notes: list[Unmapped]) -> dict:
    value = _PROPAGATION.get(mode)
    key = f"{where}.bind.propagation"
    if value is None:
        notes.append(Unmapped(service.name, key, f"{mode!r}: no mountPropagation counterpart"))
        return {}
    if value == "Bidirectional" and not service.privileged:
        notes.append(Unmapped(service.name, key, f"{mode}: Kubernetes allows Bidirectional "
                              "propagation in privileged containers only"))
        return {}
    return {"mountPropagation": value}


def _bind(ctx: Context, service: Service, v: ServiceVolume, where: str) -> str:
    if ctx.options.bind_mounts is BindMounts.REFUSE:
        raise ConversionError(f"service {service.name!r} {where}: bind mount of {v.source} has no "
                              "place in a cluster; use a named volume, or --bind-mounts hostpath")
    return str(v.source)


def _memory(size: int | None) -> dict:
    out: dict = {"medium": "Memory"}
    if size:
        from compose.kube.containers import memory_quantity

        out["sizeLimit"] = memory_quantity(size)
    return out


def _tmpfs_size(opts: str) -> int | None:
    from compose.values import parse_bytes

    for opt in opts.split(","):
        if opt.startswith("size="):
            try:
                return parse_bytes(opt[5:])
            except ValueError:
                return None
    return None
