"""`pycompose version` and `pycompose --version`: which pycompose this is, and which engine.

As `docker version`, the client part is always printed and the engine part only when the engine
answers; it is never started for this (asking which engine runs should not start one), so a
stopped engine is reported as such, on stderr, with exit code 1. `--version` is the client's
one line only and touches no socket.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

# pycompose's version: pyproject.toml reads it from here (setuptools' static `attr:`), so the
# installed metadata and this constant never disagree, and `--version` needs no metadata lookup
# (importlib.metadata costs ~15 ms of imports).
VERSION = "0.1.0"

FORMATS = ("pretty", "json")


def client_version() -> str:
    return VERSION


def short_line() -> str:
    return f"pycompose version {client_version()}"


def _arch() -> str:
    import platform

    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


class VersionReport(NamedTuple):
    """Immutable like a frozen dataclass, without dataclasses' ~10 ms of imports on the path of
    `--version` (typing is loaded at start-up anyway)."""
    client: dict
    engine: dict | None      # GET /version's body; None when the engine did not answer
    engine_error: str | None


def client_part() -> dict:
    import platform

    return {"Version": client_version(), "PythonVersion": platform.python_version(),
            "Python": sys.executable, "Os": "linux", "Arch": _arch()}


def render_pretty(report: VersionReport) -> str:
    c = report.client
    lines = ["Client:", f" Version:      {c['Version']}",
             f" Python:       {c['PythonVersion']} ({c['Python']})",
             f" OS/Arch:      {c['Os']}/{c['Arch']}"]
    e = report.engine
    if e is not None:
        api = e.get("ApiVersion", "?")
        if e.get("MinAPIVersion"):
            api += f" (minimum version {e['MinAPIVersion']})"
        lines += ["", "Engine:", f" Version:      {e.get('Version', '?')}",
                  f" API version:  {api}",
                  f" OS/Arch:      {e.get('Os', '?')}/{e.get('Arch', '?')}",
                  f" Kernel:       {e.get('KernelVersion', '?')}"]
    return "\n".join(lines)


def render_json(report: VersionReport) -> str:
    import json

    # docker version --format json's shape: the engine part is null when it did not answer
    return json.dumps({"Client": report.client, "Server": report.engine})


def gather(env: dict[str, str] | None = None) -> VersionReport:
    """Ask the engine named by $PYCOMPOSE_HOST for GET /version, without starting it."""
    from engine.client import Client
    from engine.errors import PycomposeError

    client = Client.from_env(autostart=False, env=env, timeout=5.0)
    address = f"unix://{client.socket_path}"
    try:
        if not client.ping():
            return VersionReport(client_part(), None,
                                 f"the engine is not running (nothing answers on {address}); "
                                 "any other pycompose command starts it")
        return VersionReport(client_part(), client.version(), None)
    except PycomposeError as e:
        return VersionReport(client_part(), None, f"the engine at {address}: {e.message}")
    finally:
        client.close()


def run(format: str) -> int:
    from engine.errors import BadParameter

    if format not in FORMATS:
        raise BadParameter(f"unknown version --format {format!r}: use pretty or json")
    report = gather()
    sys.stdout.write((render_json(report) if format == "json" else render_pretty(report)) + "\n")
    if report.engine_error:
        sys.stdout.flush()
        sys.stderr.write(f"Error: {report.engine_error}\n")
        return 1
    return 0


def _make_app():
    import typer

    app = typer.Typer(add_completion=False)

    @app.command(help="Show the pycompose version and the engine's")
    def version(format: str = typer.Option("pretty", "-f", "--format", help="pretty or json")) -> int:
        return run(format)

    return app


def __getattr__(name: str):
    # The typer app is made on first use: `pycompose --version` imports this module for
    # short_line() and must not pay ~40 ms for typer.
    if name == "app":
        app = globals()["app"] = _make_app()
        return app
    raise AttributeError(name)
