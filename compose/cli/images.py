"""`pycompose images`: the images the project's containers use."""
from __future__ import annotations

import json
import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="List images used by the created containers")
def images(
    ctx: typer.Context,
    services: Optional[List[str]] = typer.Argument(None),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
    format: str = typer.Option("table", "--format"),
) -> int:
    from compose.orchestrator import labels as L
    from compose.orchestrator import listing
    from compose.orchestrator import session as S
    from engine.errors import NotFound

    session = S.open_session(ctx.obj, tuple(services or ()), project_only=True, environ=os.environ)

    async def collect() -> list[tuple[str, str, str, str, str]]:
        orch = session.orchestrator()
        rows = []
        cache: dict[str, dict] = {}
        for item in sorted(await orch.containers(all=True), key=lambda i: i["Names"][0]):
            labels = item.get("Labels") or {}
            if services and labels.get(L.SERVICE) not in services:
                continue
            ref = item.get("ImageID") or item.get("Image", "")
            if ref not in cache:
                try:
                    cache[ref] = await orch.gw.call("inspect_image", ref)
                except NotFound:
                    cache[ref] = {}
            img = cache[ref]
            tag = ((img.get("RepoTags") or [item.get("Image", "")]) or [""])[0]
            repo, _, version = tag.rpartition(":") if ":" in tag else (tag, "", "")
            rows.append((item["Names"][0].lstrip("/"), repo or tag, version or "latest",
                         (img.get("Id") or ref).removeprefix("sha256:")[:12],
                         listing.human_size(int(img.get("Size") or 0))))
        return rows

    try:
        rows = S.run(collect)
    finally:
        session.gateway.close()
    if quiet:
        out = "\n".join(dict.fromkeys(r[3] for r in rows))
    elif format == "json":
        out = json.dumps([{"ContainerName": r[0], "Repository": r[1], "Tag": r[2], "ID": r[3],
                           "Size": r[4]} for r in rows])
    else:
        out = listing.table(("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"), rows)
    if out:
        typer.echo(out)
    return 0
