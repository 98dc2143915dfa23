"""`pycompose build`: build the images of services with `build:` through the engine."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Build or rebuild services")
def build(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
          no_cache: bool = typer.Option(False, "--no-cache"),
          pull: bool = typer.Option(False, "--pull", help="always pull newer base images"),
          build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", help="KEY=VALUE"),
          quiet: bool = typer.Option(False, "-q", "--quiet"),
          with_dependencies: bool = typer.Option(False, "--with-dependencies")) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import parse_env

    args = parse_env(build_arg, os.environ)  # `--build-arg K` takes K from our environment, as `-e K`
    session = S.open_session(ctx.obj, tuple(services or ()), quiet=quiet, environ=os.environ)
    spec = session.project
    names = list(services or spec.services)
    for name in names:
        spec.service(name)
    if with_dependencies:
        names = spec.with_dependencies(names)
    try:
        S.run(lambda: session.orchestrator().build(names, always=True, no_cache=no_cache,
                                                   pull=pull, args=args))
    finally:
        session.gateway.close()
    return 0
