"""The pod template of a workload, read into frozen values: containers, volumes, probes.

Only what kube play acts on is kept; every other field is listed as ignored (fields.py). Kinds
of values kube play cannot honour at all (a volume source it has no equivalent for, a probe
with no handler) are errors that name the object and the field.
"""
from __future__ import annotations

from dataclasses import dataclass

from compose.kube.play_fields import Fields

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
RESTART_POLICIES = ("Always", "OnFailure", "Never")


@dataclass(frozen=True)
class KeyRef:
    """`configMapKeyRef` / `secretKeyRef`: one key of a ConfigMap or Secret."""
    kind: str          # "ConfigMap" | "Secret"
    name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None           # `value` (may hold $(VAR) references)
    key_ref: KeyRef | None = None      # valueFrom a ConfigMap or Secret key
    field_path: str | None = None      # valueFrom.fieldRef


@dataclass(frozen=True)
class EnvSource:
    """`envFrom`: every key of a ConfigMap or Secret, optionally prefixed."""
    kind: str
    name: str
    prefix: str = ""
    optional: bool = False


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "tcp"
    name: str | None = None
    host_port: int | None = None
    host_ip: str | None = None


@dataclass(frozen=True)
class VolumeMount:
    name: str
    path: str
    sub_path: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class Probe:
    handler: str                        # "exec" | "httpGet" | "tcpSocket"
    command: tuple[str, ...] = ()       # exec
    port: int | str | None = None       # httpGet / tcpSocket (a number or a port's name)
    path: str = "/"                     # httpGet
    scheme: str = "HTTP"                # httpGet
    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class Security:
    user: int | None = None
    group: int | None = None
    privileged: bool = False
    read_only_root: bool = False
    no_new_privileges: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvSource, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None
    pull_policy: str | None = None
    memory_limit: str | None = None     # a Kubernetes quantity, e.g. "256Mi"
    cpu_limit: str | None = None        # e.g. "500m"
    security: Security = Security()
    tty: bool = False
    stdin: bool = False


@dataclass(frozen=True)
class KeyToPath:
    key: str
    path: str
    mode: int | None = None


@dataclass(frozen=True)
class Volume:
    name: str
    source: str                         # one of VOLUME_SOURCES
    ref: str = ""                       # the ConfigMap/Secret/claim name, or the host path
    items: tuple[KeyToPath, ...] = ()
    default_mode: int | None = None
    optional: bool = False
    host_path_type: str = ""
    medium: str = ""                    # emptyDir: "" or "Memory"
    read_only: bool = False             # persistentVolumeClaim.readOnly


@dataclass(frozen=True)
class PodSpec:
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    restart_policy: str = "Always"
    hostname: str | None = None
    subdomain: str | None = None
    grace_period: int | None = None
    security: Security = Security()     # the pod-level securityContext (user, group)
    share_pids: bool = False            # shareProcessNamespace


VOLUME_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "persistentVolumeClaim")


def read_pod_spec(spec: Fields, claims: tuple[str, ...] = ()) -> PodSpec:
    """`claims`: the names of a StatefulSet's volumeClaimTemplates (mountable too)."""
    containers = tuple(read_container(c) for c in spec.children("containers"))
    if not containers:
        raise spec.doc.error(spec.path + ("containers",), "a pod needs at least one container")
    init = tuple(read_container(c) for c in spec.children("initContainers"))
    names = [c.name for c in (*init, *containers)]
    for name in names:
        if names.count(name) > 1:
            raise spec.doc.error(spec.path + ("containers",),
                                 f"two containers are named {name!r}")
    volumes = tuple(read_volume(v) for v in spec.children("volumes"))
    vnames = [v.name for v in volumes] + list(claims)
    for c in (*init, *containers):
        for m in c.mounts:
            if m.name not in vnames:
                raise spec.doc.error(spec.path, f"container {c.name!r} mounts volume {m.name!r}, "
                                                "which the pod does not define")
    restart = spec.text("restartPolicy", default="Always")
    if restart not in RESTART_POLICIES:
        raise spec.doc.error(spec.path + ("restartPolicy",),
                             f"{restart!r} is not one of {', '.join(RESTART_POLICIES)}")
    ctx = spec.child("securityContext")
    security = _read_pod_security(ctx) if ctx else Security()
    out = PodSpec(containers=containers, init_containers=init, volumes=volumes,
                  restart_policy=restart, hostname=spec.text("hostname"),
                  subdomain=spec.text("subdomain"),
                  grace_period=spec.integer("terminationGracePeriodSeconds", minimum=0),
                  security=security, share_pids=spec.flag("shareProcessNamespace"))
    spec.done()
    return out


def read_container(c: Fields) -> Container:
    name = c.text("name", required=True)
    assert name is not None
    pull = c.text("imagePullPolicy")
    if pull is not None and pull not in PULL_POLICIES:
        raise c.doc.error(c.path + ("imagePullPolicy",),
                          f"{pull!r} is not one of {', '.join(PULL_POLICIES)}")
    resources = c.child("resources")
    memory = cpu = None
    if resources is not None:
        limits = resources.string_map("limits")
        memory, cpu = limits.pop("memory", None), limits.pop("cpu", None)
        for key in limits:
            c.doc.warn(resources.path + ("limits", key), "not supported by kube play; ignored")
        resources.skip("requests")   # a reservation only matters to a scheduler
        resources.done()
    ctx = c.child("securityContext")
    out = Container(
        name=name, image=c.text("image", required=True) or "",
        command=c.strings("command"), args=c.strings("args"), working_dir=c.text("workingDir"),
        env=tuple(_read_env(e) for e in c.children("env")),
        env_from=tuple(_read_env_from(e) for e in c.children("envFrom")),
        ports=tuple(_read_port(p) for p in c.children("ports")),
        mounts=tuple(_read_mount(m) for m in c.children("volumeMounts")),
        readiness=_probe(c, "readinessProbe"), liveness=_probe(c, "livenessProbe"),
        startup=_probe(c, "startupProbe"), pull_policy=pull,
        memory_limit=memory, cpu_limit=cpu,
        security=_read_security(ctx) if ctx else Security(),
        tty=c.flag("tty"), stdin=c.flag("stdin"))
    c.done()
    return out


def _read_env(e: Fields) -> EnvVar:
    name = e.text("name", required=True) or ""
    source = e.child("valueFrom")
    if source is None:
        out = EnvVar(name, value=e.text("value", default=""))
        e.done()
        return out
    e.done()
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = source.child(key)
        if ref is not None:
            key_ref = KeyRef(kind, ref.text("name", required=True) or "",
                             ref.text("key", required=True) or "", ref.flag("optional"))
            ref.done()
            source.done()
            return EnvVar(name, key_ref=key_ref)
    field_ref = source.child("fieldRef")
    if field_ref is not None:
        path = field_ref.text("fieldPath", required=True)
        field_ref.skip("apiVersion")
        field_ref.done()
        source.done()
        return EnvVar(name, field_path=path)
    raise e.doc.error(source.path, "only configMapKeyRef, secretKeyRef and fieldRef are "
                                   "supported by kube play")


def _read_env_from(e: Fields) -> EnvSource:
    prefix = e.text("prefix", default="") or ""
    for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
        ref = e.child(key)
        if ref is not None:
            out = EnvSource(kind, ref.text("name", required=True) or "", prefix,
                            ref.flag("optional"))
            ref.done()
            e.done()
            return out
    raise e.doc.error(e.path, "needs a configMapRef or a secretRef")


def _read_port(p: Fields) -> ContainerPort:
    port = p.integer("containerPort", minimum=1)
    if port is None:
        raise p.doc.error(p.path + ("containerPort",), "required")
    protocol = (p.text("protocol", default="TCP") or "TCP").lower()
    if protocol not in ("tcp", "udp"):
        raise p.doc.error(p.path + ("protocol",), f"{protocol.upper()} is not supported "
                                                  "(TCP or UDP)")
    out = ContainerPort(port, protocol, p.text("name"), p.integer("hostPort", minimum=1),
                        p.text("hostIP"))
    p.done()
    return out


def _read_mount(m: Fields) -> VolumeMount:
    out = VolumeMount(m.text("name", required=True) or "", m.text("mountPath", required=True) or "",
                      m.text("subPath"), m.flag("readOnly"))
    if not out.path.startswith("/"):
        raise m.doc.error(m.path + ("mountPath",), f"{out.path!r} is not an absolute path")
    if out.sub_path and (out.sub_path.startswith("/") or ".." in out.sub_path.split("/")):
        raise m.doc.error(m.path + ("subPath",), f"{out.sub_path!r} must be a relative path "
                                                 "inside the volume")
    m.done()
    return out


def _probe(c: Fields, key: str) -> Probe | None:
    p = c.child(key)
    if p is None:
        return None
    timing = dict(initial_delay=p.integer("initialDelaySeconds", 0, minimum=0) or 0,
                  period=p.integer("periodSeconds", 10, minimum=1) or 10,
                  timeout=p.integer("timeoutSeconds", 1, minimum=1) or 1,
                  failure_threshold=p.integer("failureThreshold", 3, minimum=1) or 3)
    exec_ = p.child("exec")
    http = p.child("httpGet")
    tcp = p.child("tcpSocket")
    if exec_ is not None:
        command = exec_.strings("command") or ()
        if not command:
            raise p.doc.error(exec_.path + ("command",), "required")
        exec_.done()
        out = Probe("exec", command=command, **timing)
    elif http is not None:
        scheme = http.text("scheme", default="HTTP") or "HTTP"
        if scheme not in ("HTTP", "HTTPS"):
            raise p.doc.error(http.path + ("scheme",), f"{scheme!r} is not HTTP or HTTPS")
        out = Probe("httpGet", port=_probe_port(http), path=http.text("path", default="/") or "/",
                    scheme=scheme, **timing)
        http.done()
    elif tcp is not None:
        out = Probe("tcpSocket", port=_probe_port(tcp), **timing)
        tcp.done()
    else:
        raise p.doc.error(p.path, "needs exec, httpGet or tcpSocket (the handlers kube play "
                                  "runs)")
    p.done()
    return out


def _probe_port(h: Fields) -> int | str:
    port = h.int_or_str("port")
    if port is None:
        raise h.doc.error(h.path + ("port",), "required")
    return port


def read_volume(v: Fields) -> Volume:
    name = v.text("name", required=True) or ""
    present = [s for s in v.data if s != "name"]
    if len(present) != 1:
        raise v.doc.error(v.path, f"volume {name!r} needs exactly one source")
    source = present[0]
    if source not in VOLUME_SOURCES:
        raise v.doc.error(v.path + (source,), f"volume {name!r}: this source is not supported "
                                              f"by kube play (supported: "
                                              f"{', '.join(VOLUME_SOURCES)})")
    s = v.child(source) or Fields({}, v.doc, v.path + (source,))
    v.done()
    if source == "emptyDir":
        out = Volume(name, source, medium=s.text("medium", default="") or "")
        s.skip("sizeLimit")
    elif source == "hostPath":
        path = s.text("path", required=True) or ""
        if not path.startswith("/"):
            raise s.doc.error(s.path + ("path",), f"{path!r} is not an absolute path")
        out = Volume(name, source, ref=path, host_path_type=s.text("type", default="") or "")
    elif source == "persistentVolumeClaim":
        out = Volume(name, source, ref=s.text("claimName", required=True) or "",
                     read_only=s.flag("readOnly"))
    else:
        ref_key = "name" if source == "configMap" else "secretName"
        items = []
        for item in s.children("items"):
            items.append(KeyToPath(item.text("key", required=True) or "",
                                   item.text("path", required=True) or "", item.integer("mode")))
            if items[-1].path.startswith("/") or ".." in items[-1].path.split("/"):
                raise item.doc.error(item.path + ("path",), f"{items[-1].path!r} must be a "
                                                            "relative path inside the volume")
            item.done()
        out = Volume(name, source, ref=s.text(ref_key, required=True) or "", items=tuple(items),
                     default_mode=s.integer("defaultMode", minimum=0), optional=s.flag("optional"))
    s.done()
    return out


def _read_security(ctx: Fields) -> Security:
    caps = ctx.child("capabilities")
    add = drop = ()
    if caps is not None:
        add, drop = caps.strings("add") or (), caps.strings("drop") or ()
        caps.done()
    escalation = ctx.flag("allowPrivilegeEscalation", default=True)
    out = Security(user=ctx.integer("runAsUser", minimum=0),
                   group=ctx.integer("runAsGroup", minimum=0),
                   privileged=ctx.flag("privileged"),
                   read_only_root=ctx.flag("readOnlyRootFilesystem"),
                   no_new_privileges=not escalation, cap_add=add, cap_drop=drop)
    ctx.done()
    return out


def _read_pod_security(ctx: Fields) -> Security:
    out = Security(user=ctx.integer("runAsUser", minimum=0),
                   group=ctx.integer("runAsGroup", minimum=0))
    ctx.done()
    return out
