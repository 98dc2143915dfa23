"""Showing the engine's JSON progress streams (pull, push, build, bootstrap) on the CLI.

On a terminal: one rich progress bar per layer id, build output above the bars. Piped: plain
lines as docker prints them without a terminal (`<id>: Pull complete`, `Digest: ...`); byte
counts are left out there, they would only flood a log. rich is imported only for a terminal.

A build's RUN stderr arrives wrapped in red escape codes (engine.client.build.unwrap_stderr):
the docker CLI writes them as they come, also into a pipe; we take them off there (a log file
gets the program's text only) and print that text red on a terminal, through rich, which
knows whether the terminal takes colour (NO_COLOR).
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any


# Messages the engine may repeat at the end of a transfer (the transfer and the API route both
# announce the digest/status); the first of each kind is the one shown.
_ONCE_PREFIXES = ("Digest: ", "Status: ")
_DONE = ("Pull complete", "Already exists", "Pushed", "Layer already exists")


def once_key(status: str) -> str | None:
    """The kind of a status line that is shown once per stream (None: always shown)."""
    for prefix in _ONCE_PREFIXES:
        if status.startswith(prefix):
            return prefix
    head, sep, _ = status.partition(": digest: ")
    return f"{head}: digest:" if sep and " " not in head else None


def plain_line(message: dict) -> str | None:
    """A message as the line docker prints when stdout is not a terminal (None: nothing)."""
    if "stream" in message:
        return None   # raw text, written as it comes
    status = message.get("status")
    if not status:
        return None
    detail = message.get("progressDetail") or {}
    if detail.get("total") or detail.get("current"):
        return None   # byte counts: only the bars show them
    ident = message.get("id")
    return f"{ident}: {status}" if ident else str(status)


class PlainDisplay:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.seen: set[str] = set()

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def show(self, message: dict) -> None:
        if "stream" in message:
            from engine.client.build import unwrap_stderr

            self.out.write(unwrap_stderr(str(message["stream"]))[0])
            self.out.flush()
            return
        key = once_key(str(message.get("status") or ""))
        if key is not None:
            if key in self.seen:
                return
            self.seen.add(key)
        line = plain_line(message)
        if line is not None:
            self.out.write(line + "\n")
            self.out.flush()


class RichDisplay:
    """A bar per layer id (a spinner until a total is known); other lines print above."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        self.console = Console(file=out)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.fields[ident]}"),
                                 TextColumn("{task.description:<20}"), BarColumn(),
                                 TextColumn("{task.fields[size]}"), console=self.console)
        self.tasks: dict[str, Any] = {}
        self.totals: dict[str, int] = {}
        self.seen: set[str] = set()

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, message: dict) -> None:
        if "stream" in message:
            from rich.text import Text

            from engine.client.build import unwrap_stderr

            text, stderr = unwrap_stderr(str(message["stream"]))
            if text:
                self.console.print(Text(text, style="red" if stderr else ""), end="",
                                   highlight=False)
            return
        status = str(message.get("status") or "")
        ident = message.get("id")
        if not status:
            return
        key = once_key(status)
        if key is not None:
            if key in self.seen:
                return
            self.seen.add(key)
        if not ident or "progressDetail" not in message:
            line = f"{ident}: {status}" if ident else status
            self.console.print(line, markup=False, highlight=False)
            return
        detail = message.get("progressDetail") or {}
        task = self.tasks.get(ident)
        if task is None:
            task = self.tasks[ident] = self.progress.add_task(status, ident=ident, total=None,
                                                              size="")
        update: dict[str, Any] = {"description": status}
        if detail.get("total"):
            from engine.client.cli.format import human_size

            self.totals[ident] = detail["total"]
            update.update(total=detail["total"], completed=detail.get("current", 0),
                          size=f"{human_size(detail.get('current', 0))}/"
                               f"{human_size(detail['total'])}")
        if status in _DONE:
            total = self.totals.get(ident) or 1
            update.update(total=total, completed=total)
        self.progress.update(task, **update)


def display(out: IO[str] | None = None, tty: bool | None = None) -> PlainDisplay | RichDisplay:
    out = out or sys.stdout
    if tty is None:
        tty = out.isatty()
    return RichDisplay(out) if tty else PlainDisplay(out)


def show_all(messages: Iterable[dict], quiet: bool = False) -> list[dict]:
    """Show a stream (or nothing with `quiet`); returns the `aux` messages seen."""
    aux: list[dict] = []
    if quiet:
        for message in messages:
            if "aux" in message:
                aux.append(message["aux"])
        return aux
    with display() as shown:
        for message in messages:
            if "aux" in message:
                aux.append(message["aux"])
            shown.show(message)
    return aux
