"""`pycompose convert`: Compose v2's alias of `config`; with `--to kubernetes`, the project as
Kubernetes manifests (compose/kube/convert.py) and the list of what did not map, on stderr.

Options are parsed here, not declared to typer, for the reason config_cmd.py gives (typer
would import pydantic for every valued option).
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

import typer

from compose.cli.rawargs import split_args

app = typer.Typer(add_completion=False)

HELP = """Usage: pycompose convert [OPTIONS] [SERVICE...]

  Without --to: the same as `pycompose config` (all its options apply).
  With --to kubernetes: the resolved project (loaded as `up` loads it) as Kubernetes
  manifests; what has no faithful mapping is listed on stderr (exit status 0).

Options:
  --to kubernetes            Convert to Kubernetes manifests
  -o, --output DIR|-         One file per object (<kind>-<name>.yaml) in DIR, or - for
                             one YAML stream on stdout (the default)
  --service-type TYPE        What published ports become: NodePort (default),
                             LoadBalancer, or ClusterIP (not published outside the cluster)
  --volume-size SIZE         Size of each volume's claim (default 1Gi; the volume label
                             io.pycompose.kube.volume-size overrides it)
  --bind-mounts MODE         refuse (default: a bind mount is an error) or hostpath
  --push REGISTRY            Build the services that have a build section, push them to
                             REGISTRY and name the pushed digests in the manifests
  -n, --namespace NS         Namespace of every object (default: default)
  --wait-image IMAGE         Image of the init containers that wait for dependencies
                             (needs kubectl on its PATH)
  -h, --help                 Show this message and exit
"""

_VALUED = {"--to": "to", "-o": "output", "--output": "output", "--service-type": "service_type",
           "--volume-size": "volume_size", "--bind-mounts": "bind_mounts", "--push": "push",
           "-n": "namespace", "--namespace": "namespace", "--wait-image": "wait_image"}
FORMATS = ("kubernetes", "k8s")


def _usage(message: str) -> Exception:
    from compose.orchestrator.errors import OrchestratorError

    class ConvertUsage(OrchestratorError):
        exit_code = 2

    return ConvertUsage(message)


def parse_args(args: list[str]) -> tuple[dict[str, str], list[str], bool]:
    """(valued options, service names, --help given)."""
    parsed = split_args(args, _VALUED, _usage, flags={"-h": "help", "--help": "help"},
                        unknown="no such option for convert --to")
    return parsed.values, list(parsed.operands), "help" in parsed.flags


def _has_to(args: list[str]) -> bool:
    return any(a == "--to" or a.startswith("--to=") for a in args)


def options_from(values: dict[str, str]) -> Any:
    from compose.kube.context import (BindMounts, ConvertOptions, ServiceType, check_quantity)

    kwargs: dict[str, Any] = {}
    if "service_type" in values:
        by_name = {t.value.lower(): t for t in ServiceType}
        kind = by_name.get(values["service_type"].lower())
        if kind is None:
            raise _usage(f"--service-type {values['service_type']!r}: ClusterIP, NodePort or "
                         "LoadBalancer")
        kwargs["service_type"] = kind
    if "bind_mounts" in values:
        try:
            kwargs["bind_mounts"] = BindMounts(values["bind_mounts"].lower())
        except ValueError:
            raise _usage(f"--bind-mounts {values['bind_mounts']!r}: refuse or hostpath") from None
    if "volume_size" in values:
        kwargs["volume_size"] = check_quantity(values["volume_size"], "--volume-size")
    if "namespace" in values:
        from compose.kube.names import is_dns_label

        if not is_dns_label(values["namespace"], 63):
            raise _usage(f"--namespace {values['namespace']!r}: not a DNS label")
        kwargs["namespace"] = values["namespace"]
    if values.get("wait_image"):
        kwargs["wait_image"] = values["wait_image"]
    return ConvertOptions(**kwargs)


def load_model(obj: Any, services: list[str]) -> Any:
    """The project as `up SERVICE...` loads it: the same pipeline, options and environment (a
    service named here is enabled whatever its profiles, as `up` does)."""
    from compose.project import ProjectOptions, load

    loaded = load(ProjectOptions(
        files=tuple(obj.files or ()), project_directory=obj.project_directory,
        name=obj.project_name, profiles=tuple(obj.profiles or ()),
        env_files=tuple(obj.env_files or ()), environment=dict(os.environ),
        services=tuple(services)))
    for warning in loaded.warnings:
        sys.stderr.write(f"WARN[0000] {warning}\n")
    return loaded.project


def only(project: Any, services: list[str]) -> Any:
    """The project cut down to `services` and what they depend on."""
    if not services:
        return project
    from compose.errors import ComposeError

    keep: list[str] = []
    todo = list(services)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in project.services:
            raise ComposeError(f"no such service: {name}")
        keep.append(name)
        todo += [d.service for d in project.services[name].depends_on
                 if d.service in project.services]
    return replace(project, services={n: s for n, s in project.services.items() if n in keep})


@app.command(help="Convert the compose file to another format (default: the same as config)",
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def convert(ctx: typer.Context) -> int:
    args = list(ctx.args)
    if not _has_to(args):
        from compose.cli.main import command_for

        if any(a in ("-h", "--help") for a in args):
            sys.stdout.write(HELP + "\nWithout --to, the options of `pycompose config --help`.\n")
            return 0
        # Compose v2: `convert` is `config` under another name
        result = command_for("config").main(args=args, prog_name="pycompose convert",
                                            obj=ctx.obj, standalone_mode=False)
        return result if isinstance(result, int) else 0
    values, services, help_ = parse_args(args)
    if help_:
        sys.stdout.write(HELP)
        return 0
    if values["to"].lower() not in FORMATS:
        raise _usage(f"--to {values['to']!r}: the one format is kubernetes")
    options = options_from(values)
    project = only(load_model(ctx.obj, services), services)
    if values.get("push"):
        from compose.kube.push import push_images

        options = replace(options, images=push_images(ctx.obj, project, values["push"]))
    return write_result(project, options, values.get("output") or "-")


def write_result(project: Any, options: Any, output: str) -> int:
    from pathlib import Path

    from compose.kube.convert import convert_project
    from compose.kube.output import write_files, yaml_stream
    from compose.kube.unmapped import render_table

    result = convert_project(project, options)
    if output == "-":
        sys.stdout.write(yaml_stream(result.manifests))
    else:
        try:
            write_files(result.manifests, Path(output))
        except OSError as e:
            from compose.kube.context import ConversionError

            raise ConversionError(f"cannot write to {output}: {e.strerror or e}") from None
    table = render_table(result.unmapped)
    if table:
        sys.stderr.write(f"Not carried over faithfully ({len(result.unmapped)}):\n{table}")
    return 0
