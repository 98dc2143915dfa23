"""What the orchestrator needs to know about a project, read from its canonical form. Pure.

The orchestrator works from the canonical project mapping (what `pycompose config` prints), not
from the model's classes: that form is the Compose specification's own, so this module is the
one place that knows how a loaded project looks.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from compose.orchestrator.errors import NoSuchService, OrchestratorError

if TYPE_CHECKING:
    from compose.graph import ServiceGraph

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

# Fields Compose leaves out of the config hash: changing them must not recreate a container.
_UNHASHED = ("build", "pull_policy", "scale", "depends_on", "profiles")


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    config: Mapping[str, Any]          # canonical service mapping
    config_hash: str
    replicas: int = 1
    depends_on: tuple[Dependency, ...] = ()

    @property
    def container_name(self) -> str | None:
        return self.config.get("container_name")

    @property
    def image(self) -> str | None:
        return self.config.get("image")

    @property
    def has_build(self) -> bool:
        return bool(self.config.get("build"))

    @property
    def namespace_refs(self) -> tuple[tuple[str, str], ...]:
        """(key, service) for each `service:X` namespace and `volumes_from` this one joins."""
        out = []
        for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
            value = self.config.get(key) or ""
            if isinstance(value, str) and value.startswith("service:"):
                out.append((key, value.split(":", 1)[1]))
        for item in self.config.get("volumes_from") or []:
            if not item.startswith("container:"):
                out.append(("volumes_from", item.split(":", 1)[0]))
        return tuple(out)

    @property
    def namespace_parents(self) -> tuple[str, ...]:
        """Services whose namespaces or volumes this one joins (`service:X`)."""
        return tuple(dict.fromkeys(parent for _, parent in self.namespace_refs))

    def networks(self) -> list[str]:
        if self.config.get("network_mode"):
            return []
        nets = self.config.get("networks")
        if nets is None:
            return ["default"]
        return list(nets)

    def named_volumes(self) -> list[str]:
        return [v["source"] for v in self.config.get("volumes") or []
                if isinstance(v, Mapping) and v.get("type", "volume") == "volume"
                and v.get("source")]


@dataclass(frozen=True)
class Resource:
    """A top-level network or volume: its key, engine name and canonical config."""

    key: str
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        ext = self.config.get("external")
        return bool(ext) if not isinstance(ext, Mapping) else True


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    services: Mapping[str, ServiceSpec]
    networks: Mapping[str, Resource] = field(default_factory=dict)
    volumes: Mapping[str, Resource] = field(default_factory=dict)
    secrets: Mapping[str, Resource] = field(default_factory=dict)
    configs: Mapping[str, Resource] = field(default_factory=dict)
    working_dir: str = ""
    config_files: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    disabled: frozenset[str] = frozenset()   # services present but not enabled (profiles)

    def service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            raise NoSuchService(f"no such service: {name}") from None

    def known_services(self) -> set[str]:
        return set(self.services) | set(self.disabled)

    @cached_property
    def graph(self) -> ServiceGraph:
        """The dependency graph (compose/graph.py), built once: it decides every order."""
        from compose.graph import Edge, build_graph

        edges: dict[str, list[Edge]] = {}
        for name, spec in self.services.items():
            via: dict[str, list[str]] = {}
            for key, parent in spec.namespace_refs:
                via.setdefault(parent, []).append(key)
            out = [Edge(name, d.service, d.condition, d.required, d.restart,
                        tuple(via.pop(d.service, ()))) for d in spec.depends_on]
            # a `service:x` the canonical depends_on does not list (normalization adds them;
            # a hand-made mapping may not): it must start first all the same
            out += [Edge(name, parent, restart=any(k != "volumes_from" for k in keys),
                         via=tuple(keys)) for parent, keys in via.items()]
            edges[name] = out
        return build_graph(edges)

    def with_dependencies(self, names: Iterable[str]) -> list[str]:
        """`names` plus everything they depend on (enabled, required or not)."""
        names = list(names)
        for name in names:
            self.service(name)
        return self.graph.closure(names)

    def start_generations(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """Layers of services whose dependencies (within `names`) are all in earlier layers."""
        return self.graph.start_generations(names)

    def stop_generations(self, names: Iterable[str] | None = None) -> list[list[str]]:
        return self.graph.stop_generations(names)


def config_hash(service: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the service, minus what Compose does not hash."""
    data = {k: v for k, v in service.items() if k not in _UNHASHED}
    deploy = data.get("deploy")
    if isinstance(deploy, Mapping) and "replicas" in deploy:
        data["deploy"] = {k: v for k, v in deploy.items() if k != "replicas"}
        if not data["deploy"]:
            del data["deploy"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _dependencies(value: Any) -> tuple[Dependency, ...]:
    if not value:
        return ()
    if isinstance(value, list):
        return tuple(Dependency(name) for name in value)
    out = []
    for name, cfg in value.items():
        cfg = cfg or {}
        condition = cfg.get("condition", "service_started")
        if condition not in CONDITIONS:
            raise OrchestratorError(f"service dependency {name!r}: unknown condition "
                                    f"{condition!r}")
        out.append(Dependency(name, condition, bool(cfg.get("required", True)),
                              bool(cfg.get("restart", False))))
    return tuple(out)


def _replicas(config: Mapping[str, Any]) -> int:
    scale = config.get("scale")
    if scale is None:
        scale = (config.get("deploy") or {}).get("replicas")
    return 1 if scale is None else int(scale)


def _resource(project: str, key: str, cfg: Mapping[str, Any] | None) -> Resource:
    cfg = dict(cfg or {})
    external = Resource(key, "", cfg).external
    return Resource(key, cfg.get("name") or (key if external else f"{project}_{key}"), cfg)


def from_canonical(name: str, data: Mapping[str, Any], *, working_dir: str = "",
                   config_files: Iterable[str] = (), env_files: Iterable[str] = (),
                   disabled: Iterable[str] = (),
                   hashes: Mapping[str, str] | None = None) -> ProjectSpec:
    """The project from its canonical mapping; `hashes` overrides the config hashes (the model's
    own `config_hash`, when it has one)."""
    services = {}
    for svc_name, cfg in (data.get("services") or {}).items():
        cfg = dict(cfg or {})
        services[svc_name] = ServiceSpec(
            name=svc_name, config=cfg,
            config_hash=(hashes or {}).get(svc_name) or config_hash(cfg),
            replicas=_replicas(cfg), depends_on=_dependencies(cfg.get("depends_on")))
    networks = {}
    used_default = any("default" in s.networks() for s in services.values())
    net_data = dict(data.get("networks") or {})
    if used_default and "default" not in net_data:
        net_data["default"] = {}
    for key, cfg in net_data.items():
        networks[key] = _resource(name, key, cfg)
    volumes = {key: _resource(name, key, cfg) for key, cfg in (data.get("volumes") or {}).items()}
    secrets = {key: _resource(name, key, cfg) for key, cfg in (data.get("secrets") or {}).items()}
    configs = {key: _resource(name, key, cfg) for key, cfg in (data.get("configs") or {}).items()}
    return ProjectSpec(name=name, services=services, networks=networks, volumes=volumes,
                       secrets=secrets, configs=configs,
                       working_dir=working_dir, config_files=tuple(config_files),
                       env_files=tuple(env_files), disabled=frozenset(disabled))
