"""`pycompose config`: parse, resolve and print the compose model in canonical form.

Cheap on purpose: only typer (already loaded by the CLI), yaml and the compose loading
modules are imported, never the engine, trio, rich or networkx.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from compose.cli.rawargs import split_args

app = typer.Typer(add_completion=False)


def _options(ctx: typer.Context, interpolate: bool, services: list[str], **stages: bool):
    from compose.project import ProjectOptions

    g = ctx.obj
    return ProjectOptions(
        files=tuple(getattr(g, "files", ()) or ()),
        project_directory=getattr(g, "project_directory", None),
        name=getattr(g, "project_name", None),
        profiles=tuple(getattr(g, "profiles", ()) or ()),
        env_files=tuple(getattr(g, "env_files", ()) or ()),
        environment=dict(os.environ),
        interpolate=interpolate,
        services=tuple(services),
        **stages,
    )


def _dump_yaml(doc: Any) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        # go-yaml (what docker compose prints with) indents sequences under their key
        def increase_indent(self, flow: bool = False, indentless: bool = False):
            return super().increase_indent(flow, False)

    plain_tag = "tag:yaml.org,2002:str"

    def str_presenter(dumper, data):
        if "\n" in data:
            return dumper.represent_scalar(plain_tag, data, style="|")
        # a string that would read back as another type ("8080", "true", "") gets double
        # quotes, as go-yaml writes it (`published: "8080"`)
        resolved = dumper.resolve(yaml.ScalarNode, data, (True, False))
        return dumper.represent_scalar(plain_tag, data, style='"' if resolved != plain_tag else None)

    Dumper.add_representer(str, str_presenter)
    Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=10_000)


# Options taking a value are parsed here rather than declared to typer: typer 0.29 builds a
# pydantic adapter for every non-bool parameter, and importing pydantic alone costs more than
# the whole `config -q` budget. Bool flags are declared (typer skips coercion for them).
_VALUE_OPTIONS = {"--format": "format", "--hash": "hash", "-o": "output", "--output": "output"}


def _usage_error(message: str) -> Exception:
    from engine.errors import PycomposeError

    class ConfigUsage(PycomposeError):
        exit_code = 2

    return ConfigUsage(message)


def _parse_rest(args: list[str]) -> tuple[dict, list[str]]:
    parsed = split_args(args, _VALUE_OPTIONS, _usage_error)
    return {"format": "yaml", "hash": None, "output": None, **parsed.values}, list(parsed.operands)


@app.command(help="Parse, resolve and render compose file in canonical format.\n\n"
                  "Usage: config [OPTIONS] [SERVICE...] with also --format yaml|json, "
                  "--hash SVC|*, -o/--output FILE.",
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def config(
    ctx: typer.Context,
    help_: bool = typer.Option(False, "-h", "--help", help="show this message and exit"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="only validate, print nothing"),
    list_services: bool = typer.Option(False, "--services", help="print the service names"),
    list_volumes: bool = typer.Option(False, "--volumes", help="print the volume names"),
    list_networks: bool = typer.Option(False, "--networks", help="print the network names"),
    list_images: bool = typer.Option(False, "--images", help="print the image names"),
    list_profiles: bool = typer.Option(False, "--profiles", help="print the profile names"),
    no_interpolate: bool = typer.Option(False, "--no-interpolate", help="don't interpolate variables"),
    environment: bool = typer.Option(False, "--environment", help="print the interpolation environment"),
    variables: bool = typer.Option(False, "--variables", help="print the variables the model uses"),
    no_normalize: bool = typer.Option(False, "--no-normalize", help="don't normalize the model"),
    no_consistency: bool = typer.Option(False, "--no-consistency",
                                        help="don't check references between resources"),
    no_path_resolution: bool = typer.Option(False, "--no-path-resolution",
                                            help="don't resolve file paths"),
    no_env_resolution: bool = typer.Option(False, "--no-env-resolution",
                                           help="don't resolve service env files"),
) -> int:
    if help_:
        sys.stdout.write(ctx.get_help() + "\n")
        return 0
    values, services = _parse_rest(list(ctx.args))
    format, hash_, output = values["format"], values["hash"], values["output"]
    from compose.project import load

    if format not in ("yaml", "json"):
        raise _usage_error(f"unsupported format {format!r}: yaml or json")
    targets = list(services or [])
    if variables:
        # the variables a file uses, read before interpolation: a required one that is unset
        # is exactly what the user wants to find out about, not an error
        return _write(_lines_text(_variables(ctx, targets)), output)
    needs_model = bool(list_profiles or hash_ is not None or environment)
    stages = {"normalize": not no_normalize, "consistency": not no_consistency,
              "resolve_paths": not no_path_resolution, "resolve_env_files": not no_env_resolution}
    if needs_model and not all(stages.values()):
        raise _usage_error("--hash, --profiles and --environment need the whole model: they do "
                           "not combine with --no-normalize, --no-consistency, --no-path-resolution "
                           "or --no-env-resolution")
    result = load(_options(ctx, not no_interpolate, targets, **stages), build_model=needs_model)
    for message in result.warnings:
        sys.stderr.write(f"WARN[0000] {message}\n")
    if quiet:
        return 0
    doc = result.canonical
    project = result.project
    if targets:
        keep = _with_dependencies(doc["services"], targets)
        doc = {**doc, "services": {k: v for k, v in doc["services"].items() if k in keep}}
    lines = _listing(doc, project, services=list_services, volumes=list_volumes,
                     networks=list_networks, images=list_images, profiles=list_profiles,
                     hash_=hash_, environment=environment)
    text = _lines_text(lines) if lines is not None else _document_text(doc, format,
                                                                        not no_interpolate)
    return _write(text, output)


def _listing(doc: dict, project: Any, *, services: bool, volumes: bool, networks: bool,
             images: bool, profiles: bool, hash_: str | None, environment: bool) -> list[str] | None:
    """The lines a listing flag asks for (None: print the document)."""
    if services:
        return list(doc["services"])
    if volumes:
        return list(doc.get("volumes") or {})
    if networks:
        return list(doc.get("networks") or {})
    if images:
        return [s.get("image") or f"{doc['name']}-{n}" for n, s in doc["services"].items()]
    if profiles:
        names: set[str] = set()
        for svc in list(project.services.values()) + list(project.disabled_services.values()):
            names.update(svc.profiles)
        return sorted(names)
    if hash_ is not None:
        from compose.model import config_hash

        wanted = list(project.services) if hash_ == "*" else [s.strip() for s in hash_.split(",")]
        lines = []
        for name in wanted:
            if name not in project.services:
                from compose.errors import ComposeError

                raise ComposeError(f"no such service: {name}")
            lines.append(f"{name} {config_hash(project.services[name])}")
        return lines
    if environment:
        return [f"{k}={v}" for k, v in sorted(project.environment.items())]
    return None


def _document_text(doc: dict, format: str, interpolated: bool) -> str:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n" if format == "json" \
        else _dump_yaml(doc)
    if interpolated:
        # interpolation has been done: a `$` left is literal, and must stay literal when
        # this output is read again as a compose file (Compose v2 escapes every one)
        text = text.replace("$", "$$")
    return text


def _lines_text(lines: list[str]) -> str:
    return "\n".join(lines) + ("\n" if lines else "")


def _write(text: str, output: str | None) -> int:
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _with_dependencies(services: dict, targets: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in seen or name not in services:
            continue
        seen.add(name)
        todo.extend((services[name].get("depends_on") or {}).keys())
    return seen


def _variables(ctx: typer.Context, targets: list[str]) -> list[str]:
    """NAME REQUIRED DEFAULT VALUE for each variable referenced by the (uninterpolated) files."""
    from compose.loader.interpolation import variables
    from compose.project import raw_documents

    opts = _options(ctx, False, targets)
    found: dict = {}
    for data, _environment in raw_documents(opts):
        found.update(variables(data))
    rows = [("NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE")]
    for name, var in sorted(found.items()):
        rows.append((name, "true" if getattr(var, "required", False) else "false",
                     getattr(var, "default", None) or "", getattr(var, "presence", None) or ""))
    # Compose v2's table: each column but the last at least 20 wide, 3 spaces after the longest
    widths = [max(20, max(len(r[i]) for r in rows) + 3) for i in range(3)]
    return ["".join(c.ljust(w) for c, w in zip(r, widths)) + r[3] for r in rows]
