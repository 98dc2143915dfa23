"""`pycompose kube play FILE|DIR...` and `pycompose kube down FILE|DIR...`: Kubernetes
manifests run as a compose project on our engine (docs/kube-play.md)."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, help="Run Kubernetes manifests on this machine")


def _project(ctx: typer.Context, given: str | None) -> str | None:
    return given or getattr(ctx.obj, "project_name", None)


def _warn(warnings) -> None:
    for w in warnings:
        sys.stderr.write(f"WARN[0000] {w}\n")


@app.command(help="Run the Pods, Deployments, StatefulSets and Jobs of manifests (with their "
                  "Services, ConfigMaps, Secrets and PersistentVolumeClaims)")
def play(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., metavar="FILE|DIR..."),
    project_name: Optional[str] = typer.Option(None, "-p", "--project-name",
                                               help="project name (default: the first "
                                                    "workload's name)"),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="print the compose file kube play would run; run nothing"),
    wait: bool = typer.Option(False, "--wait", help="wait for the pods to be running|healthy"),
) -> int:
    from compose.kube import play as P

    plan = P.load_plan(paths, _project(ctx, project_name))
    _warn(plan.warnings)
    if dry_run:
        sys.stdout.write(P.render(plan))
        return 0
    return P.play(plan, ["-d"] + (["--wait"] if wait else []))


@app.command(help="Remove what `kube play` made from these manifests (or, with -p and no "
                  "manifests, what it made for that project)")
def down(
    ctx: typer.Context,
    paths: Optional[List[str]] = typer.Argument(None, metavar="[FILE|DIR...]"),
    project_name: Optional[str] = typer.Option(None, "-p", "--project-name"),
    volumes: bool = typer.Option(False, "-v", "--volumes",
                                 help="remove the PersistentVolumeClaims' volumes too"),
    timeout: Optional[int] = typer.Option(None, "-t", "--timeout", help="shutdown timeout (s)"),
) -> int:
    from compose.errors import ComposeError
    from compose.kube import play as P

    project = _project(ctx, project_name)
    if not paths:
        if not project:
            raise ComposeError("kube down needs the manifests (FILE|DIR) or a project name (-p)")
        return P.down(project, volumes=volumes, timeout=timeout)
    plan = P.load_plan(paths, project)
    return P.down(plan.project, plan, volumes=volumes, timeout=timeout)
