"""The frozen compose model: what the rest of pycompose sees of a compose project.

Built from the canonical document of `compose/normalize.py` by `Project.from_canonical`. No
raw dicts past this boundary, except `x-*` extensions and string maps (labels, environment,
sysctls, driver options). `config_hash(service)` is the per-service hash that the
orchestrator stores as `com.docker.compose.config-hash` and compares to decide recreation.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from compose.normalize import parse_bytes, parse_duration


class Condition(enum.Enum):
    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED = "service_completed_successfully"


class RestartPolicy(enum.Enum):
    NO = "no"
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    UNLESS_STOPPED = "unless-stopped"


class MountType(enum.Enum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"
    IMAGE = "image"
    NPIPE = "npipe"
    CLUSTER = "cluster"


class PullPolicy(enum.Enum):
    ALWAYS = "always"
    NEVER = "never"
    MISSING = "missing"
    BUILD = "build"
    REFRESH = "refresh"
    DAILY = "daily"
    WEEKLY = "weekly"
    EVERY = "every"


def _frozen_map(value: Mapping | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class Port:
    target: int
    published: str | None = None       # "8080", "8000-8010", or None for a random host port
    protocol: str = "tcp"
    host_ip: str | None = None
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None


@dataclass(frozen=True)
class ServiceVolume:
    type: MountType
    target: str
    source: str | None = None          # absolute host path (bind) or top-level volume key
    read_only: bool = False
    create_host_path: bool = False
    propagation: str | None = None
    selinux: str | None = None
    nocopy: bool = False
    subpath: str | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None


@dataclass(frozen=True)
class DependsOn:
    service: str
    condition: Condition = Condition.STARTED
    restart: bool = False
    required: bool = True


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...] | None = None     # ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",)
    interval_ns: int | None = None
    timeout_ns: int | None = None
    retries: int | None = None
    start_period_ns: int | None = None
    start_interval_ns: int | None = None
    disable: bool = False


@dataclass(frozen=True)
class Restart:
    policy: RestartPolicy = RestartPolicy.NO
    max_retries: int = 0


@dataclass(frozen=True)
class Build:
    context: str
    dockerfile: str | None = "Dockerfile"
    dockerfile_inline: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    network: str | None = None
    no_cache: bool = False
    pull: bool = False


@dataclass(frozen=True)
class ResourceSpec:
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Deploy:
    replicas: int | None = None
    limits: ResourceSpec = ResourceSpec()
    reservations: ResourceSpec = ResourceSpec()
    restart_policy: Restart | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceNetwork:
    network: str                       # top-level network key
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class FileReference:
    """A service's use of a top-level secret or config."""
    source: str
    target: str
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Service:
    name: str
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str | None] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    container_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[ServiceVolume, ...] = ()
    tmpfs: tuple[str, ...] = ()
    depends_on: tuple[DependsOn, ...] = ()
    networks: tuple[ServiceNetwork, ...] = ()
    network_mode: str | None = None
    links: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()
    ipc: str | None = None
    pid: str | None = None
    healthcheck: Healthcheck | None = None
    restart: Restart = Restart()
    deploy: Deploy | None = None
    scale: int = 1
    profiles: tuple[str, ...] = ()
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()
    init: bool = False
    tty: bool = False
    stdin_open: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    stop_signal: str | None = None
    stop_grace_period_ns: int | None = None
    mem_limit: int | None = None
    memswap_limit: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    domainname: str | None = None
    mac_address: str | None = None
    shm_size: int | None = None
    platform: str | None = None
    pull_policy: PullPolicy = PullPolicy.MISSING
    attach: bool = True
    extensions: Mapping[str, Any] = field(default_factory=dict)
    # the canonical JSON of this service (compose `config` form): hashed, and printed by `config`
    canonical: str = field(default="{}", repr=False, compare=False)

    @property
    def replicas(self) -> int:
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return self.scale


@dataclass(frozen=True)
class Network:
    key: str
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    internal: bool = False
    enable_ipv6: bool = False
    subnets: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Volume:
    key: str
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileObject:
    """A top-level secret or config: exactly one of file, environment, content, external."""
    key: str
    name: str
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


Secret = FileObject
Config = FileObject


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: str
    services: Mapping[str, Service]
    networks: Mapping[str, Network] = field(default_factory=dict)
    volumes: Mapping[str, Volume] = field(default_factory=dict)
    secrets: Mapping[str, FileObject] = field(default_factory=dict)
    configs: Mapping[str, FileObject] = field(default_factory=dict)
    config_files: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    disabled_services: Mapping[str, Service] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def service(self, name: str) -> Service:
        return self.services[name]

    @classmethod
    def from_canonical(cls, doc: dict, *, working_dir: str, config_files: tuple[str, ...] = (),
                       environment: Mapping[str, str] | None = None,
                       disabled: dict | None = None, profiles: tuple[str, ...] = ()) -> Project:
        return cls(
            name=doc["name"],
            working_dir=working_dir,
            services=_frozen_map({k: service_from(k, v) for k, v in doc.get("services", {}).items()}),
            networks=_frozen_map({k: _network(k, v) for k, v in doc.get("networks", {}).items()}),
            volumes=_frozen_map({k: _volume(k, v) for k, v in doc.get("volumes", {}).items()}),
            secrets=_frozen_map({k: _file_object(k, v) for k, v in doc.get("secrets", {}).items()}),
            configs=_frozen_map({k: _file_object(k, v) for k, v in doc.get("configs", {}).items()}),
            config_files=tuple(config_files),
            environment=_frozen_map(environment),
            disabled_services=_frozen_map({k: service_from(k, v) for k, v in (disabled or {}).items()}),
            profiles=tuple(profiles),
            extensions=_frozen_map({k: v for k, v in doc.items() if k.startswith("x-")}),
        )


# --- builders (canonical dict -> dataclasses) -------------------------------------------------

def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _restart(text: str | None) -> Restart:
    if not text:
        return Restart()
    policy, _, count = str(text).partition(":")
    return Restart(RestartPolicy(policy), int(count) if count else 0)


def _pull_policy(text: str | None) -> PullPolicy:
    if not text:
        return PullPolicy.MISSING
    if text.startswith("every_"):
        return PullPolicy.EVERY
    return PullPolicy(text)


def _volume_mount(v: dict) -> ServiceVolume:
    bind, vol, tmp = v.get("bind") or {}, v.get("volume") or {}, v.get("tmpfs") or {}
    return ServiceVolume(
        type=MountType(v["type"]), target=v.get("target", ""), source=v.get("source"),
        read_only=bool(v.get("read_only", False)), create_host_path=bool(bind.get("create_host_path", False)),
        propagation=bind.get("propagation"), selinux=bind.get("selinux"), nocopy=bool(vol.get("nocopy", False)),
        subpath=vol.get("subpath"),
        tmpfs_size=parse_bytes(tmp["size"]) if tmp.get("size") is not None else None,
        tmpfs_mode=tmp.get("mode"))


def _healthcheck(h: dict) -> Healthcheck:
    def ns(key: str) -> int | None:
        return parse_duration(h[key]) if h.get(key) is not None else None
    return Healthcheck(test=_tuple(h.get("test")) or None, interval_ns=ns("interval"), timeout_ns=ns("timeout"),
                       retries=_opt_int(h.get("retries")), start_period_ns=ns("start_period"),
                       start_interval_ns=ns("start_interval"), disable=bool(h.get("disable", False)))


def _resources(r: dict | None) -> ResourceSpec:
    r = r or {}
    return ResourceSpec(cpus=float(r["cpus"]) if r.get("cpus") is not None else None,
                        memory=parse_bytes(r["memory"]) if r.get("memory") is not None else None,
                        pids=_opt_int(r.get("pids")))


def _deploy(d: dict | None) -> Deploy | None:
    if not d:
        return None
    res = d.get("resources") or {}
    rp = d.get("restart_policy")
    restart = None
    if rp:
        # compose maps deploy.restart_policy onto the engine policy: any -> always, none -> no
        cond = {"any": RestartPolicy.ALWAYS, "none": RestartPolicy.NO,
                "on-failure": RestartPolicy.ON_FAILURE}[rp.get("condition", "any")]
        restart = Restart(cond, int(rp.get("max_attempts") or 0))
    labels = d.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(x).partition("=")[::2] for x in labels)
    return Deploy(replicas=_opt_int(d.get("replicas")), limits=_resources(res.get("limits")),
                  reservations=_resources(res.get("reservations")), restart_policy=restart,
                  labels=_frozen_map(labels))


def _file_ref(ref: dict, kind: str) -> FileReference:
    src = ref["source"]
    target = ref.get("target")
    if kind == "secrets":
        target = target if target and target.startswith("/") else f"/run/secrets/{target or src}"
    else:
        target = target or f"/{src}"
    mode = ref.get("mode")
    return FileReference(source=src, target=target, uid=ref.get("uid"), gid=ref.get("gid"),
                         mode=int(mode, 8) if isinstance(mode, str) else mode)


def _ulimits(u: dict | None) -> tuple[Ulimit, ...]:
    out = []
    for name, v in (u or {}).items():
        if isinstance(v, dict):
            out.append(Ulimit(name, int(v.get("soft", v.get("hard"))), int(v.get("hard", v.get("soft")))))
        else:
            out.append(Ulimit(name, int(v), int(v)))
    return tuple(out)


def service_from(name: str, s: dict) -> Service:
    build = None
    if s.get("build"):
        b = s["build"]
        build = Build(context=b["context"], dockerfile=b.get("dockerfile"),
                      dockerfile_inline=b.get("dockerfile_inline"), args=_frozen_map(b.get("args")),
                      target=b.get("target"), labels=_frozen_map(b.get("labels")), tags=_tuple(b.get("tags")),
                      network=b.get("network"), no_cache=bool(b.get("no_cache", False)),
                      pull=bool(b.get("pull", False)))
    nets = []
    for key, cfg in (s.get("networks") or {}).items():
        cfg = cfg or {}
        nets.append(ServiceNetwork(network=key, aliases=_tuple(cfg.get("aliases")),
                                   ipv4_address=cfg.get("ipv4_address"), ipv6_address=cfg.get("ipv6_address"),
                                   mac_address=cfg.get("mac_address"), priority=int(cfg.get("priority") or 0)))
    deps = tuple(DependsOn(service=d, condition=Condition(c["condition"]), restart=bool(c.get("restart", False)),
                           required=bool(c.get("required", True)))
                 for d, c in (s.get("depends_on") or {}).items())
    return Service(
        name=name, image=s.get("image"), build=build,
        command=_tuple(s["command"]) if s.get("command") is not None else None,
        entrypoint=_tuple(s["entrypoint"]) if s.get("entrypoint") is not None else None,
        environment=_frozen_map(s.get("environment")), working_dir=s.get("working_dir"), user=s.get("user"),
        hostname=s.get("hostname"), container_name=s.get("container_name"), labels=_frozen_map(s.get("labels")),
        ports=tuple(Port(target=p["target"], published=p.get("published"), protocol=p.get("protocol", "tcp"),
                         host_ip=p.get("host_ip"), mode=p.get("mode", "ingress"), name=p.get("name"),
                         app_protocol=p.get("app_protocol")) for p in s.get("ports") or []),
        expose=_tuple(s.get("expose")), volumes=tuple(_volume_mount(v) for v in s.get("volumes") or []),
        tmpfs=_tuple(s.get("tmpfs")), depends_on=deps, networks=tuple(nets), network_mode=s.get("network_mode"),
        links=_tuple(s.get("links")), volumes_from=_tuple(s.get("volumes_from")), ipc=s.get("ipc"),
        pid=s.get("pid"), healthcheck=_healthcheck(s["healthcheck"]) if s.get("healthcheck") else None,
        restart=_restart(s.get("restart")), deploy=_deploy(s.get("deploy")), scale=int(s.get("scale", 1)),
        profiles=_tuple(s.get("profiles")),
        secrets=tuple(_file_ref(r, "secrets") for r in s.get("secrets") or []),
        configs=tuple(_file_ref(r, "configs") for r in s.get("configs") or []),
        init=bool(s.get("init", False)), tty=bool(s.get("tty", False)), stdin_open=bool(s.get("stdin_open", False)),
        privileged=bool(s.get("privileged", False)), read_only=bool(s.get("read_only", False)),
        cap_add=_tuple(s.get("cap_add")), cap_drop=_tuple(s.get("cap_drop")),
        security_opt=_tuple(s.get("security_opt")), stop_signal=s.get("stop_signal"),
        stop_grace_period_ns=parse_duration(s["stop_grace_period"]) if s.get("stop_grace_period") else None,
        mem_limit=_opt_int(s.get("mem_limit")), memswap_limit=_opt_int(s.get("memswap_limit")),
        cpus=s.get("cpus"), cpu_shares=_opt_int(s.get("cpu_shares")), pids_limit=_opt_int(s.get("pids_limit")),
        ulimits=_ulimits(s.get("ulimits")), sysctls=_frozen_map(s.get("sysctls")),
        extra_hosts=_tuple(s.get("extra_hosts")), dns=_tuple(s.get("dns")), dns_opt=_tuple(s.get("dns_opt")),
        dns_search=_tuple(s.get("dns_search")), group_add=tuple(str(g) for g in s.get("group_add") or ()),
        domainname=s.get("domainname"), mac_address=s.get("mac_address"),
        shm_size=_opt_int(s.get("shm_size")), platform=s.get("platform"),
        pull_policy=_pull_policy(s.get("pull_policy")), attach=bool(s.get("attach", True)),
        extensions=_frozen_map({k: v for k, v in s.items() if k.startswith("x-")}),
        canonical=json.dumps(s, sort_keys=True, separators=(",", ":"), default=str),
    )


def _labels(value: Any) -> Mapping[str, str]:
    if isinstance(value, list):
        value = dict(str(x).partition("=")[::2] for x in value)
    return _frozen_map(value)


def _network(key: str, n: dict) -> Network:
    ipam = n.get("ipam") or {}
    configs = ipam.get("config") or []
    return Network(key=key, name=n["name"], driver=n.get("driver"),
                   driver_opts=_frozen_map({k: str(v) for k, v in (n.get("driver_opts") or {}).items()}),
                   external=bool(n.get("external", False)), internal=bool(n.get("internal", False)),
                   enable_ipv6=bool(n.get("enable_ipv6", False)),
                   subnets=tuple(c["subnet"] for c in configs if c.get("subnet")),
                   gateways=tuple(c["gateway"] for c in configs if c.get("gateway")),
                   labels=_labels(n.get("labels")))


def _volume(key: str, v: dict) -> Volume:
    return Volume(key=key, name=v["name"], driver=v.get("driver"),
                  driver_opts=_frozen_map({k: str(x) for k, x in (v.get("driver_opts") or {}).items()}),
                  external=bool(v.get("external", False)), labels=_labels(v.get("labels")))


def _file_object(key: str, f: dict) -> FileObject:
    return FileObject(key=key, name=f["name"], file=f.get("file"), environment=f.get("environment"),
                      content=f.get("content"), external=bool(f.get("external", False)),
                      labels=_labels(f.get("labels")))


# --- config hash --------------------------------------------------------------------------------

# What compose clears before hashing: none of these changes a running container.
HASH_EXCLUDED = ("build", "pull_policy", "scale", "depends_on", "profiles")


def config_hash(service: Service) -> str:
    """sha256 of the canonical JSON of the service's configuration, minus what compose does not
    hash (build, pull_policy, scale, deploy.replicas, depends_on, profiles). Stable across
    runs, key order and list/map spellings of the same configuration."""
    doc = json.loads(service.canonical)
    for key in HASH_EXCLUDED:
        doc.pop(key, None)
    if isinstance(doc.get("deploy"), dict):
        doc["deploy"] = {k: v for k, v in doc["deploy"].items() if k != "replicas"}
        if not doc["deploy"]:
            del doc["deploy"]
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
