"""`pycompose stats [SERVICE...]`: resource use of the project's containers (as `container
stats`: a live table, or one sample with --no-stream; --format json|TEMPLATE)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Display a live stream of container(s) resource usage statistics")
def stats(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    all_: bool = typer.Option(False, "-a", "--all", help="Show all containers (default shows "
                                                         "just running)"),
    no_stream: bool = typer.Option(False, "--no-stream", help="Disable streaming stats and "
                                                              "only pull the first result"),
    format_: Optional[str] = typer.Option(None, "--format", help="json, or a Go template"),
) -> int:
    from compose.orchestrator import labels as L
    from compose.orchestrator import session as S
    from engine.client.cli.container_files import render_stats, stats_rows
    from engine.client.cli.stats_view import host_memory

    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)
    memory = host_memory(Path("/proc/meminfo").read_text())
    try:
        client = session.gateway.client()
        items = sorted(client.containers(all=all_, filters=L.filters(session.project.name)),
                       key=lambda i: i["Names"][0])
        names = [i["Names"][0].lstrip("/") for i in items
                 if not services or (i.get("Labels") or {}).get(L.SERVICE) in services]
        while True:
            lines = render_stats(stats_rows(client, names, memory), format_)
            if no_stream:
                if lines:
                    typer.echo("\n".join(lines))
                return 0
            sys.stdout.write("\x1b[2J\x1b[H" + "\n".join(lines) + "\n")
            sys.stdout.flush()
            time.sleep(0.1)
    except KeyboardInterrupt:
        return 0
    finally:
        session.gateway.close()
