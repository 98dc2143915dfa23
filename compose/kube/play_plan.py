"""Kubernetes manifests → a compose project document: what `kube play` runs (pure).

The document goes through the same loader and `up`/`down` as a compose file; this module only
decides its content. The mapping (docs/kube-play.md says why for each):

* a workload's pod becomes one compose service per container: `<pod>` for a one-container pod,
  `<pod>-<container>` otherwise; the containers after the first join the first one's network
  namespace (`network_mode: service:<first>`), as a pod's containers share one;
* replicas: `scale` when the pod is one container, keeps no per-pod volume and publishes no host
  port; else one pod per replica, `<name>-<i>` (a StatefulSet's pods always are);
* init containers: one-shot services `<pod>-init-<name>`, each waiting for the one before it to
  complete, and the pod's containers for the last;
* a Service: network aliases `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local` on
  the first container of every pod it selects; NodePort: the nodePort published on every host
  address; LoadBalancer: the Service port published on 127.0.0.1; both on the first pod only;
* a pod annotated by `convert` with `io.pycompose.depends-on` gets those compose conditions back
  in place of its `wait-for-*` init containers (which need a cluster's API to wait).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compose.kube.play_env import expand, resolve_env
from compose.kube.play_fields import ManifestError
from compose.kube.play_manifests import ManifestSet, Service, ServicePort, Workload
from compose.kube.play_pods import Container
from compose.kube.play_probes import healthcheck
from compose.kube.play_volumes import EPHEMERAL_LABEL, PodVolumes, StateFile, mounts

LABEL = "io.pycompose.kube."
OBJECT_LABEL = LABEL + "object"                     # on every container a play makes
DEPENDS_ON_ANNOTATION = "io.pycompose.depends-on"   # written by `convert` (compose/kube)
PUBLISHED_ANNOTATION = "io.pycompose.published"     # idem: the compose file's `ports`
SERVICE_LABEL = "io.pycompose.service"              # idem: the compose service of a pod
PROJECT_LABEL = "io.pycompose.project"              # idem: the compose project
WAIT_PREFIX = "wait-for-"
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
Warn = Callable[[str], None]


@dataclass(frozen=True)
class PlayPlan:
    project: str
    document: dict
    files: tuple[StateFile, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ephemeral_volumes(self) -> tuple[str, ...]:
        """The document's volumes that stand for emptyDirs: gone with every `kube down`."""
        return tuple(k for k, v in self.document.get("volumes", {}).items()
                     if (v.get("labels") or {}).get(EPHEMERAL_LABEL) == "true")


@dataclass(frozen=True)
class Instance:
    """One pod of a workload as compose runs it (`scale` copies when it is replicated)."""
    workload: Workload
    name: str
    scale: int
    publishes: bool          # the pod host ports are published on
    hostname: str | None


def plan_play(manifests: ManifestSet, project: str | None = None) -> PlayPlan:
    if not manifests.workloads:
        raise ManifestError("nothing to run: no Pod, Deployment, StatefulSet or Job in the "
                            "manifests")
    first = manifests.workloads[0]
    # manifests `convert` wrote carry the compose project's name: a round trip keeps it
    project = project or dict(first.meta.labels).get(PROJECT_LABEL) or first.meta.name
    if not _PROJECT.match(project):
        raise ManifestError(f"{project!r} is not a valid project name (lower-case letters, "
                            "digits, '-' and '_')")
    warnings = list(manifests.warnings)
    selected = {s.meta.name: _selected(s, manifests, warnings.append) for s in manifests.services}
    published = _published(manifests, selected, warnings.append)
    services: dict[str, dict] = {}
    anchors: dict[str, list[str]] = {}      # workload ref -> compose service of each pod's first
    volumes = PodVolumes()
    for w in manifests.workloads:
        anchors[w.meta.ref] = []
        for inst in _instances(w, bool(published.get(w.meta.ref))):
            pod = _pod_services(inst, manifests, published.get(w.meta.ref, []), volumes,
                                warnings.append)
            for name in pod:
                if name in services:
                    raise ManifestError(f"{w.meta.source}: {w.meta.ref}: compose service name "
                                        f"{name!r} is taken by another pod")
            services.update(pod)
            anchors[w.meta.ref].append(next(iter(pod)))
    _add_aliases(manifests, selected, anchors, services)
    _add_depends_on(manifests, anchors, services)
    document: dict = {"name": project, "services": services}
    if volumes.volumes:
        document["volumes"] = volumes.volumes
    # one line per finding, not one per replica
    return PlayPlan(project, escape(document), tuple(volumes.files.values()),
                    tuple(dict.fromkeys(warnings)))


def escape(value: Any) -> Any:
    """Every `$` doubled: the loader interpolates `${VAR}`; manifests mean a literal `$`."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


# --- which pods a workload has ---------------------------------------------------------------

def _instances(w: Workload, publishes: bool) -> list[Instance]:
    pod = w.pod
    kind = w.meta.kind
    if kind == "Pod":
        return [Instance(w, w.meta.name, 1, True, pod.hostname or w.meta.name)]
    replicas = w.parallelism if kind == "Job" else w.replicas
    per_pod = (len(pod.containers) > 1 or publishes or bool(w.claim_templates)
               or any(v.source == "emptyDir" for v in pod.volumes)
               or any(p.host_port for c in pod.containers for p in c.ports))
    if kind == "StatefulSet" or (replicas > 1 and per_pod):
        return [Instance(w, f"{w.meta.name}-{i}", 1, i == 0, pod.hostname or f"{w.meta.name}-{i}")
                for i in range(replicas)]
    return [Instance(w, w.meta.name, replicas, True, pod.hostname)]


# --- one pod: its containers as compose services --------------------------------------------

def _pod_services(inst: Instance, manifests: ManifestSet, published: list,
                  volumes: PodVolumes, warn: Warn) -> dict[str, dict]:
    w = inst.workload
    pod = w.pod
    port_names = {p.name: p.port for c in pod.containers for p in c.ports if p.name}
    single = len(pod.containers) == 1
    names = [inst.name if single else f"{inst.name}-{c.name}" for c in pod.containers]
    waits = _dropped_waits(w)
    inits = [c for c in pod.init_containers if c.name not in waits]
    out: dict[str, dict] = {}
    previous = None
    for c in inits:
        svc = _container_service(c, inst, manifests, port_names, volumes, warn, init=True)
        svc["restart"] = "no"
        if previous:
            svc["depends_on"] = {previous: {"condition": "service_completed_successfully"}}
        previous = f"{inst.name}-init-{c.name}"
        out[previous] = svc
    anchor = names[0]
    for i, (name, c) in enumerate(zip(names, pod.containers)):
        svc = _container_service(c, inst, manifests, port_names, volumes, warn, init=False)
        svc["restart"] = _restart(w)
        depends = {}
        if previous:
            depends[previous] = {"condition": "service_completed_successfully"}
        if i == 0:
            if inst.scale != 1:
                svc["scale"] = inst.scale
            if inst.hostname:
                svc["hostname"] = inst.hostname
            # one pod per host port, as on one node (there, a second one stays Pending)
            ports = [p for x in pod.containers for p in _host_ports(x)] + published \
                if inst.publishes else []
            if ports:
                svc["ports"] = ports
            exposed = sorted({f"{p.port}/{p.protocol}" for x in pod.containers for p in x.ports})
            if exposed:
                svc["expose"] = exposed
        else:
            svc["network_mode"] = f"service:{anchor}"
            if pod.share_pids:
                svc["pid"] = f"service:{anchor}"
            depends[anchor] = {"condition": "service_started"}
            if inst.scale != 1:
                svc["scale"] = inst.scale
        if depends:
            svc["depends_on"] = depends
        out[name] = svc
    # the anchor first: the caller takes the first key as the pod's network holder
    return {anchor: out.pop(anchor), **out}


def _container_service(c: Container, inst: Instance, manifests: ManifestSet,
                       port_names: dict[str, int], volumes: PodVolumes, warn: Warn,
                       init: bool) -> dict:
    w = inst.workload
    where = f"{w.meta.source}: {w.meta.ref}: container {c.name!r}"
    env = resolve_env(c, manifests, w.meta, inst.name, dict(w.pod_labels), warn)
    svc: dict = {"image": c.image}
    if c.pull_policy:
        svc["pull_policy"] = _PULL[c.pull_policy]
    if c.command is not None:
        svc["entrypoint"] = [expand(x, env) for x in c.command]
    if c.args is not None:
        svc["command"] = [expand(x, env) for x in c.args]
    elif c.command is not None:
        svc["command"] = []   # Kubernetes: a command without args drops the image's CMD
    if c.working_dir:
        svc["working_dir"] = c.working_dir
    if env:
        svc["environment"] = env
    mounted = mounts(c, w, inst.name, manifests, volumes)
    if mounted:
        svc["volumes"] = mounted
    if not init:
        check = healthcheck(c, port_names, where, warn)
        if check:
            svc["healthcheck"] = check
    _security(c, w, svc, where, warn)
    if c.memory_limit:
        svc["mem_limit"] = memory_bytes(c.memory_limit, where)
    if c.cpu_limit:
        svc["cpus"] = cpus(c.cpu_limit, where)
    if c.tty:
        svc["tty"] = True
    if c.stdin:
        svc["stdin_open"] = True
    if w.pod.share_pids and not init:
        # a shared PID namespace has the pause process as PID 1, reaping and forwarding
        # signals: what compose's `init: true` gives a container (`convert` maps it so)
        svc["init"] = True
    if w.pod.grace_period is not None:
        svc["stop_grace_period"] = f"{w.pod.grace_period}s"
    svc["labels"] = {**dict(w.pod_labels), OBJECT_LABEL: w.meta.ref,
                     LABEL + "pod": inst.name, LABEL + "container": c.name,
                     **({LABEL + "init": "true"} if init else {})}
    return svc


def _security(c: Container, w: Workload, svc: dict, where: str, warn: Warn) -> None:
    s, pod = c.security, w.pod.security
    user = s.user if s.user is not None else pod.user
    group = s.group if s.group is not None else pod.group
    if user is not None:
        svc["user"] = f"{user}:{group}" if group is not None else str(user)
    elif group is not None:
        warn(f"{where}: runAsGroup without runAsUser is not supported by kube play; ignored")
    if s.privileged:
        svc["privileged"] = True
    if s.read_only_root:
        svc["read_only"] = True
    if s.cap_add:
        svc["cap_add"] = list(s.cap_add)
    if s.cap_drop:
        svc["cap_drop"] = list(s.cap_drop)
    if s.no_new_privileges:
        svc["security_opt"] = ["no-new-privileges:true"]


def _restart(w: Workload) -> str:
    if w.meta.kind == "Job":
        if w.pod.restart_policy == "OnFailure" and w.backoff_limit > 0:
            return f"on-failure:{w.backoff_limit}"
        return "no"
    return {"Always": "always", "OnFailure": "on-failure", "Never": "no"}[w.pod.restart_policy]


def _host_ports(c: Container) -> list[dict]:
    return [{"target": p.port, "published": str(p.host_port), "protocol": p.protocol,
             **({"host_ip": p.host_ip} if p.host_ip else {})} for p in c.ports if p.host_port]


# --- Services ----------------------------------------------------------------------------

def _selected(s: Service, manifests: ManifestSet, warn: Warn) -> list[Workload]:
    where = f"{s.meta.source}: {s.meta.ref}"
    if not s.selector:
        warn(f"{where}: a Service without a selector has no pods behind it under kube play")
        return []
    found = [w for w in manifests.workloads if set(s.selector) <= set(w.pod_labels)]
    if not found:
        warn(f"{where}: its selector matches no pod of these manifests")
    return found


def _target(port, w: Workload, where: str) -> int:
    if isinstance(port, int):
        return port
    for c in w.pod.containers:
        for p in c.ports:
            if p.name == port:
                return p.port
    raise ManifestError(f"{where}: targetPort {port!r} names no port of {w.meta.ref}")


def _published(manifests: ManifestSet, selected: dict[str, list[Workload]],
               warn: Warn) -> dict[str, list]:
    """workload ref -> the compose `ports` its first pod publishes for NodePort/LoadBalancer.
    A host port has one owner: the first pod of the first workload a Service selects."""
    out: dict[str, list] = {}
    owners: dict[str, str] = {}     # "address:port/protocol" -> the Service publishing it
    for s in manifests.services:
        where = f"{s.meta.source}: {s.meta.ref}"
        for w in selected[s.meta.name]:
            for p in s.ports:
                target = _target(p.target, w, where)
                if p.port != target and PUBLISHED_ANNOTATION not in dict(s.meta.annotations):
                    warn(f"{where}: port {p.port} → targetPort {target}: other pods reach it on "
                         f"{target} (kube play has no service proxy to translate ports)")
        if s.type == "ClusterIP" or not selected[s.meta.name]:
            continue
        w = selected[s.meta.name][0]
        entries = _recorded_ports(s, where)
        if entries is None:
            entries = [_host_entry(s, p, _target(p.target, w, where)) for p in s.ports]
        for entry in entries:
            key = _host_key(entry)
            if key is not None and owners.setdefault(key, s.meta.ref) != s.meta.ref:
                raise ManifestError(f"{where}: host port {key} is published by "
                                    f"{owners[key]} already")
        out.setdefault(w.meta.ref, []).extend(entries)
        if entries and (len(selected[s.meta.name]) > 1 or w.replicas > 1):
            warn(f"{where}: its {s.type} ports reach the first pod of {w.meta.ref} only "
                 "(kube play does not balance host ports)")
    return out


def _host_entry(s: Service, p: ServicePort, target: int) -> dict:
    if s.type == "NodePort":
        entry: dict = {"target": target, "protocol": p.protocol}
        if p.node_port:
            entry["published"] = str(p.node_port)
        return entry
    return {"target": target, "published": str(p.port), "host_ip": "127.0.0.1",
            "protocol": p.protocol}


def _host_key(entry: dict | str) -> str | None:
    """`address:port/protocol` of a published port (None: the engine picks the port)."""
    if isinstance(entry, str):
        head, _, protocol = entry.rpartition("/")
        address, _, published = head.rpartition(":")[0].rpartition(":")
        return f"{address or '0.0.0.0'}:{published}/{protocol}" if published else None
    if not entry.get("published"):
        return None
    return f"{entry.get('host_ip') or '0.0.0.0'}:{entry['published']}/{entry['protocol']}"


_SHORT_PORT = re.compile(r"[0-9A-Fa-f.:\[\]-]*[0-9]+/(tcp|udp)\Z")


def _recorded_ports(s: Service, where: str) -> list[str] | None:
    """The compose `ports` `convert` recorded on a NodePort/LoadBalancer Service: published
    as the compose file said (address and port), so a round trip publishes the same."""
    text = dict(s.meta.annotations).get(PUBLISHED_ANNOTATION)
    if text is None or s.type == "ClusterIP":
        return None
    specs = [p.strip() for p in text.split(",") if p.strip()]
    for spec in specs:
        if not _SHORT_PORT.match(spec):
            raise ManifestError(f"{where}: annotation {PUBLISHED_ANNOTATION}: {spec!r} is not "
                                "a port in compose's short syntax")
    return specs


def _add_aliases(manifests: ManifestSet, selected: dict[str, list[Workload]],
                 anchors: dict[str, list[str]], services: dict[str, dict]) -> None:
    for s in manifests.services:
        name, ns = s.meta.name, s.meta.namespace
        names = [name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
        mine = {a for w in selected[name] for a in anchors[w.meta.ref]}
        clash = [n for n in names if n in services and n not in mine]
        if clash:
            raise ManifestError(f"{s.meta.source}: {s.meta.ref}: its name is also the compose "
                                f"service of another pod ({clash[0]!r}); rename one of them")
        for w in selected[name]:
            for anchor in anchors[w.meta.ref]:
                extra = []
                if w.service_name == name and anchor != w.meta.name:   # a StatefulSet pod
                    extra = [f"{anchor}.{name}", f"{anchor}.{name}.{ns}.svc.cluster.local"]
                net = services[anchor].setdefault("networks", {"default": {"aliases": []}})
                aliases = net["default"]["aliases"]
                aliases += [a for a in names + extra if a not in aliases]


def _dropped_waits(w: Workload) -> set[str]:
    """The `wait-for-*` init containers `convert` wrote, when the annotation says what they
    wait for (compose conditions stand in for them)."""
    if DEPENDS_ON_ANNOTATION not in dict(w.pod_annotations):
        return set()
    return {c.name for c in w.pod.init_containers if c.name.startswith(WAIT_PREFIX)}


def _add_depends_on(manifests: ManifestSet, anchors: dict[str, list[str]],
                    services: dict[str, dict]) -> None:
    by_compose_name = {dict(w.pod_labels).get(SERVICE_LABEL): w for w in manifests.workloads}
    for w in manifests.workloads:
        text = dict(w.pod_annotations).get(DEPENDS_ON_ANNOTATION)
        if text is None:
            continue
        where = f"{w.meta.source}: {w.meta.ref}: annotation {DEPENDS_ON_ANNOTATION}"
        try:
            wanted = json.loads(text)
        except ValueError:
            raise ManifestError(f"{where}: is not JSON") from None
        if not isinstance(wanted, dict):
            raise ManifestError(f"{where}: expected a JSON object of service: condition")
        for dep, condition in wanted.items():
            target = by_compose_name.get(dep)
            if condition not in _CONDITIONS:
                raise ManifestError(f"{where}: {condition!r} is not a depends_on condition")
            if target is None:
                raise ManifestError(f"{where}: no pod of these manifests is service {dep!r}")
            for anchor in anchors[w.meta.ref]:
                first = _entry(anchor, services)
                deps = services[first].setdefault("depends_on", {})
                for other in anchors[target.meta.ref]:
                    deps[other] = {"condition": condition}


def _entry(anchor: str, services: dict[str, dict]) -> str:
    """The first service of a pod to start: its first init container, else its anchor."""
    current = anchor
    while True:
        inits = [d for d in services[current].get("depends_on", {})
                 if services[d]["labels"].get(LABEL + "init") == "true"]
        if not inits:
            return current
        current = inits[0]


# --- quantities --------------------------------------------------------------------------

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?\Z")


def memory_bytes(text: str, where: str) -> int:
    m = _QUANTITY.match(text)
    if not m:
        raise ManifestError(f"{where}: resources.limits.memory {text!r} is not a quantity")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def cpus(text: str, where: str) -> float:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m)?", text)
    if not m:
        raise ManifestError(f"{where}: resources.limits.cpu {text!r} is not a quantity")
    value = float(m.group(1))
    return value / 1000 if m.group(2) else value
