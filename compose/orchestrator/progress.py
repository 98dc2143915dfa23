"""Compose-style progress lines on stderr (` ✔ Container demo-web-1  Started`)."""
from __future__ import annotations

import sys
import threading
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, colour: bool | None = None,
                 quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        if colour is None:   # NO_COLOR and --no-color are the CLI's to decide (session.py)
            colour = self.stream.isatty()
        self.colour = colour
        self.quiet = quiet
        self._lock = threading.Lock()
        self.lines: list[str] = []   # everything reported (tests and summaries read it)

    def _write(self, text: str) -> None:
        self.lines.append(text)
        if self.quiet:
            return
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self, kind: str, name: str, status: str) -> None:
        mark = "\x1b[32m✔\x1b[0m" if self.colour else "✔"
        self._write(f" {mark} {kind} {name}  {status}")

    def failed(self, kind: str, name: str, message: str) -> None:
        mark = "\x1b[31m✘\x1b[0m" if self.colour else "✘"
        self._write(f" {mark} {kind} {name}  Error {message}")

    def warn(self, message: str) -> None:
        prefix = "\x1b[33mWARN\x1b[0m" if self.colour else "WARN"
        self._write(f"{prefix}[0000] {message}")

    def info(self, message: str) -> None:
        self._write(message)
