"""`pycompose logs`: the output of the project's containers, interleaved."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="View output from containers")
def logs(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    follow: bool = typer.Option(False, "-f", "--follow"),
    tail: str = typer.Option("all", "-n", "--tail", help="lines from the end of each log"),
    timestamps: bool = typer.Option(False, "-t", "--timestamps"),
    since: Optional[str] = typer.Option(None, "--since"),
    until: Optional[str] = typer.Option(None, "--until"),
    no_color: bool = typer.Option(False, "--no-color"),
    no_log_prefix: bool = typer.Option(False, "--no-log-prefix"),
    index: Optional[int] = typer.Option(None, "--index"),
) -> int:
    from compose.logprinter import LogStyle, use_colour
    from compose.orchestrator import session as S
    from compose.orchestrator.logs import run_logs

    if tail != "all" and not tail.isdigit():
        raise S.UsageError(f"invalid --tail value {tail!r}: a number or 'all'")
    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)
    for name in services or ():
        session.project.service(name)
    style = LogStyle(colour=use_colour(no_color or ctx.obj.no_color, 1, os.environ),
                     prefix=not no_log_prefix)
    try:
        return S.run(lambda: run_logs(session, list(services or ()), style=style, follow=follow,
                                      tail=None if tail == "all" else tail,
                                      timestamps=timestamps, since=since, until=until,
                                      index=index))
    finally:
        session.gateway.close()
