"""`pycompose down`: stop and remove containers, networks (and with -v volumes)."""
from __future__ import annotations

import os
from typing import Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Stop and remove containers, networks")
def down(
    ctx: typer.Context,
    volumes: bool = typer.Option(False, "-v", "--volumes", help="remove named volumes too"),
    rmi: Optional[str] = typer.Option(None, "--rmi", help="remove images: local|all"),
    remove_orphans: bool = typer.Option(False, "--remove-orphans"),
    timeout: Optional[int] = typer.Option(None, "-t", "--timeout"),
) -> int:
    from compose.orchestrator import session as S

    if rmi not in (None, "local", "all"):
        raise S.UsageError(f"invalid --rmi value {rmi!r}: use local or all")
    session = S.open_session(ctx.obj, project_only=True, environ=os.environ)
    try:
        remove_orphans = remove_orphans or S.env_flag(os.environ, "COMPOSE_REMOVE_ORPHANS")
        if timeout == 0:   # removals overlap the executor's imports
            session.start_removal(remove_orphans=remove_orphans, volumes=volumes)
        S.run(lambda: session.orchestrator().down(remove_orphans=remove_orphans,
                                                  volumes=volumes, rmi=rmi, timeout=timeout))
    finally:
        session.gateway.close()
    return 0
