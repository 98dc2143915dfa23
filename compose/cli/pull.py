"""`pycompose pull`: make the services' images present in the engine's store."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Pull service images")
def pull(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
         quiet: bool = typer.Option(False, "-q", "--quiet"),
         ignore_pull_failures: bool = typer.Option(False, "--ignore-pull-failures"),
         ignore_buildable: bool = typer.Option(False, "--ignore-buildable"),
         include_deps: bool = typer.Option(False, "--include-deps"),
         policy: Optional[str] = typer.Option(None, "--policy")) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.errors import OrchestratorError
    from engine.errors import NotFound, PycomposeError

    if policy not in (None, "missing", "always"):
        raise S.UsageError(f"invalid --policy {policy!r}: use missing or always")

    session = S.open_session(ctx.obj, tuple(services or ()), quiet=quiet, environ=os.environ)
    spec = session.project
    names = list(services or spec.services)
    if include_deps:
        names = spec.with_dependencies(names)

    async def go() -> int:
        orch = session.orchestrator()
        failed = []
        for name in names:
            svc = spec.service(name)
            if not svc.image:
                continue   # built, not pulled
            if policy != "always":
                try:
                    await orch.gw.call("inspect_image", svc.image)
                    if policy == "missing":
                        orch.progress.done("Image", svc.image, "Skipped (present)")
                        continue
                except NotFound:
                    pass
            try:
                await orch.gw.call("pull_image", svc.image)
            except PycomposeError as e:
                failed.append(svc.image)
                orch.progress.failed("Image", svc.image, e.message)
                continue
            orch.progress.done("Image", svc.image, "Pulled")
        if failed and not ignore_pull_failures:
            raise OrchestratorError(f"failed to pull {', '.join(failed)}")
        return 0

    try:
        return S.run(go)
    finally:
        session.gateway.close()
