"""What the `container|image|network|volume prune` verbs share: asking before removing (in the
docker CLI's words, so scripts and users see one prompt) and saying what went."""
from __future__ import annotations

import sys
from collections.abc import Iterable

from engine.client.cli import format as fmt
from engine.errors import PycomposeError


def confirmed(noun: str, what: str, force: bool) -> bool:
    """Go on? Yes with -f; else a y/yes on a terminal. Without a terminal to ask on (a script)
    nothing is removed silently: that needs -f, said as an error naming the verb."""
    if force:
        return True
    if not sys.stdin.isatty():
        raise PycomposeError(f"{noun} prune needs -f when stdin is not a terminal")
    answer = input(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def report(title: str, lines: Iterable[str], reclaimed: float | None = None) -> None:
    """`Deleted <title>:` and a line each (nothing when none went), then the space reclaimed
    (network prune has none to tell)."""
    lines = list(lines)
    if lines:
        print(f"Deleted {title}:")
        for line in lines:
            print(line)
        print()
    if reclaimed is not None:
        print(f"Total reclaimed space: {fmt.human_size(reclaimed)}")
