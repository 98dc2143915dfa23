"""`pycompose exec SERVICE CMD...`: run a command in a running service container."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Execute a command in a running container",
             context_settings={"allow_interspersed_args": False})
def exec_(
    ctx: typer.Context,
    service: str = typer.Argument(...),
    command: List[str] = typer.Argument(...),
    detach: bool = typer.Option(False, "-d", "--detach"),
    no_tty: bool = typer.Option(False, "-T", "--no-TTY"),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env"),
    user: Optional[str] = typer.Option(None, "-u", "--user"),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir"),
    index: int = typer.Option(0, "--index", help="replica (default: the first)"),
    privileged: bool = typer.Option(False, "--privileged"),
    interactive: bool = typer.Option(True, "-i", "--interactive"),
) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import exec_in, find_replica, parse_env

    session = S.open_session(ctx.obj, (service,), environ=os.environ)
    session.project.service(service)
    orch = session.orchestrator()
    try:
        target = S.run(lambda: find_replica(orch, service, index or None, running=True))
        return exec_in(session.gateway.client(), target.id, list(command), detach=detach,
                       tty=not no_tty, env=parse_env(env, os.environ), user=user, workdir=workdir,
                       privileged=privileged, interactive=interactive)
    finally:
        session.gateway.close()
