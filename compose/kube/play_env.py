"""A container's environment as Kubernetes computes it, resolved before anything runs.

ConfigMap and Secret values are looked up in the manifests being played (no cluster to ask),
`envFrom` comes first and `env` overrides it, and `$(NAME)` in a value, a command or an argument
expands to a variable defined before it (`$$` is a literal `$`), as the kubelet does.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from compose.kube.play_fields import ManifestError
from compose.kube.play_manifests import ManifestSet, Meta
from compose.kube.play_pods import Container

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """`$(NAME)` → its value when NAME is defined (else left as written); `$$` → `$`."""
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REFERENCE.sub(one, text)


def resolve_env(container: Container, manifests: ManifestSet, meta: Meta, pod_name: str,
                pod_labels: dict[str, str], warn: Callable[[str], None]) -> dict[str, str]:
    """NAME → value for `container` of the workload `meta`, running as the pod `pod_name`
    (whose labels `fieldRef: metadata.labels['x']` reads)."""
    where = f"{meta.source}: {meta.ref}: container {container.name!r}"
    env: dict[str, str] = {}
    for source in container.env_from:
        obj = manifests.data_object(source.kind, source.name)
        if obj is None:
            if source.optional:
                continue
            raise ManifestError(f"{where}: envFrom refers to {source.kind} {source.name!r}, "
                                "which no manifest defines")
        for key, value in obj.data:
            env[source.prefix + key] = _text(value, where, f"{source.kind} {source.name!r}", key)
    for var in container.env:
        if var.key_ref is not None:
            ref = var.key_ref
            obj = manifests.data_object(ref.kind, ref.name)
            value = obj.get(ref.key) if obj is not None else None
            if value is None:
                if ref.optional:
                    continue
                what = "which no manifest defines" if obj is None else f"which has no key " \
                                                                       f"{ref.key!r}"
                raise ManifestError(f"{where}: env {var.name} refers to {ref.kind} "
                                    f"{ref.name!r}, {what}")
            env[var.name] = _text(value, where, f"{ref.kind} {ref.name!r}", ref.key)
        elif var.field_path is not None:
            value = _field(var.field_path, meta, pod_name, pod_labels)
            if value is None:
                warn(f"{where}: env {var.name}: fieldRef {var.field_path} has no value under "
                     "kube play; the variable is not set")
                continue
            env[var.name] = value
        else:
            env[var.name] = expand(var.value or "", env)
    return env


def _field(path: str, meta: Meta, pod_name: str, labels: dict[str, str]) -> str | None:
    m = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
    if m:
        return labels.get(m.group(1), "")
    return {"metadata.name": pod_name, "metadata.namespace": meta.namespace,
            "spec.nodeName": "localhost"}.get(path)


def _text(value: bytes, where: str, what: str, key: str) -> str:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        raise ManifestError(f"{where}: key {key!r} of {what} is not text; it cannot be an "
                            "environment variable") from None
    if "\0" in text:
        raise ManifestError(f"{where}: key {key!r} of {what} holds a NUL byte; it cannot be an "
                            "environment variable")
    return text
