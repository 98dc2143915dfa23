"""Typer plumbing shared by the engine command groups (container, image, volume, engine).

Usage errors (unknown flag, missing argument) become one-line `UsageError`s with docker's exit
code 125, raised through the CLI's single error boundary; `--help` prints and exits 0.
"""
from __future__ import annotations

import typer
from typer.core import TyperGroup

from engine.errors import PycomposeError

# Options may follow the arguments (`rm web -f`, `inspect web -f '{{.Id}}'`) as in docker, and `-h`
# is help. Commands that take a command line (`run busybox ls -l`, `exec`, `top`) stop parsing
# options at the first positional instead: the rest belongs to the command.
COMMAND_SETTINGS = {"allow_interspersed_args": True, "help_option_names": ["-h", "--help"]}
COMMAND_LINE_SETTINGS = {**COMMAND_SETTINGS, "allow_interspersed_args": False}


class UsageError(PycomposeError):
    exit_code = 125


class EngineGroup(TyperGroup):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        plain_coercion(self)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer import Abort, Exit

        try:
            from typer._click import exceptions as click_exc  # typer >= 0.2x vendors click
        except ImportError:  # pragma: no cover - older typer on plain click
            from click import exceptions as click_exc
        no_args_help = getattr(click_exc, "NoArgsIsHelpError", ())

        try:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        except Exit as e:
            return e.exit_code
        except Abort:
            return 130
        except no_args_help:
            return 0  # the help is already printed
        except click_exc.UsageError as e:
            where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
            raise UsageError(f"{where}{e.format_message()}") from None
        except click_exc.ClickException as e:
            raise UsageError(e.format_message()) from None


class Commands:
    """The commands of one group. Typer would build a click command for every one of them at
    start-up (≈10 ms for `container`'s 18); we build only the one that is invoked."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[object, dict]] = {}

    def command(self, name: str, context_settings: dict | None = None):
        def register(fn):
            self.entries[name] = (fn, context_settings or COMMAND_SETTINGS)
            return fn
        return register

    def build(self, name: str):
        import typer.main

        fn, settings = self.entries[name]
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name, context_settings=settings)(fn)
        return plain_coercion(typer.main.get_command(single))


def plain_coercion(command):
    """Give the command's parameters our `PlainCoercion` where it applies."""
    for param in command.params:
        _plain(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx):  # made per context, outside `params`
        return _plain(make_help_option(ctx))

    command.get_help_option = get_help_option
    return command


def _plain(param):
    descriptor = getattr(param, "type_descriptor", None)
    coercion = PlainCoercion.for_annotation(descriptor.annotation) if descriptor else None
    if coercion is not None:
        param._runtime_param = coercion
    return param


class PlainCoercion:
    """Typer 0.29 validates every parameter value through a pydantic TypeAdapter, which imports
    pydantic (~100 ms, more than the rest of the CLI) on every start. Our parameters are only
    str, int, float, bool and lists of str, so they are converted here instead."""

    def __init__(self, kind: type, is_list: bool) -> None:
        self.kind = kind
        self.is_list = is_list

    @classmethod
    def for_annotation(cls, annotation: object) -> "PlainCoercion | None":
        import types
        import typing

        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
            origin = typing.get_origin(annotation)
        is_list = origin in (list, tuple)
        if is_list:
            args = typing.get_args(annotation)
            annotation = args[0] if args else str
        if annotation in (str, int, float, bool):
            return cls(annotation, is_list)  # type: ignore[arg-type]
        return None

    def _one(self, value: object, param, ctx) -> object:
        if self.kind is str or isinstance(value, self.kind):
            return value
        if self.kind is bool:
            text = str(value).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
        else:
            try:
                return self.kind(value)  # type: ignore[operator]
            except (TypeError, ValueError):
                pass
        try:
            from typer._click.exceptions import BadParameter
        except ImportError:  # pragma: no cover - older typer on plain click
            from click.exceptions import BadParameter

        raise BadParameter(f"{value!r} is not a valid {self.kind.__name__}", ctx=ctx, param=param)

    def coerce(self, value: object, param=None, ctx=None) -> object:
        if value is None:
            return None
        if self.is_list:
            return [self._one(v, param, ctx) for v in value]  # type: ignore[union-attr]
        return self._one(value, param, ctx)


class LazyGroup(EngineGroup):
    registry: Commands

    def list_commands(self, ctx) -> list[str]:
        return list(self.registry.entries)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in self.registry.entries:
            self.commands[cmd_name] = self.registry.build(cmd_name)
        return self.commands.get(cmd_name)


def make_app(help_text: str, commands: Commands) -> typer.Typer:
    group = type("Group", (LazyGroup,), {"registry": commands})
    app = typer.Typer(cls=group, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})

    def group_help() -> None:
        pass

    group_help.__doc__ = help_text
    app.callback()(group_help)
    return app


def get_client():
    """The engine client for this process (autostarting the daemon)."""
    from engine.client import Client

    return Client.from_env(autostart=True)


def print_inspected(names: list[str], inspect, template: str | None) -> None:
    """`X inspect NAME...` for every object kind: the JSON documents (or `-f` template lines)
    of those found, one error line per missing name, exit 1 if any was missing (as docker)."""
    import sys

    from engine.client.cli import format as fmt
    from engine.errors import NotFound

    found, failed = [], False
    for name in names:
        try:
            found.append(inspect(name))
        except NotFound as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    if template:
        for item in found:
            print(fmt.render_template(template, item))
    else:
        print(fmt.inspect_json(found))
    raise typer.Exit(1 if failed else 0)
