"""What the orchestrator needs to know about a project, read from the typed model. Pure.

The orchestrator's only input is `compose.model.Project` (built by compose/project.py's
pipeline): this module derives what planning and ordering ask of it (which networks and volumes
a service uses, the namespaces it joins, its replicas and config hash, engine names of the
top-level resources) and adds no parsing of its own.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Union

from compose.model import FileObject, MountType, Network, Project, Service, Volume, config_hash
from compose.orchestrator.errors import NoSuchService

if TYPE_CHECKING:
    from compose.graph import ServiceGraph


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    model: Service
    config_hash: str
    replicas: int = 1
    depends_on: tuple[Dependency, ...] = ()

    @property
    def container_name(self) -> str | None:
        return self.model.container_name

    @property
    def image(self) -> str | None:
        return self.model.image

    @property
    def has_build(self) -> bool:
        return self.model.build is not None

    @property
    def namespace_refs(self) -> tuple[tuple[str, str], ...]:
        """(key, service) for each `service:X` namespace and `volumes_from` this one joins."""
        out = []
        for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
            value = getattr(self.model, key) or ""
            if value.startswith("service:"):
                out.append((key, value.split(":", 1)[1]))
        for item in self.model.volumes_from:
            if not item.startswith("container:"):
                out.append(("volumes_from", item.split(":", 1)[0]))
        return tuple(out)

    @property
    def namespace_parents(self) -> tuple[str, ...]:
        """Services whose namespaces or volumes this one joins (`service:X`)."""
        return tuple(dict.fromkeys(parent for _, parent in self.namespace_refs))

    def networks(self) -> list[str]:
        """The network keys it attaches to; none with a network_mode, and the project's
        default network when it names none (Compose's normalization adds it)."""
        if self.model.network_mode:
            return []
        return [n.network for n in self.model.networks] or ["default"]

    def named_volumes(self) -> list[str]:
        return [v.source for v in self.model.volumes if v.type is MountType.VOLUME and v.source]


TopLevel = Union[Network, Volume, FileObject]


@dataclass(frozen=True)
class Resource:
    """A top-level network, volume, secret or config: its key, engine name and model."""

    key: str
    name: str
    model: TopLevel | None = None

    @property
    def external(self) -> bool:
        return bool(self.model is not None and self.model.external)


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


def service_spec(service: Service) -> ServiceSpec:
    deps = tuple(Dependency(d.service, d.condition.value, d.required, d.restart)
                 for d in service.depends_on)
    return ServiceSpec(name=service.name, model=service, config_hash=config_hash(service),
                       replicas=service.replicas, depends_on=deps)


def from_model(project: Project, *, env_files: Iterable[str] = ()) -> ProjectSpec:
    """The orchestrator's view of a loaded project."""
    services = {name: service_spec(svc) for name, svc in project.services.items()}
    networks = {k: Resource(k, n.name, n) for k, n in project.networks.items()}
    if "default" not in networks and any("default" in s.networks() for s in services.values()):
        # a hand-made project that leaves the default network out (normalization adds it)
        networks["default"] = Resource("default", f"{project.name}_default",
                                       Network(key="default", name=f"{project.name}_default"))
    return ProjectSpec(
        name=project.name, services=services, networks=networks,
        volumes={k: Resource(k, v.name, v) for k, v in project.volumes.items()},
        secrets={k: Resource(k, f.name, f) for k, f in project.secrets.items()},
        configs={k: Resource(k, f.name, f) for k, f in project.configs.items()},
        working_dir=project.working_dir, config_files=project.config_files,
        env_files=tuple(env_files), disabled=frozenset(project.disabled_services))


def from_canonical(name: str, data: Mapping[str, Any], *, working_dir: str = "",
                   config_files: Iterable[str] = (), env_files: Iterable[str] = (),
                   disabled: Iterable[str] = ()) -> ProjectSpec:
    """The view of a project given as its canonical mapping (tests, tools): read into the
    model first, so it is the same reading `up` gets."""
    project = Project.from_canonical({**data, "name": name}, working_dir=working_dir,
                                     config_files=tuple(config_files))
    return replace(from_model(project, env_files=env_files), disabled=frozenset(disabled))
