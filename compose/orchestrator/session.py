"""Glue for the compose verbs: load the project from the global options, connect to the engine,
and run one trio entry point with errors unwrapped for the CLI's single error boundary.

The verbs (compose/cli) pass the process environment in (`environ`): nothing below the CLI
reads os.environ, so a warm CLI worker and tests decide what the environment is."""
from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.file_objects import DEFAULT_BASE
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import ProjectSpec, from_model
from engine.errors import PycomposeError

T = TypeVar("T")


def parallel_limit(environ: Mapping[str, str]) -> int:
    """COMPOSE_PARALLEL_LIMIT, as in Compose; -1 or unset = our default."""
    value = environ.get("COMPOSE_PARALLEL_LIMIT", "")
    try:
        n = int(value)
    except ValueError:
        return 8
    return 64 if n < 0 else max(1, n)


def load_spec(opts: Any, services: tuple[str, ...] = (), *,
              environ: Mapping[str, str]) -> ProjectSpec:
    """The project named by the global options (a `GlobalOptions` from compose/cli/main.py)."""
    from compose.project import ProjectOptions, load

    loaded = load(ProjectOptions(
        files=tuple(opts.files or ()), project_directory=opts.project_directory,
        name=opts.project_name, profiles=tuple(opts.profiles or ()),
        env_files=tuple(opts.env_files or ()), environment=dict(environ),
        services=tuple(services)))
    for warning in loaded.warnings:
        sys.stderr.write(f"WARN[0000] {warning}\n")
    return from_model(loaded.project, env_files=tuple(opts.env_files or ()))


def project_name_only(opts: Any, *, environ: Mapping[str, str]) -> str:
    """The project name, without needing a valid compose file when -p is given."""
    if opts.project_name:
        return opts.project_name
    return load_spec(opts, environ=environ).name


def new_gateway(environ: Mapping[str, str]) -> Gateway:
    from engine.client import Client

    first = Client.from_env(autostart=True)   # starts the engine when it is not running
    socket_path = first.socket_path
    clients = iter([first])

    def factory() -> Client:
        return next(clients, None) or Client(socket_path)

    return Gateway(factory, parallel=parallel_limit(environ))


@dataclass
class Session:
    project: ProjectSpec
    gateway: Gateway
    progress: Progress
    headstart: Any = None   # a started NetworkHeadStart (see start_networks)
    removal: Any = None     # a started RemovalHeadStart (see start_removal)
    files_dir: str = DEFAULT_BASE   # where `content:` secrets and configs are written

    def start_networks(self, services: list[str]) -> None:
        """Begin ensuring the networks `services` need on a thread now, before the executor
        (and trio) is imported; the orchestrator takes the outcomes (early_calls.py)."""
        from compose.orchestrator import networks
        from compose.orchestrator.early_calls import NetworkHeadStart

        self.headstart = NetworkHeadStart(self.gateway, self.project,
                                          networks.needed(self.project, services)).start()

    def start_removal(self, *, remove_orphans: bool, volumes: bool) -> None:
        """`down -t 0`: begin removing the project's containers on threads now (early_calls.py)."""
        from compose.orchestrator.early_calls import RemovalHeadStart

        self.removal = RemovalHeadStart(self.gateway, self.project, remove_orphans=remove_orphans,
                                        volumes=volumes).start()

    def orchestrator(self):
        from compose.orchestrator.executor import Orchestrator

        return Orchestrator(self.project, self.gateway, self.progress, self.headstart,
                            self.removal, files_dir=self.files_dir)

    def containers(self, all: bool = False) -> list[dict]:
        """The project's containers, without starting an event loop (for `ps`)."""
        from compose.orchestrator import labels as L

        return self.gateway.client().containers(all=all, filters=L.filters(self.project.name))


def open_session(opts: Any, services: tuple[str, ...] = (), quiet: bool = False,
                 project_only: bool = False, *, environ: Mapping[str, str]) -> Session:
    """`project_only`: with `-p NAME` and no compose file, work on whatever the engine has for
    that project (as `down -p NAME` does in Compose)."""
    try:
        spec = load_spec(opts, services, environ=environ)
    except PycomposeError as e:
        if not (project_only and opts.project_name and "no configuration file" in e.message):
            raise
        spec = ProjectSpec(name=opts.project_name, services={})
    colour = False if getattr(opts, "no_color", False) or environ.get("NO_COLOR") else None
    return Session(spec, new_gateway(environ), Progress(colour=colour, quiet=quiet),
                   files_dir=environ.get("PYCOMPOSE_FILES_DIR") or DEFAULT_BASE)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """trio.run with the first user-facing error of an exception group re-raised alone, so the
    CLI boundary prints one line."""
    import trio

    from compose.orchestrator.executor import first_error

    try:
        return trio.run(fn)
    except BaseExceptionGroup as group:
        first = first_error(group)
        if first is not None:
            raise first from None
        interrupts = group.subgroup(KeyboardInterrupt)
        if interrupts is not None:
            raise KeyboardInterrupt from None
        raise


class UsageError(OrchestratorError):
    """Bad flags or arguments for a compose verb."""

    exit_code = 1


def parse_scale(values: list[str] | None) -> dict[str, int]:
    out = {}
    for item in values or []:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise UsageError(f"invalid --scale value {item!r}: expected SERVICE=NUMBER")
        out[name] = int(count)
    return out


def exclusive(**flags: bool) -> None:
    """Raise for two mutually exclusive flags both given (names as typed, `_` for `-`)."""
    given = [name for name, on in flags.items() if on]
    if len(given) > 1:
        a, b = ("--" + g.replace("_", "-") for g in given[:2])
        raise UsageError(f"{a} and {b} are incompatible")


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """Compose's boolean environment switches (COMPOSE_IGNORE_ORPHANS, ...)."""
    return environ.get(name, "").strip().lower() in ("1", "true", "yes")
