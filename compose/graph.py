"""The service dependency graph: one networkx DiGraph per project decides what starts before
what — start generations, stop order, the dependencies `up SERVICE` and `run` bring along,
which dependents restart with a dependency — and is what `pycompose graph` draws.

Edges run from a dependency to its dependent (`db -> api` when api depends on db), so a
topological generation of the graph is a start generation. Every edge carries an `Edge`: the
`depends_on` condition, `required` and `restart`, and the namespace keys (`network_mode:
service:x`, `ipc`, `pid`, `uts`, `cgroup`, `volumes_from`) through which the dependent joins the
dependency. A dependency that is not in the project (an optional one whose profile is off) is no
node: it is kept apart (`absent`) so that `up` can say it skipped it.

networkx costs 0.1–0.2 s to import, so it is imported when a graph is built (the warm CLI has it
preloaded), never at module import: `config` needs only the loader's cycle check, `find_cycle`
below, which validates the file before any graph exists and must stay free of networkx.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compose.errors import ComposeError

if TYPE_CHECKING:
    import networkx

STARTED = "service_started"
COMPLETED = "service_completed_successfully"


class DependencyCycleError(ComposeError):
    """Services depend on each other in a circle."""


class UnknownServiceError(ComposeError):
    """A service name that is not in the graph."""


@dataclass(frozen=True)
class Edge:
    """`service` depends on `dependency` (so `dependency` starts first)."""

    service: str
    dependency: str
    condition: str = STARTED
    required: bool = True
    restart: bool = False
    via: tuple[str, ...] = ()   # namespace keys joining the dependency (network_mode, ...)

    def describe(self) -> str:
        """The edge's label: its condition, then what else sets it apart."""
        parts = [self.condition]
        if self.restart:
            parts.append("restart")
        if not self.required:
            parts.append("optional")
        parts += [f"via {key}" for key in self.via]
        return ", ".join(parts)


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as `[a, b, a]` (a depends on b depends on a), or None; services
    visited in the given order. The loader's check: plain Python, so `config` does not pay
    for networkx."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def build_graph(edges: Mapping[str, Sequence[Edge]]) -> ServiceGraph:
    """The graph of the services in `edges` (in project order, each with its dependencies as
    declared). Edges to services outside `edges` become `absent`."""
    import networkx

    graph = networkx.DiGraph()
    graph.add_nodes_from(edges)
    absent: list[Edge] = []
    for name, service_edges in edges.items():
        for edge in service_edges:
            if edge.service != name:
                raise ValueError(f"edge {edge} listed under {name!r}")
            if edge.dependency in edges:
                graph.add_edge(edge.dependency, name, edge=edge)
            else:
                absent.append(edge)
    return ServiceGraph(graph, tuple(edges), tuple(absent))


class ServiceGraph:
    """A project's dependency graph and every ordering decision made from it. Results list
    services in project order (the order of the compose file), also within a generation."""

    def __init__(self, graph: networkx.DiGraph, order: tuple[str, ...],
                 absent: tuple[Edge, ...] = ()) -> None:
        self._graph = graph
        self._order = order
        self._index = {name: i for i, name in enumerate(order)}
        self._absent = absent

    @property
    def services(self) -> tuple[str, ...]:
        return self._order

    @property
    def digraph(self) -> networkx.DiGraph:
        """The networkx graph itself (edges dependency -> dependent, attribute `edge`)."""
        return self._graph

    def _check(self, names: Iterable[str]) -> list[str]:
        names = list(dict.fromkeys(names))
        for name in names:
            if name not in self._index:
                raise UnknownServiceError(f"no such service: {name}")
        return names

    def _sorted(self, names: Iterable[str]) -> list[str]:
        return sorted(names, key=self._index.__getitem__)

    # -- edges --------------------------------------------------------------------------------

    def edges(self) -> list[Edge]:
        """Every dependency inside the project, by dependent in project order."""
        return [edge for name in self._order for edge in self.dependencies(name)]

    def dependencies(self, name: str) -> tuple[Edge, ...]:
        """What `name` depends on inside the project, as declared."""
        return tuple(data["edge"] for data in self._graph.pred[name].values())

    def dependents(self, name: str) -> tuple[Edge, ...]:
        """The edges of the services that depend on `name`."""
        return tuple(data["edge"] for data in self._graph.succ[name].values())

    def absent(self, name: str | None = None) -> tuple[Edge, ...]:
        """Dependencies on services the project does not have enabled (skipped by `up`)."""
        return tuple(e for e in self._absent if name is None or e.service == name)

    def restart_triggers(self, name: str) -> tuple[str, ...]:
        """Dependencies whose (re)start restarts `name` (`depends_on: {x: {restart: true}}`)."""
        return tuple(e.dependency for e in self.dependencies(name) if e.restart)

    def awaited_as(self, name: str, condition: str) -> bool:
        """Whether some service waits for `name` with `condition`."""
        return any(e.condition == condition for e in self.dependents(name))

    # -- orderings ----------------------------------------------------------------------------

    def closure(self, names: Iterable[str]) -> list[str]:
        """`names` plus everything they depend on, transitively (what `up SERVICE` starts)."""
        import networkx

        wanted = set(self._check(names))
        for name in list(wanted):
            wanted |= networkx.ancestors(self._graph, name)
        return self._sorted(wanted)

    def start_generations(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """Groups of services whose dependencies (among `names`, default all) are all in
        earlier groups. A service outside `names` is ignored, also as a dependency (--no-deps)."""
        import networkx

        wanted = self._order if names is None else self._check(names)
        sub = self._graph.subgraph(wanted)
        try:
            return [self._sorted(gen) for gen in networkx.topological_generations(sub)]
        except networkx.NetworkXUnfeasible:
            raise DependencyCycleError(
                f"dependency cycle detected: {' -> '.join(self._cycle(sub))}") from None

    def stop_generations(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """The start generations reversed: dependents stop before what they depend on."""
        return list(reversed(self.start_generations(names)))

    def start_order(self, names: Iterable[str] | None = None) -> list[str]:
        return [name for gen in self.start_generations(names) for name in gen]

    def cycle(self) -> list[str] | None:
        """A dependency cycle as `[a, b, a]` (a depends on b depends on a), or None."""
        import networkx

        try:
            return self._cycle(self._graph)
        except networkx.NetworkXNoCycle:
            return None

    def _cycle(self, graph: networkx.DiGraph) -> list[str]:
        import networkx

        edges = networkx.find_cycle(graph, source=self._sorted(graph.nodes))
        # edges run dependency -> dependent: walking them backwards reads "depends on"
        path = [edges[0][0]] + [v for _, v in edges]
        path = list(reversed(path))[:-1]
        first = min(range(len(path)), key=lambda i: self._index[path[i]])
        path = path[first:] + path[:first]
        return path + [path[0]]
