"""What every part of a conversion shares: the options, the names chosen for compose names, the
workload kind of each service, and the metadata every object carries.

Decided once, before any manifest is built, so each builder is a plain function of the
service it maps and this context.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from compose.errors import ComposeError
from compose.kube.names import NameTable, Rename, dns_label
from compose.kube.unmapped import PROJECT, Unmapped

if TYPE_CHECKING:
    from compose.model import Project

# The label every object carries (`kubectl get all -l io.pycompose.project=NAME`), and the one
# selecting a service's pods; the pod annotation recording the compose depends_on (read back
# by `kube play`), the Service annotation recording the compose published ports, and the
# volume label overriding the PVC size.
PROJECT_LABEL = "io.pycompose.project"
SERVICE_LABEL = "io.pycompose.service"
DEPENDS_ON_ANNOTATION = "io.pycompose.depends-on"
PUBLISHED_ANNOTATION = "io.pycompose.published"
ROLE_ANNOTATION = "io.pycompose.role"
VOLUME_SIZE_LABEL = "io.pycompose.kube.volume-size"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pycompose"}

# kubectl in an init container is how a pod waits for another's readiness or a Job's end
# (only the API server knows either); any image with `kubectl` on its PATH will do.
DEFAULT_WAIT_IMAGE = "registry.k8s.io/kubectl:v1.33.0"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ConversionError(ComposeError):
    """The project cannot be converted as asked (a refused bind mount, a bad size...)."""


class ServiceType(enum.Enum):
    """What published ports become: nothing outside the cluster, or a Service of this type."""
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class BindMounts(enum.Enum):
    REFUSE = "refuse"
    HOSTPATH = "hostpath"


class Kind(enum.Enum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    JOB = "Job"


def _read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@dataclass(frozen=True)
class ConvertOptions:
    service_type: ServiceType = ServiceType.NODE_PORT
    volume_size: str = "1Gi"
    bind_mounts: BindMounts = BindMounts.REFUSE
    # service -> image reference to use instead of its `image:` (what --push produced)
    images: Mapping[str, str] = field(default_factory=dict)
    namespace: str = "default"
    wait_image: str = DEFAULT_WAIT_IMAGE
    # how secret and config files are read (tests pass a dict's lookup)
    read_file: Callable[[str], bytes] = _read_bytes


@dataclass(frozen=True)
class Context:
    project: Project                      # compose.model.Project
    options: ConvertOptions
    services: NameTable
    volumes: NameTable
    secrets: NameTable
    configs: NameTable
    kinds: Mapping[str, Kind]
    aliases: Mapping[str, str]        # Kubernetes alias Service name -> compose service

    def metadata(self, name: str, service: str | None = None,
                 labels: Mapping[str, str] | None = None,
                 annotations: Mapping[str, str] | None = None) -> dict:
        out: dict = {"name": name, "namespace": self.options.namespace,
                     "labels": {**(labels or {}), **MANAGED_BY, **self.selector(service)}}
        if annotations:
            out["annotations"] = dict(annotations)
        return out

    def selector(self, service: str | None = None) -> dict[str, str]:
        out = {PROJECT_LABEL: label_value(self.project.name)}
        if service is not None:
            out[SERVICE_LABEL] = self.services[service]
        return out


def label_value(text: str) -> str:
    """A valid label value for `text` (at most 63, alphanumeric at both ends)."""
    if _LABEL_VALUE.match(text) and len(text) <= 63:
        return text
    cut = re.sub(r"[^-A-Za-z0-9_.]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cut)


def is_label_key(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def valid_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The compose labels that are also valid Kubernetes labels (all go to annotations)."""
    return {k: str(v) for k, v in labels.items()
            if is_label_key(k) and len(str(v)) <= 63 and _LABEL_VALUE.match(str(v))}


def annotations(values: Mapping[str, Any], service: str, key: str,
                notes: list[Unmapped]) -> dict[str, str]:
    """`values` as annotations; a key the API server would refuse (annotation keys follow the
    label key syntax) is left out and listed under `key`."""
    out = {}
    for name, value in values.items():
        if is_label_key(name):
            out[name] = str(value)
        else:
            notes.append(Unmapped(service, f"{key}.{name}", "not a valid Kubernetes annotation "
                                  "key ([prefix/]name, at most 63 characters of [-._a-zA-Z0-9])"))
    return out


def check_quantity(text: str, what: str) -> str:
    if not _QUANTITY.match(text):
        raise ConversionError(f"{what}: {text!r} is not a Kubernetes quantity (e.g. 1Gi, 500Mi)")
    return text


def seconds(ns: int) -> tuple[int, bool]:
    """Whole seconds (at least 1) for a duration, and whether it had to be rounded up."""
    whole, rest = divmod(ns, 1_000_000_000)
    if rest:
        whole += 1
    return max(1, whole), bool(rest) or whole == 0


def build_context(project: Project, options: ConvertOptions) -> tuple[Context, list[Unmapped]]:
    """Names and kinds for every service, volume, secret and config, and the entries their
    renames and alias clashes add to the unmapped list."""
    from compose.kube.workloads import workload_kind

    notes: list[Unmapped] = []
    services = NameTable("service", list(project.services))
    tables = [services, NameTable("volume", list(project.volumes)),
              NameTable("secret", list(project.secrets)),
              NameTable("config", list(project.configs))]
    for table in tables:
        for rename in table.renames():
            notes.append(_rename_note(rename))
    kinds = {name: workload_kind(svc, project) for name, svc in project.services.items()}
    aliases = _aliases(project, services, notes)
    return Context(project, options, *tables, kinds=kinds, aliases=aliases), notes


def _rename_note(rename: Rename) -> Unmapped:
    if rename.kind == "service":
        return Unmapped(rename.original, "name", f"named {rename.name!r} (Kubernetes names are "
                        f"lowercase DNS labels): whatever reaches {rename.original!r} by name "
                        "must use the new one")
    return Unmapped(PROJECT, f"{rename.kind}s.{rename.original}", f"named {rename.name!r}: "
                    "Kubernetes names are lowercase DNS labels")


def _aliases(project: Project, services: NameTable, notes: list[Unmapped]) -> dict[str, str]:
    """Network aliases and link aliases, each one more Service selecting the aliased service's
    pods. An alias that clashes with a service or an earlier alias gets no Service."""
    wanted: list[tuple[str, str, str]] = []   # (alias, target service, where for notes)
    for name, svc in project.services.items():
        for net in svc.networks:
            wanted += [(a, name, f"networks.{net.network}.aliases") for a in net.aliases]
    for name, svc in project.services.items():
        for link in svc.links:
            target, _, alias = link.partition(":")
            if alias and target in project.services:
                wanted.append((alias, target, "links"))
    taken = {services[n] for n in project.services}
    out: dict[str, str] = {}
    for alias, target, key in wanted:
        kname = dns_label(alias)
        if kname == services[target] or out.get(kname) == target:
            continue
        if kname in taken:
            notes.append(Unmapped(target, key, f"alias {alias!r} is also another service's or "
                                               "alias's name: one Service name, one target"))
            continue
        if kname != alias:
            notes.append(Unmapped(target, key, f"alias {alias!r} is the Service {kname!r}: "
                                               "Kubernetes names are lowercase DNS labels"))
        taken.add(kname)
        out[kname] = target
    return out
