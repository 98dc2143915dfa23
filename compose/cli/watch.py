"""`pycompose watch [SERVICE...]`: bring the services up (unless --no-up), then apply their
`develop.watch` rules to file changes until Ctrl-C (compose/orchestrator/watcher.py)."""
from __future__ import annotations

import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Watch the build context of services and sync, restart or rebuild them "
                  "when files change")
def watch(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    no_up: bool = typer.Option(False, "--no-up", help="don't build and start the services "
                                                      "before watching"),
    timeout: Optional[int] = typer.Option(None, "-t", "--timeout",
                                          help="stop timeout (s) for restarts and recreates"),
    prune: bool = typer.Option(True, "--prune/--no-prune",
                               help="remove the image a rebuild replaced (when unused)"),
) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.executor import UpOptions
    from compose.orchestrator.watch import Action
    from compose.orchestrator.watcher import load_rules, run_watch

    session = S.open_session(ctx.obj, tuple(services or ()), environ=os.environ)
    try:
        rules = load_rules(session.project, list(services or ()))
        # as Compose: services with a rebuild rule start from a fresh build (cached steps
        # stay cached), the rest from the images they have
        build = True if any(r.action is Action.REBUILD for r in rules) else None
        up = None if no_up else UpOptions(services=tuple(services or ()), timeout=timeout,
                                          build=build)
        try:
            return S.run(lambda: run_watch(session, rules, up=up, timeout=timeout,
                                         prune=prune))
        except KeyboardInterrupt:
            return 0   # Ctrl-C ends the watch; the containers keep running, as in Compose
    finally:
        session.gateway.close()
