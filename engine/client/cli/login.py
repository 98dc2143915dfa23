"""`pycompose login` / `pycompose logout`: registry credentials the engine uses to pull and push.

The engine keeps them (engine/images/auth.py: Docker's config.json shape, mode 0600) in its state
root, since the engine, not the CLI, talks to registries. Login asks the engine's POST /auth to
check them against the registry and store them; an engine without that route gets the same done
here, with the engine's own auth module on the engine's credentials file.
"""
from __future__ import annotations

import sys
from typing import Optional

import typer

from engine.client.cli.app import COMMAND_SETTINGS
from engine.errors import BadParameter, EngineError, NotFound, PycomposeError


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


def credential_store():
    """The engine's credential file ($PYCOMPOSE_ROOT/images/auth.json)."""
    from engine.config import EngineConfig
    from engine.images.auth import CredentialStore

    return CredentialStore(EngineConfig.from_env().root / "images" / "auth.json")


def _login(server: str, username: str, password: str) -> str:
    from engine.client.cli.app import get_client
    from engine.images import transfer

    client = get_client()
    try:
        response = client.request("POST", "/auth", json_body={
            "username": username, "password": password, "serveraddress": server})
    except NotFound:
        response = None   # an engine without POST /auth: check and store them here
    if response is not None:
        import json

        data = response.read()
        return (json.loads(data) if data else {}).get("Status") or "Login Succeeded"
    return transfer.login(credential_store(), server, username, password)


def login(server: Optional[str] = typer.Argument(None, help="Registry host[:port] "
                                                 "(default: Docker Hub)."),
          username: Optional[str] = typer.Option(None, "-u", "--username", help="User name."),
          password: Optional[str] = typer.Option(None, "-p", "--password", help="Password."),
          password_stdin: bool = typer.Option(False, "--password-stdin",
                                              help="Read the password from stdin.")) -> None:
    """Log in to a registry: check the credentials and store them for pull and push."""
    import getpass

    from engine.images.transfer import server_host

    host = server_host(server or "")
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
        print(_login(host, username, secret))
    except EngineError as e:   # the registry said no, or could not be reached
        raise LoginFailed(f"login to {host} failed: {e.message}") from None


def logout(server: Optional[str] = typer.Argument(None, help="Registry host[:port].")) -> None:
    """Forget the stored credentials for a registry."""
    from engine.images.transfer import server_host

    host = server_host(server or "")
    if credential_store().remove(host):
        print(f"Removing login credentials for {host}")
    else:
        print(f"Not logged in to {host}")


def _single(fn, name: str) -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name, context_settings=COMMAND_SETTINGS)(fn)
    return app


login_app = _single(login, "login")
logout_app = _single(logout, "logout")
