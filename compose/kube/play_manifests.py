"""Kubernetes manifests read into frozen values: the input of `kube play` and `kube down`.

`read_manifests(paths)` takes files and directories (a directory: its *.yaml, *.yml and *.json
files, sorted, not recursive), reads every YAML document (a `kind: List` is flattened) and
returns a `ManifestSet`. Kinds kube play runs: Pod, Deployment, StatefulSet, Job, Service,
ConfigMap, Secret, PersistentVolumeClaim. Another kind is listed as skipped; a malformed object
is a `ManifestError` naming file, line, `Kind/name` and field.
"""
from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose.kube.play_fields import Document, Fields, ManifestError
from compose.kube.play_pods import PodSpec, read_pod_spec

WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "Job")
KINDS = (*WORKLOAD_KINDS, "Service", "ConfigMap", "Secret", "PersistentVolumeClaim")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")
_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
# `convert` marks the ServiceAccount, Role and RoleBinding its depends_on waits run under
ROLE_ANNOTATION = "io.pycompose.role"
WAITS_ROLE = "depends-on waits"


@dataclass(frozen=True)
class Meta:
    kind: str
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...] = ()
    source: str = ""                    # file name, for messages
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ClaimTemplate:
    """A StatefulSet's `volumeClaimTemplates` entry: one claim per replica."""
    name: str


@dataclass(frozen=True)
class Workload:
    meta: Meta
    pod: PodSpec
    pod_labels: tuple[tuple[str, str], ...] = ()
    pod_annotations: tuple[tuple[str, str], ...] = ()
    replicas: int = 1
    claim_templates: tuple[ClaimTemplate, ...] = ()
    service_name: str | None = None     # StatefulSet.spec.serviceName
    backoff_limit: int = 6              # Job
    parallelism: int = 1                # Job


@dataclass(frozen=True)
class ServicePort:
    port: int
    target: int | str                   # a number or a container port's name
    protocol: str = "tcp"
    node_port: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Service:
    meta: Meta
    type: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[ServicePort, ...] = ()
    headless: bool = False


@dataclass(frozen=True)
class DataObject:
    """A ConfigMap or a Secret: keys to bytes (Secret data already decoded)."""
    meta: Meta
    data: tuple[tuple[str, bytes], ...]

    def get(self, key: str) -> bytes | None:
        return dict(self.data).get(key)


@dataclass(frozen=True)
class Claim:
    meta: Meta


@dataclass(frozen=True)
class ManifestSet:
    workloads: tuple[Workload, ...] = ()
    services: tuple[Service, ...] = ()
    config_maps: tuple[DataObject, ...] = ()
    secrets: tuple[DataObject, ...] = ()
    claims: tuple[Claim, ...] = ()
    warnings: tuple[str, ...] = ()

    def data_object(self, kind: str, name: str) -> DataObject | None:
        pool = self.config_maps if kind == "ConfigMap" else self.secrets
        return next((o for o in pool if o.meta.name == name), None)


def manifest_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, with each directory replaced by its manifest files (`-`: stdin)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if str(p) == STDIN:
            out.append(p)
        elif p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in _SUFFIXES and f.is_file())
            if not found:
                raise ManifestError(f"{p}: no *.yaml, *.yml or *.json manifests in this "
                                    "directory")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ManifestError(f"{p}: no such file or directory")
    return out


def read_manifests(paths: Iterable[str | Path],
                   stdin: Callable[[], str] = lambda: sys.stdin.read()) -> ManifestSet:
    """`-` among `paths` reads the manifests from `stdin` (`convert ... | kube play -`)."""
    from compose.loader.yaml_reader import read_yaml_all

    objects: list[tuple[Document, dict]] = []
    for path in manifest_files(paths):
        name = "<stdin>" if str(path) == STDIN else str(path)
        try:
            text = stdin() if str(path) == STDIN else path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ManifestError(f"{name}: cannot read: {getattr(e, 'strerror', None) or e}")
        for doc in read_yaml_all(text, filename=name):
            where = Document(name, doc.line_of)
            objects += _flatten(doc.data, where)
    return parse_objects(objects)


def parse_objects(objects: list[tuple[Document, dict]]) -> ManifestSet:
    """Typed values of plain objects (each with the Document it came from)."""
    found: dict[str, list] = {k: [] for k in KINDS}
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    workloads: list[Workload] = []
    for doc, data in objects:
        top = Fields(data, doc, doc.base)
        kind = top.text("kind", required=True) or ""
        top.skip("apiVersion")
        meta_fields = top.child("metadata", required=True)
        assert meta_fields is not None
        name = meta_fields.text("name", required=True) or ""
        doc.ref = f"{kind}/{name}"
        if kind not in KINDS:
            role = meta_fields.string_map("annotations").get(ROLE_ANNOTATION)
            if role != WAITS_ROLE:   # the waits' account: kube play replaces the waits
                doc.warn((), f"kind {kind} is not supported by kube play; skipped")
            warnings += doc.warnings
            continue
        if not _NAME.match(name) or len(name) > 63:
            raise doc.error(doc.base + ("metadata", "name"),
                            f"{name!r} is not a valid name (lower-case letters, digits and '-')")
        if (kind, name) in seen:
            raise doc.error((), "defined twice")
        seen.add((kind, name))
        meta = Meta(kind, name, meta_fields.text("namespace", default="default") or "default",
                    tuple(sorted(meta_fields.string_map("labels").items())), doc.filename,
                    tuple(sorted(meta_fields.string_map("annotations").items())))
        meta_fields.done()
        parsed = _PARSERS[kind](top, meta)
        found[kind].append(parsed)
        if kind in WORKLOAD_KINDS:
            workloads.append(parsed)   # in file order: the first names the project
        top.done()
        warnings += doc.warnings
    namespaces = sorted({o.meta.namespace for group in found.values() for o in group})
    if len(namespaces) > 1:
        raise ManifestError(f"kube play runs one namespace at a time; these manifests use "
                            f"{', '.join(namespaces)}")
    return ManifestSet(
        workloads=tuple(workloads),
        services=tuple(found["Service"]), config_maps=tuple(found["ConfigMap"]),
        secrets=tuple(found["Secret"]), claims=tuple(found["PersistentVolumeClaim"]),
        warnings=tuple(warnings))


def _flatten(data: Any, doc: Document) -> list[tuple[Document, dict]]:
    if isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"),
                                                                          list):
        out = []
        for i, item in enumerate(data["items"]):
            out.append((Document(doc.filename, doc.line_of, base=("items", i)), item))
        return out
    return [(doc, data)]


# --- one parser per kind -------------------------------------------------------------------

Pairs = tuple[tuple[str, str], ...]


def _template(spec: Fields, claims: tuple[str, ...] = ()) -> tuple[PodSpec, Pairs, Pairs]:
    """The pod spec, labels and annotations of `spec.template`."""
    template = spec.child("template", required=True)
    assert template is not None
    meta = template.child("metadata")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if meta is not None:
        labels = meta.string_map("labels")
        annotations = meta.string_map("annotations")
        meta.skip("name", "namespace")
        meta.done()
    pod_spec = template.child("spec", required=True)
    assert pod_spec is not None
    pod = read_pod_spec(pod_spec, claims)
    template.done()
    return pod, tuple(sorted(labels.items())), tuple(sorted(annotations.items()))


def _selector_matches(spec: Fields, labels: tuple[tuple[str, str], ...]) -> None:
    """A Deployment's selector must match its own template (the API server refuses it else)."""
    selector = spec.child("selector")
    if selector is None:
        return
    wanted = selector.string_map("matchLabels")
    selector.skip("matchExpressions")
    selector.done()
    if not set(wanted.items()) <= set(labels):
        raise spec.doc.error(selector.path, "matchLabels does not match the pod template's "
                                            "labels")


def _pod(top: Fields, meta: Meta) -> Workload:
    spec = top.child("spec", required=True)
    assert spec is not None
    return Workload(meta, read_pod_spec(spec), pod_labels=meta.labels,
                    pod_annotations=meta.annotations)


def _deployment(top: Fields, meta: Meta) -> Workload:
    spec = top.child("spec", required=True)
    assert spec is not None
    templates = []
    for t in spec.children("volumeClaimTemplates") if meta.kind == "StatefulSet" else []:
        t_meta = t.child("metadata", required=True)
        assert t_meta is not None
        templates.append(ClaimTemplate(t_meta.text("name", required=True) or ""))
        t_meta.skip("labels", "namespace")
        t_meta.done()
        t.skip("spec")   # size and class: one machine has one disk
        t.done()
    pod, labels, annotations = _template(spec, tuple(t.name for t in templates))
    _selector_matches(spec, labels)
    if pod.restart_policy != "Always":
        raise spec.doc.error(spec.path + ("template", "spec", "restartPolicy"),
                             f"a {meta.kind} runs its pods with restartPolicy Always")
    replicas = spec.integer("replicas", 1, minimum=0) or 0
    out = Workload(meta, pod, labels, annotations, replicas=replicas,
                   claim_templates=tuple(templates),
                   service_name=spec.text("serviceName") if meta.kind == "StatefulSet" else None)
    spec.done()
    return out


def _job(top: Fields, meta: Meta) -> Workload:
    spec = top.child("spec", required=True)
    assert spec is not None
    pod, labels, annotations = _template(spec)
    if pod.restart_policy == "Always":
        raise spec.doc.error(spec.path + ("template", "spec", "restartPolicy"),
                             "a Job's pods need restartPolicy Never or OnFailure")
    spec.skip("selector", "manualSelector")
    completions = spec.integer("completions", 1, minimum=0)
    if completions not in (None, 1):
        spec.doc.warn(spec.path + ("completions",), "kube play runs each of the parallel pods "
                                                    "once; completions is not counted")
    backoff = spec.integer("backoffLimit", 6, minimum=0) or 0
    out = Workload(meta, pod, labels, annotations, backoff_limit=backoff,
                   parallelism=spec.integer("parallelism", 1, minimum=0) or 0)
    spec.done()
    return out


def _service(top: Fields, meta: Meta) -> Service:
    spec = top.child("spec", required=True)
    assert spec is not None
    kind = spec.text("type", default="ClusterIP") or "ClusterIP"
    if kind not in SERVICE_TYPES:
        raise spec.doc.error(spec.path + ("type",), f"type {kind} is not supported by kube play "
                                                    f"({', '.join(SERVICE_TYPES)})")
    ports = []
    for p in spec.children("ports"):
        port = p.integer("port", minimum=1)
        if port is None:
            raise p.doc.error(p.path + ("port",), "required")
        protocol = (p.text("protocol", default="TCP") or "TCP").lower()
        if protocol not in ("tcp", "udp"):
            raise p.doc.error(p.path + ("protocol",), f"{protocol.upper()} is not supported")
        node_port = p.integer("nodePort", minimum=1)
        target = p.int_or_str("targetPort")
        ports.append(ServicePort(port, port if target is None else target, protocol,
                                 node_port if kind != "ClusterIP" else None, p.text("name")))
        p.skip("appProtocol")
        p.done()
    cluster_ip = spec.text("clusterIP")
    spec.skip("clusterIPs")
    out = Service(meta, kind, tuple(sorted(spec.string_map("selector").items())), tuple(ports),
                  headless=cluster_ip == "None")
    spec.done()
    return out


def _config_map(top: Fields, meta: Meta) -> DataObject:
    data = {k: v.encode() for k, v in top.string_map("data").items()}
    for key, value in top.string_map("binaryData").items():
        data[key] = _b64(top, ("binaryData", key), value)
    return DataObject(meta, tuple(sorted(data.items())))


def _secret(top: Fields, meta: Meta) -> DataObject:
    data = {k: _b64(top, ("data", k), v) for k, v in top.string_map("data").items()}
    data.update({k: v.encode() for k, v in top.string_map("stringData").items()})
    top.skip("type")
    return DataObject(meta, tuple(sorted(data.items())))


def _claim(top: Fields, meta: Meta) -> Claim:
    top.skip("spec")   # size, class and access modes: one machine has one disk
    return Claim(meta)


def _b64(top: Fields, key: tuple, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise top.doc.error(top.path + key, "is not valid base64") from None


_PARSERS = {"Pod": _pod, "Deployment": _deployment, "StatefulSet": _deployment, "Job": _job,
            "Service": _service, "ConfigMap": _config_map, "Secret": _secret,
            "PersistentVolumeClaim": _claim}
