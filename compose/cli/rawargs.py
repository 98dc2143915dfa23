"""The arguments a verb splits itself rather than declaring them to typer (typer 0.29 builds a
pydantic adapter for every valued parameter, and importing pydantic costs more than `config -q`
may take): valued options (`--opt V` or `--opt=V`), bare flags, and operands."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RawArgs:
    values: dict[str, str]      # by the key the option maps to; the last one given wins
    operands: tuple[str, ...]
    flags: frozenset[str]       # the keys of the bare flags given


def split_args(args: Sequence[str], valued: Mapping[str, str], usage: Callable[[str], Exception],
               *, flags: Mapping[str, str] | None = None,
               unknown: str = "no such option") -> RawArgs:
    """Split `args` by the option names in `valued` / `flags` (name -> key). An unknown option
    or a valued one at the end without its value raises `usage(message)`."""
    flags = flags or {}
    values: dict[str, str] = {}
    operands: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        if name in valued:
            if eq:
                values[valued[name]] = inline
            elif i + 1 < len(args):
                i += 1
                values[valued[name]] = args[i]
            else:
                raise usage(f"option {name} needs a value")
        elif arg in flags:
            seen.add(flags[arg])
        elif arg.startswith("-"):
            raise usage(f"{unknown}: {arg}")
        else:
            operands.append(arg)
        i += 1
    return RawArgs(values, tuple(operands), frozenset(seen))
