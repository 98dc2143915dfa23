"""`pycompose attach SERVICE`: attach the terminal to a service container's stdio (as
`container attach`, on the replica --index names)."""
from __future__ import annotations

import os

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Attach local standard input, output, and error streams to a service's "
                  "running container")
def attach(
    ctx: typer.Context,
    service: str = typer.Argument(...),
    index: int = typer.Option(0, "--index", help="replica (default: the first)"),
    no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not attach STDIN"),
) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import find_replica
    from engine.client.cli import container

    session = S.open_session(ctx.obj, (service,), environ=os.environ)
    session.project.service(service)
    try:
        found = S.run(lambda: find_replica(session.orchestrator(), service, index or None,
                                           running=True))
    finally:
        session.gateway.close()
    # the engine form does the rest (raw terminal, window size, signals, exit code)
    container.attach(name=found.id, no_stdin=no_stdin)
    return 0
