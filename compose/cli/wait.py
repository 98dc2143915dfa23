"""`pycompose wait SERVICE...`: block until the containers stop; exit with the first code."""
from __future__ import annotations

import os
from typing import List

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Block until containers of the services stop, print their exit codes")
def wait(ctx: typer.Context, services: List[str] = typer.Argument(...),
         down_project: bool = typer.Option(False, "--down-project")) -> int:
    import trio

    from compose.orchestrator import session as S
    from compose.orchestrator.errors import OrchestratorError

    session = S.open_session(ctx.obj, tuple(services), environ=os.environ)
    for name in services:
        session.project.service(name)

    async def go() -> int:
        orch = session.orchestrator()
        chosen = [c for c in await orch.observed(all=True)
                  if c.service in services and not c.oneoff]
        if not chosen:
            raise OrchestratorError(f"no containers for {', '.join(services)}")
        codes: list[int] = []
        async with trio.open_nursery() as nursery:
            async def one(cid: str) -> None:
                result = await orch.gw.blocking(lambda: orch.gw.client().wait(cid))
                codes.append(int(result.get("StatusCode", 0)))
                typer.echo(codes[-1])
                if down_project:
                    nursery.cancel_scope.cancel()
            for c in chosen:
                nursery.start_soon(one, c.id)
        if down_project:
            await orch.down()
        return codes[0] if codes else 0

    try:
        return S.run(go)
    finally:
        session.gateway.close()
