"""Loading a compose project: the staged pipeline from files to the frozen model.

    find files -> read YAML -> interpolate -> include -> extends -> merge overrides
    -> unicity -> validate -> normalize -> profiles -> dependency cycles -> model

Each stage is a pure function of plain data (compose/loader for the front half, merge,
include, extends, schema, normalize, profiles, graph); this module only sequences them and
adds file/line to errors. The environment is injected (`ProjectOptions.environment`), never
read from os.environ below the CLI.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from compose.errors import ComposeError, nearest_line


@dataclass(frozen=True)
class ProjectOptions:
    files: tuple[str, ...] = ()              # -f (empty: discovery, COMPOSE_FILE)
    project_directory: str | None = None     # --project-directory
    name: str | None = None                  # -p
    profiles: tuple[str, ...] = ()           # --profile (empty: COMPOSE_PROFILES)
    env_files: tuple[str, ...] = ()          # --env-file
    environment: Mapping[str, str] = field(default_factory=dict)  # the OS environment
    interpolate: bool = True
    services: tuple[str, ...] = ()           # services named on the command line
    working_directory: str | None = None     # where discovery starts (default: os.getcwd())
    resolve_env_files: bool = True           # read `env_file:` into `environment`
    # `config --no-consistency / --no-path-resolution / --no-normalize`
    consistency: bool = True                 # refuse references to undefined resources
    resolve_paths: bool = True               # make relative host paths absolute
    normalize: bool = True                   # add the default network, names, default Dockerfile


@dataclass(frozen=True)
class LoadedProject:
    """The result of the pipeline: the canonical document (what `config` prints, the
    orchestrator's input), the frozen model built from it, and warnings for the user."""
    canonical: dict
    project: Any  # compose.model.Project
    warnings: tuple[str, ...] = ()


Warn = Callable[[str], None]


def load_project(options: ProjectOptions) -> Any:
    """The frozen model (compose.model.Project) of the project the options describe."""
    return load(options).project


def load(options: ProjectOptions, *, build_model: bool = True) -> LoadedProject:
    """Run the pipeline. `build_model=False` stops after every check (for `config -q` and the
    listing flags, which need only the canonical document) and leaves `project` None."""
    warnings: list[str] = []
    warn = warnings.append
    setup = _setup(options, warn)  # files, working dir, environment
    name, env, documents = _read(options, setup, warn)
    merged, line_maps = _merge_documents(documents, options, env, setup, warn)
    _validate(merged, options, line_maps, warn)
    canonical = _normalize(merged, name, env, options, setup, line_maps, warn)
    disabled, active = _select_services(canonical, options, env, line_maps)
    if not build_model:
        return LoadedProject(canonical=canonical, project=None, warnings=tuple(warnings))
    from compose.model import Project

    project = Project.from_canonical(canonical, working_dir=setup.working_dir,
                                     config_files=tuple(p for p, _ in setup.sources),
                                     environment=env, disabled=disabled, profiles=tuple(active))
    return LoadedProject(canonical=canonical, project=project, warnings=tuple(warnings))


# --- the stages of `load` -------------------------------------------------------------------------

def _read(options: ProjectOptions, setup: _Setup, warn: Warn
          ) -> tuple[str, Mapping[str, str], list[tuple[str, Any, Callable]]]:
    """The project name, the environment interpolation uses, and each document (path, data,
    line_of), interpolated."""
    from compose.loader.environment import project_name
    from compose.loader.yaml_reader import read_yaml_all

    raw = [(path, doc) for path, text in setup.sources
           for doc in read_yaml_all(text, filename=_display(path))]
    name = project_name(working_dir=setup.working_dir, environment=setup.environment,
                        explicit=options.name, warn=warn,
                        names_in_files=[d.data.get("name") for _, d in raw if isinstance(d.data, dict)])
    env: Mapping[str, str] = {**setup.environment,
                              "COMPOSE_PROJECT_NAME": setup.environment.get("COMPOSE_PROJECT_NAME") or name}
    documents: list[tuple[str, Any, Callable]] = []
    for path, doc in raw:
        data = doc.data
        if options.interpolate:
            data = _interpolate(data, env, doc, warn)
        documents.append((path, data, doc.line_of))
    return name, env, documents


def _merge_documents(documents: list[tuple[str, Any, Callable]], options: ProjectOptions,
                     env: Mapping[str, str], setup: _Setup, warn: Warn
                     ) -> tuple[dict, list[tuple[str, Callable]]]:
    """include and extends applied per file, the files merged in order; the line maps that
    locate later errors."""
    from compose.merge import merge, strip_markers, unicity

    merged: Any = {}
    line_maps: list[tuple[str, Callable]] = []
    for path, data, line_of in documents:
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ComposeError("top-level object must be a mapping", filename=_display(path))
        try:
            check_structure(data)
            data = _apply_include(data, path, env, options, warn)
            data = _apply_extends(data, path, env, options, warn, setup.working_dir)
            merged = merge(merged, data, ())
        except ComposeError as e:
            if e.filename:  # raised about another file (an extended or included one)
                raise
            raise e.located(filename=_display(path), line=nearest_line(line_of, e.path or ()))
        line_maps.append((path, line_of))
    merged = unicity(strip_markers(merged))
    if "version" in merged:
        warn("the attribute `version` is obsolete, it will be ignored, please remove it to avoid "
             "potential confusion")
    if not merged:
        # a file with only volumes, or only a name, is a project with no services (Compose v2)
        raise ComposeError("empty compose file", filename=_display(setup.sources[0][0]))
    merged.setdefault("services", {})
    return merged, line_maps


def _validate(merged: dict, options: ProjectOptions, line_maps: list[tuple[str, Callable]],
              warn: Warn) -> None:
    from compose import schema

    try:
        schema.validate(merged, filename=None, line_of=None,
                        variables_allowed=not options.interpolate,
                        force_jsonschema=options.environment.get("PYCOMPOSE_SCHEMA") == "jsonschema")
    except ComposeError as e:
        file, line = _where(line_maps, e.path or ())
        raise e.located(filename=file, line=line)
    for message in schema.unsupported_attributes(merged):
        warn(message)


def _normalize(merged: dict, name: str, env: Mapping[str, str], options: ProjectOptions,
               setup: _Setup, line_maps: list[tuple[str, Callable]], warn: Warn) -> dict:
    from compose.normalize import NormalizeError, Normalizer

    normalizer = Normalizer(name, setup.working_dir, env,
                            read_env_file=_env_file_reader(env) if options.resolve_env_files else None,
                            warn=warn, interpolated=options.interpolate)
    normalizer.consistency = options.consistency
    normalizer.resolve_paths = options.resolve_paths
    normalizer.normalize = options.normalize
    try:
        return normalizer.run(merged)
    except NormalizeError as e:
        path = _split_key(e.key)
        file, line = _where(line_maps, path)
        raise ComposeError(e.message, filename=file, line=line, path=path) from None


def _select_services(canonical: dict, options: ProjectOptions, env: Mapping[str, str],
                     line_maps: list[tuple[str, Callable]]) -> tuple[dict, list[str]]:
    """Profiles decide which services are enabled (the rest are returned, disabled); the
    enabled ones must not depend on each other in a cycle."""
    from compose.graph import DependencyCycleError, find_cycle
    from compose.profiles import active_profiles, apply_profiles, drop_unused_resources

    active = active_profiles(options.profiles, env)
    enabled, disabled, active = apply_profiles(canonical["services"], active, options.services)
    canonical["services"] = enabled
    drop_unused_resources(canonical)
    cycle = find_cycle({n: [d for d in (s.get("depends_on") or {}) if d in enabled]
                        for n, s in enabled.items()})
    if cycle:
        path = ("services", cycle[0], "depends_on")
        file, line = _where(line_maps, path)
        raise DependencyCycleError(f"dependency cycle detected: {' -> '.join(cycle)}",
                                   filename=file, line=line)
    return disabled, active


# --- files, environment, project name (compose/loader's discovery + environment) -----------------

@dataclass(frozen=True)
class _Setup:
    sources: tuple[tuple[str, str], ...]    # (absolute path or "-", text)
    working_dir: str
    environment: Mapping[str, str]


def _setup(options: ProjectOptions, warn: Warn) -> _Setup:
    """Which files, which directory, which environment (compose/loader/environment.py)."""
    from pathlib import Path

    from compose.loader.environment import resolve_sources

    cwd = Path(options.working_directory or os.getcwd())
    found = resolve_sources(os_env=options.environment, cwd=cwd, files=options.files,
                            project_directory=options.project_directory,
                            env_files=options.env_files, warn=warn)
    sources = []
    for path in found.config_files:
        if path == "-":
            sources.append(("-", sys.stdin.read()))
            continue
        sources.append((path, _read_text(path)))
    return _Setup(tuple(sources), str(found.working_dir), dict(found.environment))


def raw_documents(options: ProjectOptions):
    """(data, environment) of each uninterpolated document, for `config --variables`."""
    from compose.loader.yaml_reader import read_yaml_all

    setup = _setup(options, lambda m: None)
    for path, text in setup.sources:
        for doc in read_yaml_all(text, filename=_display(path)):
            yield doc.data, setup.environment


# --- stages -------------------------------------------------------------------------------------

def check_structure(data: dict) -> None:
    """The shapes include and extends walk before the schema sees the merged document: a wrong
    type there must be the user's one-line error, not ours."""
    from compose.schema import yaml_kind

    def refuse(path: tuple, wanted: str, value: Any) -> ComposeError:
        return ComposeError(f"must be {wanted}, not {yaml_kind(value)}", path=path)

    services = data.get("services")
    if services is not None and not isinstance(services, dict):
        raise refuse(("services",), "a mapping", services)
    include = data.get("include")
    if include is not None:
        if not isinstance(include, list):
            raise refuse(("include",), "a sequence", include)
        for i, entry in enumerate(include):
            if not isinstance(entry, (str, dict)):
                raise refuse(("include", i), "a string or a mapping", entry)
    for name, service in (services or {}).items():
        if isinstance(service, dict) and "extends" in service \
                and not isinstance(service["extends"], (str, dict)):
            raise refuse(("services", name, "extends"), "a string or a mapping", service["extends"])


def _interpolate(data: Any, env: Mapping[str, str], doc: Any, warn: Warn) -> Any:
    from compose.loader.interpolation import interpolate

    return interpolate(data, env.get, filename=doc.filename, line_of=doc.line_of, warn=warn)


def _apply_extends(data: dict, path: str, env: Mapping[str, str], options: ProjectOptions,
                   warn: Warn, project_dir: str) -> dict:
    if not any(isinstance(s, dict) and "extends" in s for s in (data.get("services") or {}).values()):
        return data
    from compose.extends import resolve_extends

    def load_file(other: str) -> dict:
        return _read_single(other, env, options.interpolate, warn)

    return resolve_extends(data, path, load_file, project_dir)


def _apply_include(data: dict, path: str, env: Mapping[str, str], options: ProjectOptions,
                   warn: Warn) -> dict:
    if not data.get("include"):
        return data
    from compose.include import apply_include

    return apply_include(data, path, env, options.interpolate, warn, _read_single)


def _read_single(path: str, env: Mapping[str, str], interpolate: bool, warn: Warn) -> dict:
    """One compose file's documents, interpolated and merged (for extends / include)."""
    from compose.loader.yaml_reader import read_yaml_all
    from compose.merge import merge

    text = _read_text(path)
    result: Any = None
    for doc in read_yaml_all(text, filename=_display(path)):
        data = _interpolate(doc.data, env, doc, warn) if interpolate else doc.data
        if isinstance(data, dict):
            try:
                check_structure(data)
            except ComposeError as e:
                raise e.located(filename=_display(path),
                                line=nearest_line(doc.line_of, e.path or ()))
        if data is not None:
            # the first document as it is: its !reset / !override markers are for whatever it
            # is merged onto later (the service it extends), not for an empty document
            result = data if result is None else merge(result, data, ())
    return result if result is not None else {}


def _read_text(path: str) -> str:
    """A compose or env file's text; a file that is not UTF-8 is the user's error, said once."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        from compose.errors import ComposeFileNotFound

        raise ComposeFileNotFound(f"open {path}: no such file or directory") from None
    except OSError as e:
        raise ComposeError(f"cannot read {path}: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ComposeError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x})",
                           filename=_display(path), line=line) from None


def _env_file_reader(env: Mapping[str, str]) -> Callable[[str, str | None], dict]:
    def read(path: str, fmt: str | None) -> dict:
        from compose.errors import ComposeFileNotFound
        from compose.loader.dotenv import parse_dotenv, parse_raw_env

        try:
            text = _read_text(path)
        except ComposeFileNotFound:
            raise ComposeError(f"cannot read env file {path}: No such file or directory") from None
        if fmt == "raw":
            return dict(parse_raw_env(text, env.get, _display(path)))
        return dict(parse_dotenv(text, env.get, _display(path)))
    return read


# --- error locations ----------------------------------------------------------------------------

def _display(path: str) -> str:
    if path in ("-", "<stdin>"):
        return "<stdin>"
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("../..") else rel


def _where(line_maps: list[tuple[str, Callable]], path) -> tuple[str | None, int | None]:
    """The file (last one defining the deepest prefix of `path`) and line for an error."""
    path = tuple(path)
    while path:
        for file, line_of in reversed(line_maps):
            line = line_of(path)
            if line is not None:
                return _display(file), line
        path = path[:-1]
    return (_display(line_maps[0][0]), None) if line_maps else (None, None)


def _split_key(key: str) -> tuple:
    """`services.web.ports[0]` -> ("services", "web", "ports", 0)."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", key))
