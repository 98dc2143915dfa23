"""`pycompose events`: container events of the project, as they happen."""
from __future__ import annotations

import json
import os
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False)


@app.command(help="Receive real time events from containers")
def events(ctx: typer.Context, services: Optional[List[str]] = typer.Argument(None),
           as_json: bool = typer.Option(False, "--json"),
           since: Optional[str] = typer.Option(None, "--since"),
           until: Optional[str] = typer.Option(None, "--until")) -> int:
    import datetime

    from compose.orchestrator import labels as L
    from compose.orchestrator.session import project_name_only
    from compose.orchestrator.errors import NotSupported
    from engine.client import Client
    from engine.errors import NotFound

    project = project_name_only(ctx.obj, environ=os.environ)
    client = Client.from_env(autostart=True)
    labels = [f"{L.PROJECT}={project}"] + [f"{L.SERVICE}={s}" for s in (services or [])[:1]]
    try:
        for ev in client.events(filters={"type": ["container"], "label": labels},
                                since=since, until=until):
            attrs = (ev.get("Actor") or {}).get("Attributes") or {}
            service = attrs.get(L.SERVICE, "")
            if services and service not in services:
                continue
            ts = ev.get("timeNano") or int(ev.get("time", 0)) * 10**9
            when = datetime.datetime.fromtimestamp(ts / 1e9).isoformat(timespec="microseconds")
            if as_json:
                typer.echo(json.dumps({"time": when, "type": "container",
                                       "action": ev.get("Action") or ev.get("status"),
                                       "id": (ev.get("Actor") or {}).get("ID") or ev.get("id"),
                                       "service": service, "attributes": attrs}))
            else:
                extra = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())
                                  if not k.startswith("com.docker.compose."))
                typer.echo(f"{when} container {ev.get('Action') or ev.get('status')} "
                           f"{(ev.get('Actor') or {}).get('ID', '')} ({extra})")
    except KeyboardInterrupt:
        return 0
    except NotFound as e:
        if "/events" in e.message:
            raise NotSupported("the engine does not report events yet") from None
        raise
    finally:
        client.close()
    return 0
