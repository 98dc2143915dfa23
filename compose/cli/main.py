"""The `pycompose` entry point: global options, lazy command dispatch, the one error boundary.

Start-up time matters (a `container run` must not pay for trio, rich or pyroute2 it does not
use), so each command group lives in its own module and is imported only when invoked.
"""
from __future__ import annotations

import os
import sys

# Plain, click-style help for every command, like the top-level help below: typer's rich help
# imports rich's markdown stack (`pycompose container run --help` took 1.1 s instead of 0.15 s).
# Set before typer is first imported (here, in the warm server and in its workers alike);
# TYPER_USE_RICH=1 brings the boxes back.
os.environ.setdefault("TYPER_USE_RICH", "0")

# verb -> "module:attribute" of a typer.Typer app. Groups (container, image, ...) are apps with
# several commands; compose verbs are apps with one command.
COMMANDS: dict[str, str] = {
    # engine verbs
    "container": "engine.client.cli.container:app",
    "image": "engine.client.cli.image:app",
    "volume": "engine.client.cli.volume:app",
    "network": "engine.client.cli.network:app",
    "engine": "engine.client.cli.daemon:app",
    "system": "engine.client.cli.system:app",
    "login": "engine.client.cli.login:login_app",
    "logout": "engine.client.cli.login:logout_app",
    # compose verbs
    "config": "compose.cli.config_cmd:app",
    "up": "compose.cli.up:app",
    "down": "compose.cli.down:app",
    "ps": "compose.cli.ps:app",
    "logs": "compose.cli.logs:app",
    "run": "compose.cli.run:app",
    "exec": "compose.cli.exec_cmd:app",
    "create": "compose.cli.lifecycle:create_app",
    "start": "compose.cli.lifecycle:start_app",
    "stop": "compose.cli.lifecycle:stop_app",
    "restart": "compose.cli.lifecycle:restart_app",
    "rm": "compose.cli.lifecycle:rm_app",
    "kill": "compose.cli.lifecycle:kill_app",
    "pause": "compose.cli.lifecycle:pause_app",
    "unpause": "compose.cli.lifecycle:unpause_app",
    "ls": "compose.cli.ls:app",
    "images": "compose.cli.images:app",
    "port": "compose.cli.port:app",
    "top": "compose.cli.top:app",
    "wait": "compose.cli.wait:app",
    "events": "compose.cli.events:app",
    "pull": "compose.cli.pull:app",
    "build": "compose.cli.build:app",
    "version": "compose.cli.version:app",
    "cp": "compose.cli.cp:app",
    "stats": "compose.cli.stats:app",
    "attach": "compose.cli.attach:app",
    "scale": "compose.cli.scale:app",
    "graph": "compose.cli.graph:app",
    "watch": "compose.cli.watch:app",
    "explain": "compose.cli.explain:app",
    "convert": "compose.cli.convert:app",
    "kube": "compose.cli.kube:app",
}

# `pycompose --help`: one line per verb, in this order, without importing any command module
# (typer's rich help would cost 100-300 ms). A verb missing here is still listed, under "Other".
COMPOSE_VERBS: dict[str, str] = {
    "up": "Create and start the project's containers (building or pulling images first)",
    "down": "Stop and remove the project's containers and networks (-v: volumes too)",
    "ps": "List the project's containers",
    "logs": "Show the output of the project's containers",
    "run": "Run a one-off command in a new container of a service",
    "exec": "Run a command in a service's running container",
    "config": "Check the compose files and print the resolved project",
    "convert": "Like config; with --to kubernetes, the project as Kubernetes manifests",
    "graph": "Show the services' dependency graph and start order (tree, dot, mermaid, json)",
    "build": "Build the images of services that have a build section",
    "pull": "Pull the images of the project's services",
    "create": "Create the project's containers without starting them",
    "start": "Start the project's existing containers",
    "stop": "Stop the project's containers without removing them",
    "restart": "Restart the project's containers",
    "rm": "Remove the project's stopped containers",
    "kill": "Send a signal (default SIGKILL) to the project's containers",
    "pause": "Freeze the processes of the project's containers",
    "unpause": "Thaw the project's paused containers",
    "top": "Show the processes running in the project's containers",
    "explain": "Show what makes a container: layers, processes, namespaces, cgroup, network",
    "cp": "Copy files between a service container and the local file system",
    "stats": "Show the resource use of the project's containers",
    "attach": "Attach the terminal to a service container's input and output",
    "scale": "Set the number of containers of services",
    "watch": "Sync, restart or rebuild services as their files change (develop.watch)",
    "port": "Print the host address a service's port is published on",
    "images": "List the images the project's containers use",
    "wait": "Wait until the project's containers stop; print their exit codes",
    "events": "Stream the events of the project's containers",
    "ls": "List compose projects",
    "kube": "Run Kubernetes manifests here (kube play) and remove them (kube down)",
    "version": "Show pycompose's version and the engine's",
}
ENGINE_VERBS: dict[str, str] = {
    "container": "Manage containers: run, ls, exec, logs, stop, rm, ...",
    "image": "Manage images: ls, pull, push, build, bootstrap, rm, ...",
    "network": "Manage networks",
    "volume": "Manage volumes",
    "engine": "Run, query and stop the engine daemon",
    "system": "Show the engine's disk use (system df)",
    "login": "Store credentials for a registry",
    "logout": "Forget the credentials stored for a registry",
}
GLOBAL_OPTIONS: list[tuple[str, str]] = [
    ("-f, --file FILE", "Compose file (repeatable; default compose.yaml found upwards)"),
    ("-p, --project-name NAME", "Project name (default: the project directory's name)"),
    ("--project-directory DIR", "Project directory (default: the first file's directory)"),
    ("--profile NAME", "Enable a profile's services (repeatable)"),
    ("--env-file FILE", "Environment file for interpolation (repeatable; default .env)"),
    ("--no-color, --no-ansi", "Plain output without colours"),
    ("--debug", "Show tracebacks for errors"),
    ("--version", "Print pycompose's version and exit"),
    ("-h, --help", "Show this help"),
]


class GlobalOptions:
    """Compose's global flags (given before the verb), passed to commands as the click `obj`.
    A plain class: `dataclasses` (and the `inspect` it pulls in) would cost the warm-CLI client
    path 10 ms of imports."""

    def __init__(self, files: list[str] | None = None, project_name: str | None = None,
                 project_directory: str | None = None, profiles: list[str] | None = None,
                 env_files: list[str] | None = None, no_color: bool = False,
                 debug: bool = False) -> None:
        self.files = list(files or [])
        self.project_name = project_name
        self.project_directory = project_directory
        self.profiles = list(profiles or [])
        self.env_files = list(env_files or [])
        self.no_color = no_color
        self.debug = debug

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalOptions) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"GlobalOptions({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


_VALUE_FLAGS = {
    "-f": "files", "--file": "files",
    "-p": "project_name", "--project-name": "project_name",
    "--project-directory": "project_directory",
    "--profile": "profiles",
    "--env-file": "env_files",
}
_BOOL_FLAGS = {"--debug": "debug", "--no-color": "no_color", "--no-ansi": "no_color"}


class UsageError(Exception):
    pass


def parse_globals(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """Split `[global flags] VERB [args]` into the options and `[VERB, args...]`."""
    opts = GlobalOptions()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name in _VALUE_FLAGS:
            if eq:
                value = inline
            else:
                if i + 1 >= len(argv):
                    raise UsageError(f"option {name} needs a value")
                i += 1
                value = argv[i]
            attr = _VALUE_FLAGS[name]
            if isinstance(getattr(opts, attr), list):
                getattr(opts, attr).append(value)
            else:
                setattr(opts, attr, value)
        elif arg in _BOOL_FLAGS:
            setattr(opts, _BOOL_FLAGS[arg], True)
        else:
            break
        i += 1
    return opts, argv[i:]


def help_text() -> str:
    """The top-level help: usage, verbs grouped with a one-line summary each, global options."""
    def section(title: str, rows: list[tuple[str, str]]) -> list[str]:
        width = max(len(name) for name, _ in rows) + 2
        return [f"{title}:"] + [f"  {name:<{width}}{text}".rstrip() for name, text in rows] + [""]

    lines = ["Usage: pycompose [OPTIONS] COMMAND [ARGS]...", "",
             "Compose-style multi-service projects on pycompose's own container engine.", ""]
    lines += section("Compose commands", [(v, t) for v, t in COMPOSE_VERBS.items() if v in COMMANDS])
    lines += section("Engine commands", [(v, t) for v, t in ENGINE_VERBS.items() if v in COMMANDS])
    other = sorted(set(COMMANDS) - set(COMPOSE_VERBS) - set(ENGINE_VERBS))
    if other:
        lines += section("Other commands", [(v, "") for v in other])
    lines += section("Options", GLOBAL_OPTIONS)
    lines.append("Run 'pycompose COMMAND --help' for more information on a command.")
    return "\n".join(lines)


def _print_help() -> None:
    sys.stdout.write(help_text() + "\n")


def _load_app(verb: str):
    module_name, _, attr = COMMANDS[verb].partition(":")
    import importlib

    return getattr(importlib.import_module(module_name), attr)


_built: dict[str, object] = {}


def command_for(verb: str):
    """The click command of a verb, built once per process (the warm server builds them all
    before it forks workers)."""
    command = _built.get(verb)
    if command is None:
        import typer.main

        command = _built[verb] = typer.main.get_command(_load_app(verb))
    return command


def _error(message: str) -> None:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        sys.stderr.write(f"\x1b[31mError: {message}\x1b[0m\n")
    else:
        sys.stderr.write(f"Error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns (and exits with) its exit code. Never shows a traceback for
    user errors; `--debug` or PYCOMPOSE_DEBUG=1 shows one for everything."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("PYCOMPOSE_DEBUG"))
    try:
        opts, rest = parse_globals(argv)
    except UsageError as e:
        _error(str(e))
        return _exit(2)
    debug = debug or opts.debug
    if not rest or rest[0] in ("-h", "--help", "help"):
        _print_help()
        return _exit(0)
    if rest[0] == "--version":
        # the client's one line, as `docker --version`: no engine, no typer
        from compose.cli.version import short_line

        print(short_line())
        return _exit(0)
    verb, args = rest[0], rest[1:]
    if verb not in COMMANDS:
        _error(f"unknown command {verb!r}; see 'pycompose --help'")
        return _exit(2)
    code = run_app(verb, args, opts, debug)
    return _exit(code)


def run_app(verb: str, args: list[str], opts: GlobalOptions, debug: bool = False) -> int:
    """Invoke a command group's typer app inside the error boundary."""
    from engine.errors import PycomposeError

    # typer >= 0.26 vendors its own click: usage errors come from that copy, Exit/Abort from
    # typer.exceptions (older typer: both from click).
    try:
        from typer._click import exceptions as click_exc
        from typer.exceptions import Abort, Exit
    except ImportError:
        from click import exceptions as click_exc
        from click.exceptions import Abort, Exit
    try:
        command = command_for(verb)
        result = command.main(args=args, prog_name=f"pycompose {verb}", obj=opts,
                              standalone_mode=False)
        return result if isinstance(result, int) else 0
    except PycomposeError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _error(e.message)
        return e.exit_code
    except Exit as e:
        return e.exit_code
    except click_exc.ClickException as e:
        e.show()
        return e.exit_code
    except Abort:
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # the edge: anything unexpected is still one line unless debugging
        if debug:
            raise
        _error(f"internal error: {type(e).__name__}: {e} (run with --debug for details)")
        return 1


def _exit(code: int) -> int:
    sys.stdout.flush()
    return code


def entry() -> None:
    """Console-script entry point: hand the command to a warm worker when one serves this engine
    (compose/cli/warm.py), else run it here and start a warm server for the next command."""
    from compose.cli import warm

    code = warm.try_run(sys.argv[1:])
    if code is None:
        code = main()
        warm.start_server()
    sys.exit(code)


if __name__ == "__main__":
    entry()
