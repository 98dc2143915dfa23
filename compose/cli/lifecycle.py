"""`create`, `start`, `stop`, `restart`, `rm`, `kill`, `pause`, `unpause`: one typer app each."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

create_app = typer.Typer(add_completion=False)
start_app = typer.Typer(add_completion=False)
stop_app = typer.Typer(add_completion=False)
restart_app = typer.Typer(add_completion=False)
rm_app = typer.Typer(add_completion=False)
kill_app = typer.Typer(add_completion=False)
pause_app = typer.Typer(add_completion=False)
unpause_app = typer.Typer(add_completion=False)


def _session(ctx: typer.Context, services):
    from compose.orchestrator import session as S

    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)
    for name in services or ():
        session.project.service(name)
    return S, session


def _run(S, session, fn):
    try:
        return S.run(fn)
    finally:
        session.gateway.close()


@create_app.command(help="Create containers for services (like up --no-start)")
def create(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    build: bool = typer.Option(False, "--build"),
    no_build: bool = typer.Option(False, "--no-build"),
    force_recreate: bool = typer.Option(False, "--force-recreate"),
    no_recreate: bool = typer.Option(False, "--no-recreate"),
    remove_orphans: bool = typer.Option(False, "--remove-orphans"),
    scale: Optional[List[str]] = typer.Option(None, "--scale"),
    yes: bool = typer.Option(False, "-y", "--yes"),
) -> int:
    from compose.orchestrator.executor import UpOptions, summarize_failures
    from compose.orchestrator.plan import RecreatePolicy

    S, session = _session(ctx, services)
    S.exclusive(build=build, no_build=no_build)
    S.exclusive(force_recreate=force_recreate, no_recreate=no_recreate)
    policy = (RecreatePolicy.FORCE if force_recreate else
              RecreatePolicy.NEVER if no_recreate else RecreatePolicy.DIVERGED)
    opts = UpOptions(services=tuple(services or ()), policy=policy, start=False,
                     remove_orphans=remove_orphans, scale=S.parse_scale(scale))
    result = _run(S, session, lambda: session.orchestrator().up(opts))
    error = summarize_failures(result)
    if error:
        raise error
    return 0


@start_app.command(help="Start existing containers")
def start(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None)) -> int:
    S, session = _session(ctx, services)
    _run(S, session, lambda: session.orchestrator().start_existing(services or ()))
    return 0


@stop_app.command(help="Stop services (dependents first)")
def stop(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
         timeout: Optional[int] = typer.Option(None, "-t", "--timeout")) -> int:
    S, session = _session(ctx, services)
    _run(S, session, lambda: session.orchestrator().stop(services or (), timeout))
    return 0


@restart_app.command(help="Restart service containers (config changes are not applied)")
def restart(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
            timeout: Optional[int] = typer.Option(None, "-t", "--timeout"),
            no_deps: bool = typer.Option(False, "--no-deps")) -> int:
    S, session = _session(ctx, services)

    async def go() -> None:
        orch = session.orchestrator()
        await orch.stop(services or (), timeout)
        await orch.start_existing(services or ())

    _run(S, session, go)
    return 0


@rm_app.command(help="Remove stopped service containers")
def rm(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
       force: bool = typer.Option(False, "-f", "--force", help="don't ask to confirm"),
       stop: bool = typer.Option(False, "-s", "--stop", help="stop the containers first"),
       volumes: bool = typer.Option(False, "-v", "--volumes", help="remove anonymous volumes")
       ) -> int:
    S, session = _session(ctx, services)
    removed = _run(S, session, lambda: session.orchestrator().remove_stopped(
        services or (), stop=stop, volumes=volumes))
    if not removed:
        session.progress.info("No stopped containers")
    return 0


@kill_app.command(help="Force stop service containers")
def kill(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
         signal: str = typer.Option("SIGKILL", "-s", "--signal"),
         remove_orphans: bool = typer.Option(False, "--remove-orphans")) -> int:
    S, session = _session(ctx, services)
    _run(S, session, lambda: session.orchestrator().kill(services or (), signal))
    return 0


@pause_app.command(help="Pause services")
def pause(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None)) -> int:
    S, session = _session(ctx, services)
    _run(S, session, lambda: session.orchestrator().each("pause", "Paused", services or (),
                                                         ("running",)))
    return 0


@unpause_app.command(help="Unpause services")
def unpause(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None)) -> int:
    S, session = _session(ctx, services)
    _run(S, session, lambda: session.orchestrator().each("unpause", "Unpaused", services or (),
                                                         ("paused",)))
    return 0
