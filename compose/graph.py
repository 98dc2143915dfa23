"""The service dependency graph: start order (generations), stop order, cycle errors.

An edge `a -> b` means "a depends on b" (b starts first). Edges come from the canonical
`depends_on`, into which normalization already folded links, volumes_from and `service:x`
namespace modes. networkx is imported only by `dependency_graph` (it is slow to import and
`config` needs only the cycle check, which is plain Python here).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from compose.errors import ComposeError

if TYPE_CHECKING:
    import networkx

    from compose.model import Project


class DependencyCycleError(ComposeError):
    """Services depend on each other in a circle."""


def _edges(project: Project) -> dict[str, list[str]]:
    return {name: [d.service for d in svc.depends_on if d.service in project.services]
            for name, svc in project.services.items()}


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as `[a, b, a]`, or None. Deterministic: services in given order."""
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


def check_cycles(deps: Mapping[str, Iterable[str]]) -> None:
    cycle = find_cycle(deps)
    if cycle:
        raise DependencyCycleError(f"dependency cycle detected: {' -> '.join(cycle)}")


def dependency_graph(project: Project) -> networkx.DiGraph:
    """DiGraph with a node per service and an edge service -> dependency (attribute `dep`:
    the DependsOn). Raises DependencyCycleError on a cycle."""
    import networkx

    edges = _edges(project)
    check_cycles(edges)
    graph = networkx.DiGraph()
    for name, svc in project.services.items():
        graph.add_node(name, service=svc)
        for dep in svc.depends_on:
            if dep.service in project.services:
                graph.add_edge(name, dep.service, dep=dep)
    return graph


def start_generations(project: Project, services: Iterable[str] | None = None) -> list[list[str]]:
    """Services grouped so that every group depends only on earlier groups (dependencies
    first); each group is sorted by name. `services` restricts to those and what they need."""
    edges = _edges(project)
    check_cycles(edges)
    wanted = set(project.services) if services is None else _closure(edges, services)
    remaining = {n: {d for d in edges[n] if d in wanted} for n in wanted}
    generations: list[list[str]] = []
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if not deps)
        generations.append(ready)
        for n in ready:
            del remaining[n]
        for deps in remaining.values():
            deps.difference_update(ready)
    return generations


def stop_generations(project: Project, services: Iterable[str] | None = None) -> list[list[str]]:
    """Reverse of the start order: dependents stop before what they depend on."""
    return list(reversed(start_generations(project, services)))


def _closure(edges: Mapping[str, list[str]], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        n = todo.pop()
        if n in seen or n not in edges:
            continue
        seen.add(n)
        todo.extend(edges[n])
    return seen
