"""Top-level configs as ConfigMaps and secrets as Secrets, and a service's uses of them as
single files mounted where Compose puts them (`/run/secrets/<name>`, `/<name>`, or the target).

The file's contents are read at conversion time (file, environment variable or inline
content). An external one is expected to exist in the cluster under its name.
"""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from compose.kube.context import Context, annotations
from compose.kube.names import dns_label
from compose.kube.unmapped import PROJECT, Unmapped

if TYPE_CHECKING:
    from compose.model import Project, Service, FileObject


def _used(project: Project, kind: str) -> list[str]:
    keys: list[str] = []
    for svc in project.services.values():
        for ref in getattr(svc, kind):
            if ref.source not in keys:
                keys.append(ref.source)
    return keys


def _contents(ctx: Context, obj: FileObject, kind: str, notes: list[Unmapped]) -> bytes | None:
    where = f"{kind}.{obj.key}"
    if obj.content is not None:
        return obj.content.encode()
    if obj.environment is not None:
        value = ctx.project.environment.get(obj.environment)
        if value is None:
            notes.append(Unmapped(PROJECT, where, f"${obj.environment} is not set: the object "
                                  "is written empty; fill it in before applying"))
            return None
        return value.encode()
    if obj.file is not None:
        try:
            return ctx.options.read_file(obj.file)
        except OSError as e:
            notes.append(Unmapped(PROJECT, where, f"cannot read {obj.file} ({e.strerror or e}): "
                                  "the object is written empty; fill it in before applying"))
            return None
    return None


def _object_name(ctx: Context, obj: FileObject, kind: str) -> str:
    if obj.external:
        return dns_label(obj.name)
    return (ctx.secrets if kind == "secrets" else ctx.configs)[obj.key]


def data_key(key: str) -> str:
    """A Secret/ConfigMap data key for a compose name (`[-._a-zA-Z0-9]+`)."""
    import re

    return re.sub(r"[^-._a-zA-Z0-9]", "_", key) or "_"


def file_objects(ctx: Context, notes: list[Unmapped]) -> list[dict]:
    out = []
    for kind, table in (("configs", ctx.project.configs), ("secrets", ctx.project.secrets)):
        for key in _used(ctx.project, kind):
            obj = table[key]
            if obj.external:
                continue
            raw = _contents(ctx, obj, kind, notes)
            meta = ctx.metadata(_object_name(ctx, obj, kind), annotations=annotations(
                obj.labels, PROJECT, f"{kind}.{key}.labels", notes) or None)
            doc: dict = {"apiVersion": "v1", "kind": "Secret" if kind == "secrets" else "ConfigMap",
                         "metadata": meta}
            if raw is not None:
                dkey = data_key(key)
                if kind == "secrets":
                    doc["type"] = "Opaque"
                    doc["data"] = {dkey: base64.b64encode(raw).decode()}
                else:
                    try:
                        doc["data"] = {dkey: raw.decode("utf-8")}
                    except UnicodeDecodeError:
                        doc["binaryData"] = {dkey: base64.b64encode(raw).decode()}
            elif kind == "secrets":
                doc["type"] = "Opaque"
            out.append(doc)
    return out


def file_mounts(ctx: Context, service: Service, notes: list[Unmapped]) -> tuple[list[dict], list[dict]]:
    """(pod volumes, container volumeMounts): each reference a one-file volume at its target."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    for kind, table in (("secrets", ctx.project.secrets), ("configs", ctx.project.configs)):
        for i, ref in enumerate(getattr(service, kind)):
            obj = table[ref.source]
            key = data_key(ref.source)
            item: dict = {"key": key, "path": key}
            if ref.mode is not None:
                item["mode"] = ref.mode
            name = f"{kind[:-1]}-{i}"
            source = {"items": [item]}
            if kind == "secrets":
                volumes.append({"name": name, "secret": {"secretName": _object_name(ctx, obj, kind),
                                                          **source}})
            else:
                volumes.append({"name": name, "configMap": {"name": _object_name(ctx, obj, kind),
                                                             **source}})
            mounts.append({"name": name, "mountPath": ref.target, "subPath": key,
                           "readOnly": True})
            if ref.uid is not None or ref.gid is not None:
                notes.append(Unmapped(service.name, f"{kind}[{i}]", "uid/gid: files from a "
                                      f"{'Secret' if kind == 'secrets' else 'ConfigMap'} belong "
                                      "to root (or the pod's fsGroup)"))
            if obj.external:
                notes.append(Unmapped(service.name, f"{kind}[{i}]", f"external: expected in the "
                                      f"cluster as {_object_name(ctx, obj, kind)!r} with the key "
                                      f"{key!r}"))
    return volumes, mounts
