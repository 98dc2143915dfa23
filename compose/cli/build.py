"""`pycompose build`: building images is not supported by the engine yet."""
from __future__ import annotations

from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Build or rebuild services")
def build(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
          no_cache: bool = typer.Option(False, "--no-cache"),
          pull: bool = typer.Option(False, "--pull"),
          build_arg: Optional[List[str]] = typer.Option(None, "--build-arg"),
          quiet: bool = typer.Option(False, "-q", "--quiet")) -> int:
    from compose.orchestrator.errors import NotSupported
    from compose.orchestrator.session import load_spec

    spec = load_spec(ctx.obj, tuple(services or ()))
    buildable = [n for n in (services or spec.services) if spec.service(n).has_build]
    if not buildable:
        return 0   # nothing to build, as in Compose
    raise NotSupported(f"cannot build {', '.join(buildable)}: building images is not "
                       "supported yet")
