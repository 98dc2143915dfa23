"""Typer plumbing shared by the engine command groups (container, image, volume, engine).

Usage errors (unknown flag, missing argument) become one-line `UsageError`s with docker's exit
code 125, raised through the CLI's single error boundary; `--help` prints and exits 0.
"""
from __future__ import annotations

import typer
from typer.core import TyperGroup

from engine.errors import PycomposeError

# Everything after the first positional belongs to the container's command
# (`run busybox ls -l`), and `-h` is help as in docker.
COMMAND_SETTINGS = {"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]}


class UsageError(PycomposeError):
    exit_code = 125


class EngineGroup(TyperGroup):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer import Abort, Exit
        from typer._click import exceptions as click_exc

        try:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        except Exit as e:
            return e.exit_code
        except Abort:
            return 130
        except click_exc.UsageError as e:
            where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
            raise UsageError(f"{where}{e.format_message()}") from None
        except click_exc.ClickException as e:
            raise UsageError(e.format_message()) from None


def make_app(help_text: str) -> typer.Typer:
    return typer.Typer(cls=EngineGroup, help=help_text, no_args_is_help=True,
                       add_completion=False, pretty_exceptions_enable=False,
                       context_settings={"help_option_names": ["-h", "--help"]})


def get_client():
    """The engine client for this process (autostarting the daemon)."""
    from engine.client import Client

    return Client.from_env(autostart=True)
