"""`pycompose run SERVICE [CMD...]`: a one-off container with the service's configuration."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Run a one-off command on a service",
             context_settings={"allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    service: str = typer.Argument(...),
    command: Optional[List[str]] = typer.Argument(None),
    detach: bool = typer.Option(False, "-d", "--detach"),
    rm: bool = typer.Option(False, "--rm", help="remove the container when it exits"),
    name: Optional[str] = typer.Option(None, "--name"),
    env: Optional[List[str]] = typer.Option(None, "-e", "--env"),
    entrypoint: Optional[str] = typer.Option(None, "--entrypoint"),
    user: Optional[str] = typer.Option(None, "-u", "--user"),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir"),
    volume: Optional[List[str]] = typer.Option(None, "-v", "--volume"),
    publish: Optional[List[str]] = typer.Option(None, "-p", "--publish"),
    service_ports: bool = typer.Option(False, "-P", "--service-ports"),
    no_deps: bool = typer.Option(False, "--no-deps"),
    use_aliases: bool = typer.Option(False, "--use-aliases"),
    no_tty: bool = typer.Option(False, "-T", "--no-TTY", help="disable pseudo-TTY allocation"),
    interactive: bool = typer.Option(True, "-i", "--interactive", help="keep STDIN open"),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
    build: bool = typer.Option(False, "--build"),
) -> int:
    import shlex

    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import (RunOptions, parse_env, prepare_run, run_attached,
                                             start_or_raise)

    session = S.open_session(ctx.obj, (service,), quiet=quiet, environ=os.environ)
    session.project.service(service)
    opts = RunOptions(
        service=service, command=tuple(command) if command else None, detach=detach, remove=rm,
        name=name, environment=parse_env(env, os.environ),
        entrypoint=tuple(shlex.split(entrypoint)) if entrypoint is not None else None,
        user=user, workdir=workdir, volumes=tuple(_absolute_bind(v) for v in volume or ()),
        ports=tuple(publish or ()),
        service_ports=service_ports, no_deps=no_deps, use_aliases=use_aliases, tty=not no_tty,
        interactive=interactive)
    orch = session.orchestrator()
    try:
        cid, tty, stdin = S.run(lambda: prepare_run(orch, opts))
        client = session.gateway.client()
        if detach:
            start_or_raise(client, cid)
            info = client.inspect_container(cid)
            typer.echo(info.get("Name", cid).lstrip("/"))
            return 0
        waiter = session.gateway.dedicated() if rm else None
        try:
            return run_attached(client, cid, tty, stdin, rm, waiter)
        finally:
            if waiter is not None:
                waiter.close()
    finally:
        session.gateway.close()


def _absolute_bind(spec: str) -> str:
    """`-v ./data:/data`: a relative host path is relative to where `run` was typed."""
    import os

    source, sep, rest = spec.partition(":")
    if sep and source.startswith((".", "~")):
        return f"{os.path.abspath(os.path.expanduser(source))}:{rest}"
    return spec
