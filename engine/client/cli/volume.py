"""`pycompose volume ...`: create, list, inspect, remove and prune named volumes."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from engine.client.cli import format as fmt
from engine.client.cli import prune as pruning
from engine.client.cli.app import COMMAND_SETTINGS, Commands, get_client, make_app, print_inspected
from engine.errors import PycomposeError

commands = Commands()
app = make_app("Manage volumes.", commands)


@commands.command("create", context_settings=COMMAND_SETTINGS)
def create(name: Optional[str] = typer.Argument(None, help="Volume name (else generated)."),
           label: Optional[List[str]] = typer.Option(None, "-l", "--label", help="K=V label."),
           driver: str = typer.Option("local", "-d", "--driver", help="Volume driver."),
           opt: Optional[List[str]] = typer.Option(None, "-o", "--opt", help="Driver option K=V.")) -> None:
    """Create a volume; prints its name."""
    from engine.client.cli.parse import parse_labels

    labels = parse_labels(list(label or ()))
    opts = parse_labels(list(opt or ()), "--opt")
    volume = get_client().create_volume(name, labels, driver, opts)
    print(volume.get("Name", name or ""))


@commands.command("ls", context_settings=COMMAND_SETTINGS)
def ls(quiet: bool = typer.Option(False, "-q", "--quiet", help="Only names."),
       filter_: Optional[List[str]] = typer.Option(None, "-f", "--filter", help="KEY=VALUE."),
       format_: Optional[str] = typer.Option(None, "--format", help="table or json.")) -> None:
    """List volumes."""
    import json

    from engine.client.cli.parse import parse_filters

    filters = parse_filters(list(filter_ or ()))
    volumes = sorted(get_client().volumes(filters or None), key=lambda v: v.get("Name", ""))
    if quiet:
        for v in volumes:
            print(v["Name"])
    elif format_ == "json":
        for v in volumes:
            print(json.dumps(v, separators=(",", ":")))
    else:
        print(fmt.table(("DRIVER", "VOLUME NAME"),
                        [[v.get("Driver", "local"), v["Name"]] for v in volumes]))


@commands.command("inspect", context_settings=COMMAND_SETTINGS)
def inspect_(names: List[str] = typer.Argument(..., help="Volume names."),
             format_: Optional[str] = typer.Option(None, "-f", "--format", help="Template.")) -> None:
    """Show low-level information on volumes (JSON)."""
    print_inspected(names, get_client().inspect_volume, format_)


@commands.command("rm", context_settings=COMMAND_SETTINGS)
def rm(names: List[str] = typer.Argument(..., help="Volume names."),
       force: bool = typer.Option(False, "-f", "--force", help="Remove even if in use.")) -> None:
    """Remove volumes."""
    client = get_client()
    failed = False
    for name in names:
        try:
            client.remove_volume(name, force=force)
            print(name)
        except PycomposeError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    raise typer.Exit(1 if failed else 0)


@commands.command("prune", context_settings=COMMAND_SETTINGS)
def prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask."),
          all_: bool = typer.Option(False, "-a", "--all", help="Named volumes too.")) -> None:
    """Remove unused volumes (anonymous ones, or all with -a)."""
    what = "all local volumes not used by at least one container" if all_ \
        else "anonymous local volumes not used by at least one container"
    if not pruning.confirmed("volume", what, force):
        return
    result = get_client().prune_volumes({"all": ["true" if all_ else "false"]}) or {}
    pruning.report("Volumes", result.get("VolumesDeleted") or [], result.get("SpaceReclaimed", 0))
