"""`pycompose ps`: list the project's containers."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="List containers")
def ps(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    all_: bool = typer.Option(False, "-a", "--all", help="include stopped and one-off containers"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="only IDs"),
    list_services: bool = typer.Option(False, "--services", help="only service names"),
    format: str = typer.Option("table", "--format", help="table or json"),
    status: Optional[List[str]] = typer.Option(None, "--status"),
) -> int:
    from compose.orchestrator import labels as L
    from compose.orchestrator import listing
    from compose.orchestrator import session as S

    if format not in ("table", "json"):
        raise S.UsageError(f"invalid --format {format!r}: use table or json")
    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)
    for name in services or ():
        session.project.service(name)
    try:
        items = session.containers(all=all_ or bool(status))
    finally:
        session.gateway.close()
    wanted = set(services or ())
    items = [i for i in items
             if (not wanted or (i.get("Labels") or {}).get(L.SERVICE) in wanted)
             and (all_ or not L.is_oneoff(i.get("Labels") or {}))
             and listing.matches_status(i, status or ())]
    items.sort(key=lambda i: (i.get("Names") or [""])[0])
    if quiet:
        out = [i["Id"] for i in items]
    elif list_services:
        out = list(dict.fromkeys((i.get("Labels") or {}).get(L.SERVICE, "") for i in items))
    elif format == "json":
        out = [listing.ps_json(i) for i in items]
    else:
        out = [listing.table(listing.PS_HEADERS, listing.ps_rows(items))]
    if out:
        typer.echo("\n".join(out))
    return 0
