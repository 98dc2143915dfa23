"""`pycompose scale SERVICE=REPLICAS...`: set services' replica counts (what `up -d --scale`
does for just those services)."""
from __future__ import annotations

from typing import List

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Scale services")
def scale(
    ctx: typer.Context,
    pairs: List[str] = typer.Argument(..., metavar="SERVICE=REPLICAS..."),
    no_deps: bool = typer.Option(False, "--no-deps", help="Don't start linked services"),
) -> int:
    from compose.cli.up import up
    from compose.orchestrator import session as S

    scales = S.parse_scale(pairs)   # checks each SERVICE=NUM
    return up(ctx, services=list(scales), detach=True, build=False, no_build=False, pull=None,
              force_recreate=False, no_recreate=False, no_deps=no_deps, no_start=False,
              remove_orphans=False, scale=list(pairs), abort_on_container_exit=False,
              exit_code_from=None, wait=False, wait_timeout=None, timeout=None,
              timestamps=False, no_color=False, no_log_prefix=False, attach_services=None,
              no_attach=None, quiet_pull=False, yes=False, watch=False)
