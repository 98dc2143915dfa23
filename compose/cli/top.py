"""`pycompose top`: the processes of each service container."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Display the running processes")
def top(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None)) -> int:
    from compose.orchestrator import labels as L
    from compose.orchestrator import listing
    from compose.orchestrator import session as S

    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)

    async def collect():
        orch = session.orchestrator()
        out = []
        for item in sorted(await orch.containers(all=False), key=lambda i: i["Names"][0]):
            if services and (item.get("Labels") or {}).get(L.SERVICE) not in services:
                continue
            out.append((item["Names"][0].lstrip("/"), await orch.gw.call("top", item["Id"])))
        return out

    try:
        results = S.run(collect)
    finally:
        session.gateway.close()
    blocks = [f"{name}\n" + listing.table(t.get("Titles") or [], t.get("Processes") or [])
              for name, t in results]
    if blocks:
        typer.echo("\n\n".join(blocks))
    return 0
