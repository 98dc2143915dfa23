"""`pycompose cp SERVICE:SRC DEST` and `pycompose cp SRC SERVICE:DEST`: copy files between a
service container and the local file system (the engine's archive endpoints, as `container cp`)."""
from __future__ import annotations

import os

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Copy files/folders between a service container and the local filesystem")
def cp(
    ctx: typer.Context,
    src: str = typer.Argument(..., help="SERVICE:SRC_PATH or a local path"),
    dest: str = typer.Argument(..., help="SERVICE:DEST_PATH or a local path"),
    index: int = typer.Option(0, "--index", help="replica (default: the first)"),
    follow_link: bool = typer.Option(False, "-L", "--follow-link",
                                     help="Follow a symlink given as the source"),
    archive: bool = typer.Option(False, "-a", "--archive",
                                 help="Archive mode (copy all uid/gid information)"),
) -> int:
    from compose.orchestrator import session as S
    from compose.orchestrator.oneoff import find_replica
    from engine.client.cli import copy

    source, target = copy.parse_endpoint(src), copy.parse_endpoint(dest)
    service = source.container or target.container
    if service is None or (source.container and target.container):
        raise copy.CopyError("cp: exactly one side must be SERVICE:PATH")
    session = S.open_session(ctx.obj, (service,), environ=os.environ)
    session.project.service(service)

    async def lookup():
        return await find_replica(session.orchestrator(), service, index or None)

    try:
        container = S.run(lookup)
        # the same copy as `container cp`, with the service replaced by its container's id
        source = copy.Endpoint(source.path, container.id if source.container else None)
        target = copy.Endpoint(target.path, container.id if target.container else None)
        copy.copy(session.gateway.client(), source, target, follow=follow_link,
                  archive=archive)
    finally:
        session.gateway.close()
    return 0
