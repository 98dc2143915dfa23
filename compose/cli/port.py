"""`pycompose port SERVICE PRIVATE_PORT`: the public binding of a published port."""
from __future__ import annotations

import os

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Print the public port for a port binding")
def port(
    ctx: typer.Context,
    service: str = typer.Argument(...),
    private_port: int = typer.Argument(...),
    protocol: str = typer.Option("tcp", "--protocol"),
    index: int = typer.Option(0, "--index", help="replica (default: the first)"),
) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.errors import OrchestratorError
    from compose.orchestrator.oneoff import find_replica

    session = S.open_session(ctx.obj, (service,), environ=os.environ)
    session.project.service(service)

    async def lookup():
        orch = session.orchestrator()
        c = await find_replica(orch, service, index or None)
        return await orch.gw.call("port", c.id)

    try:
        ports = S.run(lookup)
    finally:
        session.gateway.close()
    bindings = ports.get(f"{private_port}/{protocol}") or []
    if not bindings:
        raise OrchestratorError(f"no port {private_port}/{protocol} for container "
                                f"{service}: is it published?")
    b = bindings[0]
    typer.echo(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return 0
