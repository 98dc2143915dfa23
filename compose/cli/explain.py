"""`pycompose explain SERVICE|CONTAINER`: what makes a service's container a container (image
layers, processes, namespaces, cgroup, network, mounts), as a tree or `--format json`.

A name that is a service of the project means that service's container (`--index` picks the
replica); anything else, or no compose file at all, is taken as a container name or id, so
`explain` also works on containers `container run` made."""
from __future__ import annotations

import os

import typer

app = typer.Typer(add_completion=False)


def _is_service(opts, name: str) -> bool:
    from compose.orchestrator import session as S
    from engine.errors import PycomposeError

    try:
        spec = S.load_spec(opts, environ=os.environ)
    except PycomposeError as e:
        if "no configuration file" in e.message:
            return False
        raise
    return name in spec.services


@app.command(help="Show a container's image layers, processes, namespaces, cgroup and network")
def explain(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="service (its container) or container name/id"),
    index: int = typer.Option(0, "--index", help="replica of the service (default: the first)"),
    format: str = typer.Option("tree", "--format", help="tree or json"),
) -> int:
    from engine.client.cli.explain import check_format, print_explain

    fmt = check_format(format)
    if not _is_service(ctx.obj, target):
        from engine.client import Client

        with Client.from_env(autostart=True) as client:
            print_explain(client.explain(target), fmt)
        return 0
    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import find_replica

    session = S.open_session(ctx.obj, (target,), environ=os.environ)

    async def lookup():
        orch = session.orchestrator()
        c = await find_replica(orch, target, index or None)
        return await orch.gw.call("explain", c.id)

    try:
        doc = S.run(lookup)
    finally:
        session.gateway.close()
    print_explain(doc, fmt)
    return 0
