"""`pycompose ls`: the projects the engine has containers for (found by label)."""
from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command(help="List running compose projects")
def ls(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "-a", "--all", help="include stopped projects"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="only names"),
    format: str = typer.Option("table", "--format", help="table or json"),
) -> int:
    from compose.orchestrator import labels as L
    from compose.orchestrator import listing
    from compose.orchestrator.session import UsageError
    from engine.client import Client

    if format not in ("table", "json"):
        raise UsageError(f"invalid --format {format!r}: use table or json")
    with Client.from_env(autostart=True) as client:
        items = client.containers(all=True, filters={"label": [L.PROJECT]})
    rows = listing.projects(items)
    if not all_:
        rows = [r for r in rows if "running" in r[1]]
    if quiet:
        out = "\n".join(r[0] for r in rows)
    elif format == "json":
        out = json.dumps([{"Name": n, "Status": s, "ConfigFiles": f} for n, s, f in rows])
    else:
        out = listing.table(("NAME", "STATUS", "CONFIG FILES"), rows)
    if out:
        typer.echo(out)
    return 0
