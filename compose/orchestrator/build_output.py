"""What the user sees of the builds of `build` and `up`, while they run (as Compose v2 shows them).

On a terminal: a live block per image, its last few lines under a spinner, which goes away when
the builds are over (the ` ✔ Image … Built` lines stay). Not on a terminal: the whole log, each
line prefixed with the service (as `logs` prefixes container lines), so a CI log has everything.
Quiet: nothing while it runs. In every mode a failed build ends with the output of the step that
failed (the plain log has already shown it, just above the error), since the engine's error says
only `returned a non-zero code`.

Build output is untrusted text: it goes through as bytes in plain mode and as `rich.text.Text`
(never markup) on the terminal. Views are called from the build threads, hence the locks.

A RUN's stderr comes wrapped in red escape codes (engine.client.build.unwrap_stderr). Compose v2
prints them as they come, also into a file; we take them off everywhere, so a CI log and the
failure report hold only the program's text, and mark the lines instead: the live block on a
terminal shows them red. The report stays plain: it is the same text as the plain log.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import IO, Any

from compose.logprinter import LineSplitter, LogPresenter, LogStyle

TAIL_LINES = 5        # lines of each build shown live on a terminal
STEP_LINES = 2000     # a failed step's output kept for the report (its last lines)


class BuildLog:
    """One image's build output cut into lines, remembering where the current step began (a
    `Step N/M : …` line), so a failure can show that step's output and nothing older."""

    def __init__(self) -> None:
        # imported here: a log exists only once a build runs (which imports it anyway), and
        # every compose command imports this module (8 ms saved)
        from engine.client.build import unwrap_stderr

        self._unwrap = unwrap_stderr
        self._splitter = LineSplitter()
        self._rest_stderr = False  # the partial line held by the splitter has stderr in it
        self.step: deque[bytes] = deque(maxlen=STEP_LINES)
        self.dropped = 0      # lines of the current step that fell out of `step`

    def feed(self, text: str) -> list[bytes]:
        """Complete lines of a stream message (a message may hold part of a line)."""
        return [line for line, _ in self.feed_marked(text)]

    def feed_marked(self, text: str) -> list[tuple[bytes, bool]]:
        """As feed, each line with whether any of it came from a RUN's stderr."""
        text, stderr = self._unwrap(text)
        data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8", "replace")
        lines = self._splitter.feed(data)
        marked = [(line, stderr or (i == 0 and self._rest_stderr)) for i, line in enumerate(lines)]
        if not lines:
            self._rest_stderr = self._rest_stderr or (stderr and bool(data))
        else:
            self._rest_stderr = stderr and not data.endswith(b"\n")
        self._keep(lines)
        return marked

    def flush(self) -> list[bytes]:
        return [line for line, _ in self.flush_marked()]

    def flush_marked(self) -> list[tuple[bytes, bool]]:
        lines = self._splitter.flush()
        stderr, self._rest_stderr = self._rest_stderr, False
        self._keep(lines)
        return [(line, stderr) for line in lines]

    def _keep(self, lines: list[bytes]) -> None:
        for line in lines:
            if line.startswith(b"Step ") and b" : " in line:
                self.step.clear()
                self.dropped = 0
            elif len(self.step) == self.step.maxlen:
                self.dropped += 1
            self.step.append(line)

    def failed_step(self) -> list[bytes]:
        head = [f"... ({self.dropped} lines of this step left out)".encode()] \
            if self.dropped else []
        return head + list(self.step)


class BuildView:
    """The quiet view, and the base of the others: a build's lines are only kept."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.logs: dict[str, BuildLog] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> BuildView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def begin(self, name: str, tag: str) -> None:
        with self._lock:
            self.logs[name] = BuildLog()

    def text(self, name: str, text: str) -> None:
        """A stream message of the build named `name` (a service)."""
        lines = self.logs[name].feed_marked(text)
        if lines:
            self._show(name, lines)

    def end(self, name: str, ok: bool) -> None:
        lines = self.logs[name].flush_marked()
        if lines:
            self._show(name, lines)
        self._ended(name, ok)

    def _show(self, name: str, lines: list[tuple[bytes, bool]]) -> None:
        """Lines, each with whether it holds a RUN's stderr."""

    def _ended(self, name: str, ok: bool) -> None:
        pass

    def report_failure(self, name: str, tag: str) -> None:
        """After the view is closed: the failed step's output, prefixed like the plain log."""
        presenter = LogPresenter([name], LogStyle(colour=False))
        block = presenter.lines(name, self.logs[name].failed_step())
        self.stream.write(f"failed to build {tag}; the output of the step that failed:\n")
        self.stream.write(block.decode("utf-8", "replace"))
        self.stream.flush()


class PlainBuildView(BuildView):
    """Every line as it comes, `service | line` (the service names padded to one width)."""

    def __init__(self, stream: IO[str], names: list[str], colour: bool = False) -> None:
        super().__init__(stream)
        self.presenter = LogPresenter(names, LogStyle(colour=colour))

    def _show(self, name: str, lines: list[tuple[bytes, bool]]) -> None:
        block = self.presenter.lines(name, [line for line, _ in lines]).decode("utf-8", "replace")
        with self._lock:
            self.stream.write(block)
            self.stream.flush()

    def report_failure(self, name: str, tag: str) -> None:
        pass    # its every line is on screen already, right above the error


class _AboveLive:
    """Stands in for the progress stream while the live block is drawn: what others report
    meanwhile (` ✔ Volume … Created`) is printed above the block instead of through it."""

    def __init__(self, live: Any) -> None:
        self.live = live

    def write(self, text: str) -> int:
        from rich.text import Text

        self.live.console.print(Text.from_ansi(text.rstrip("\n")))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


class LiveBuildView(BuildView):
    """A spinner and the last TAIL_LINES lines per build, redrawn in place (rich Live)."""

    def __init__(self, stream: IO[str], names: list[str], progress: Any = None) -> None:
        super().__init__(stream)
        self.names = list(names)
        self.tails: dict[str, deque[tuple[str, bool]]] = {}
        self.state: dict[str, str] = {}       # name -> "building" | "built" | "failed"
        self.progress = progress
        self._live: Any = None

    def __enter__(self) -> LiveBuildView:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, highlight=False)
        self._live = Live(get_renderable=self._render, console=console, transient=True,
                          refresh_per_second=8, redirect_stdout=False, redirect_stderr=False)
        self._live.start()
        if self.progress is not None:
            self.progress.stream = _AboveLive(self._live)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stream = self.stream
        if self._live is not None:
            self._live.stop()
            self._live = None

    def begin(self, name: str, tag: str) -> None:
        super().begin(name, tag)
        with self._lock:
            self.tails[name] = deque(maxlen=TAIL_LINES)
            self.state[name] = "building"

    def _show(self, name: str, lines: list[tuple[bytes, bool]]) -> None:
        with self._lock:
            self.tails[name].extend((line.decode("utf-8", "replace"), stderr)
                                    for line, stderr in lines)

    def _ended(self, name: str, ok: bool) -> None:
        with self._lock:
            self.state[name] = "built" if ok else "failed"

    def _render(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            snapshot = [(n, self.state.get(n), list(self.tails.get(n, ())))
                        for n in self.names if n in self.state]
        rows = []
        for name, state, tail in snapshot:
            head = Table.grid(padding=(0, 1))
            if state == "building":
                head.add_row(Spinner("dots"), Text(f"Building {name}"))
            else:
                mark = Text("✔", style="green") if state == "built" else Text("✘", style="red")
                head.add_row(mark, Text(f"{name} {state}"))
            rows.append(head)
            if state == "building":
                rows.extend(Text("    " + line, style="red" if stderr else "dim", no_wrap=True,
                                 overflow="ellipsis")
                            for line, stderr in tail)
        return Group(*rows)


def view_for(progress: Any, names: list[str]) -> BuildView:
    """The view the progress stream calls for: quiet, live on a terminal, else plain."""
    stream = progress.stream
    if getattr(progress, "quiet", False):
        return BuildView(stream)
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return LiveBuildView(stream, names, progress)
    return PlainBuildView(stream, names, colour=False)
