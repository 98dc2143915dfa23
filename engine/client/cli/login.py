"""`pycompose login` / `pycompose logout`: registry credentials the engine uses to pull and push.

The line between client and engine state: what lives in the engine's state root is written by
the engine only, through the API. The engine, not the CLI, talks to registries (compose's pulls
and builds go through it), so it keeps the credentials (engine/images/auth.py, 0600, in its root)
and this CLI only asks: login is Docker's POST /auth (check with the registry, then store),
logout is DELETE /pycompose/auth (Docker has no such route: its CLI keeps the credentials in its
own ~/.docker/config.json, client state, which we have none of).
"""
from __future__ import annotations

import sys
from typing import Optional

import typer

from engine.client.cli.app import COMMAND_SETTINGS
from engine.errors import BadParameter, EngineError, PycomposeError


class LoginFailed(PycomposeError):
    """The registry refused the credentials (docker login exits 1)."""


def read_password(password: str | None, password_stdin: bool, stdin=None) -> str | None:
    """The password from -p, --password-stdin (one line, newline stripped) or nothing."""
    if password is not None and password_stdin:
        raise BadParameter("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        text = (stdin or sys.stdin).read()
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        if not text:
            raise BadParameter("empty password on stdin")
        return text
    return password


def display_host(server: str) -> str:
    """The registry as the user named it, for messages (the engine keeps the canonical key)."""
    text = server.strip().removeprefix("https://").removeprefix("http://")
    return text.split("/", 1)[0] or "docker.io"


def login(server: Optional[str] = typer.Argument(None, help="Registry host[:port] "
                                                 "(default: Docker Hub)."),
          username: Optional[str] = typer.Option(None, "-u", "--username", help="User name."),
          password: Optional[str] = typer.Option(None, "-p", "--password", help="Password."),
          password_stdin: bool = typer.Option(False, "--password-stdin",
                                              help="Read the password from stdin.")) -> None:
    """Log in to a registry: check the credentials and store them for pull and push."""
    import getpass

    from engine.client.cli.app import get_client

    host = display_host(server or "")
    secret = read_password(password, password_stdin)
    if username is None:
        if not sys.stdin.isatty() or password_stdin:
            raise BadParameter("login needs -u USER when stdin is not a terminal")
        username = input("Username: ").strip()
    if secret is None:
        if not sys.stdin.isatty():
            raise BadParameter("login needs -p or --password-stdin when stdin is not a terminal")
        secret = getpass.getpass("Password: ")
    if not username or not secret:
        raise BadParameter("login needs a user name and a password")
    if password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
              file=sys.stderr)
    try:
        print(get_client().login(server or "", username, secret))
    except EngineError as e:   # the registry said no, or could not be reached
        raise LoginFailed(f"login to {host} failed: {e.message}") from None


def logout(server: Optional[str] = typer.Argument(None, help="Registry host[:port].")) -> None:
    """Forget the stored credentials for a registry."""
    from engine.client.cli.app import get_client

    host, removed = get_client().logout(server or "")
    if removed:
        print(f"Removing login credentials for {host}")
    else:
        print(f"Not logged in to {host}")


def _single(fn, name: str) -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name, context_settings=COMMAND_SETTINGS)(fn)
    return app


login_app = _single(login, "login")
logout_app = _single(logout, "logout")
