"""The frozen compose model: what the rest of pycompose sees of a compose project.

Built from the canonical document of `compose/normalize.py` by `Project.from_canonical`. No
raw dicts past this boundary, except `x-*` extensions, string maps (labels, environment,
sysctls, driver options) and `develop:` (see below). `config_hash(service)` is the per-service hash that the
orchestrator stores as `com.docker.compose.config-hash` and compares to decide recreation.

The orchestrator reads only this model (compose/orchestrator/project_view.py derives what
planning asks of it). Each concept (a duration, a byte size, a port, a restart policy, a secret's
place in the container) is read into it once, by compose/canonical.py with the one parser of
that notation (compose/values.py, compose/shortsyntax.py, canonical.parse_restart); `develop:`
stays as written and compose/orchestrator/watch.py is its one reader.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


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
    extra_hosts: tuple[str, ...] = ()   # `host=ip`, one address each, as Service.extra_hosts
    cache_from: tuple[str, ...] = ()    # image references whose steps the build may reuse


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
    uts: str | None = None
    cgroup: str | None = None
    cpuset: str | None = None         # CPUs the containers may run on ("0-2,5")
    # what the engine gets as its RestartPolicy: `restart`, else deploy.restart_policy's
    # condition mapped as Compose maps it (none -> no, any -> always); None: the engine default
    restart_policy: Restart | None = None
    # `develop:` as written (absolute paths): compose/orchestrator/watch.py is its one reader
    develop: Mapping[str, Any] | None = None
    # the canonical JSON of this service (compose `config` form): hashed, and printed by `config`
    canonical: str = field(default="{}", repr=False, compare=False)

    @property
    def replicas(self) -> int:
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return self.scale


@dataclass(frozen=True)
class IpamPool:
    """One `ipam.config` entry of a network."""
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: Mapping[str, str] = field(default_factory=dict)


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
    attachable: bool = False
    ipam_driver: str | None = None
    ipam: tuple[IpamPool, ...] = ()


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
        from compose.canonical import _file_object, _network, _volume, service_from

        return cls(
            name=doc["name"],
            working_dir=working_dir,
            services=_frozen_map({k: service_from(k, v) for k, v in doc.get("services", {}).items()}),
            networks=_frozen_map({k: _network(k, v or {}, doc["name"])
                                  for k, v in (doc.get("networks") or {}).items()}),
            volumes=_frozen_map({k: _volume(k, v or {}, doc["name"])
                                 for k, v in (doc.get("volumes") or {}).items()}),
            secrets=_frozen_map({k: _file_object(k, v or {}, doc["name"])
                                 for k, v in (doc.get("secrets") or {}).items()}),
            configs=_frozen_map({k: _file_object(k, v or {}, doc["name"])
                                 for k, v in (doc.get("configs") or {}).items()}),
            config_files=tuple(config_files),
            environment=_frozen_map(environment),
            disabled_services=_frozen_map({k: service_from(k, v) for k, v in (disabled or {}).items()}),
            profiles=tuple(profiles),
            extensions=_frozen_map({k: v for k, v in doc.items() if k.startswith("x-")}),
        )


# the readers of the canonical form live in compose/canonical.py; these names stay importable
# from here (callers and tests use them)
def __getattr__(name: str) -> Any:
    if name in ("service_from", "parse_restart", "file_object_target", "port_from", "parse_ports"):
        from compose import canonical

        return getattr(canonical, name)
    raise AttributeError(name)


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
