"""`pycompose graph [SERVICE...]`: the project's dependency graph — the one `up` orders by —
as a tree in the terminal, or `--format dot|mermaid|json`.

The renderers are pure functions of a `ServiceGraph` (text out); the command only loads the
project (no engine is needed) and prints.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, List, Optional

import typer

if TYPE_CHECKING:
    from rich.tree import Tree

    from compose.graph import Edge, ServiceGraph

app = typer.Typer(add_completion=False)

FORMATS = ("tree", "dot", "mermaid", "json")


@app.command(help="Show the services' dependency graph and their start order")
def graph(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None, help="only these and their dependencies"),
    format: str = typer.Option("tree", "--format", help="tree|dot|mermaid|json"),
) -> int:
    from compose.orchestrator import session as S

    if format not in FORMATS:
        raise S.UsageError(f"invalid --format value {format!r}: expected one of "
                           f"{', '.join(FORMATS)}")
    names = list(services or [])
    spec = S.load_spec(ctx.obj, tuple(names), environ=os.environ)
    for name in names:
        spec.service(name)
    g = spec.graph
    shown = g.closure(names) if names else list(g.services)
    cycle = g.cycle()
    if cycle:   # the loader refuses these already; a graph made otherwise says so too
        from compose.graph import DependencyCycleError

        raise DependencyCycleError(f"dependency cycle detected: {' -> '.join(cycle)}")
    if format == "json":
        typer.echo(json.dumps(to_json(spec.name, g, shown), indent=2))
    elif format == "dot":
        typer.echo(to_dot(spec.name, g, shown), nl=False)
    elif format == "mermaid":
        typer.echo(to_mermaid(g, shown), nl=False)
    else:
        from rich.console import Console

        console = Console(highlight=False, no_color=ctx.obj.no_color or None, soft_wrap=True)
        console.print(to_tree(spec.name, g, shown))
        for line in generation_lines(g, shown):
            console.print(line, markup=False)
    return 0


def _edges(g: ServiceGraph, shown: list[str]) -> list[Edge]:
    wanted = set(shown)
    return [e for e in g.edges() if e.service in wanted and e.dependency in wanted]


def _edge_json(e: Edge) -> dict:
    return {"service": e.service, "depends_on": e.dependency, "condition": e.condition,
            "required": e.required, "restart": e.restart, "via": list(e.via)}


def to_json(project: str, g: ServiceGraph, shown: list[str]) -> dict:
    """Everything the tree shows, as data: the edges point from a service to what it needs."""
    generations = g.start_generations(shown)
    wanted = set(shown)
    return {
        "project": project,
        "services": shown,
        "dependencies": [_edge_json(e) for e in _edges(g, shown)],
        "skipped": [_edge_json(e) for e in g.absent() if e.service in wanted],
        "start_generations": generations,
        "stop_generations": list(reversed(generations)),
    }


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(project: str, g: ServiceGraph, shown: list[str]) -> str:
    """Graphviz: an arrow from each service to what it depends on, labelled with the
    condition; services of one start generation on one rank."""
    lines = [f"digraph {_quote(project)} {{", "  rankdir=BT;"]
    lines += [f"  {_quote(name)};" for name in shown]
    for i, gen in enumerate(g.start_generations(shown), 1):
        members = " ".join(f"{_quote(n)};" for n in gen)
        lines.append(f"  subgraph {_quote(f'generation {i}')} {{ rank=same; {members} }}")
    for e in _edges(g, shown):
        lines.append(f"  {_quote(e.service)} -> {_quote(e.dependency)} "
                     f"[label={_quote(e.describe())}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: ServiceGraph, shown: list[str]) -> str:
    """A mermaid flowchart; node ids are generated (service names may hold `.` or `-`,
    which mermaid reads as syntax) and labelled with the name."""
    ids = {name: f"s{i}" for i, name in enumerate(shown)}
    lines = ["flowchart BT"]
    for i, gen in enumerate(g.start_generations(shown), 1):
        lines.append(f"  %% start generation {i}: {', '.join(gen)}")
    lines += [f'  {ids[name]}["{name}"]' for name in shown]
    for e in _edges(g, shown):
        lines.append(f'  {ids[e.service]} -->|"{e.describe()}"| {ids[e.dependency]}')
    return "\n".join(lines) + "\n"


def to_tree(project: str, g: ServiceGraph, shown: list[str]) -> Tree:
    """Each service nothing depends on is a root, its dependencies below it with the edge's
    condition; a service met again is not expanded twice."""
    from rich.text import Text
    from rich.tree import Tree

    wanted = set(shown)
    root = Tree(Text(f"project {project}", style="bold"))
    expanded: set[str] = set()

    def add(parent: Tree, name: str, label: Text) -> None:
        deps = [e for e in g.dependencies(name) if e.dependency in wanted]
        skipped = g.absent(name)
        if name in expanded and (deps or skipped):
            label.append(" (dependencies above)", style="dim")
            parent.add(label)
            return
        node = parent.add(label)
        expanded.add(name)
        for e in deps:
            add(node, e.dependency, Text.assemble((e.dependency, "bold"), f"  ({e.describe()})"))
        for e in skipped:
            node.add(Text.assemble(e.dependency, f"  ({e.describe()}; not enabled: skipped)",
                                   style="dim"))

    for name in shown:
        if not any(e.service in wanted for e in g.dependents(name)):
            add(root, name, Text(name, style="bold"))
    return root


def generation_lines(g: ServiceGraph, shown: list[str]) -> list[str]:
    lines = ["start generations:"]
    lines += [f"  {i}. {', '.join(gen)}" for i, gen in enumerate(g.start_generations(shown), 1)]
    return lines
