"""`pycompose image build`'s output of a RUN's stderr, which the engine wraps in red escape
codes: piped, the text alone; on a terminal, the text in red (rich's colour, not the raw codes
passed through)."""
from __future__ import annotations

import io

from engine.client.cli.progress import PlainDisplay, RichDisplay

MESSAGES = ({"stream": "Step 2/2 : RUN make\n"}, {"stream": "\x1b[91mapp.c:1: error\n\x1b[0m"},
            {"stream": "done\n"})


def test_piped_build_output_has_no_escape_codes():
    out = io.StringIO()
    with PlainDisplay(out) as shown:
        for message in MESSAGES:
            shown.show(message)
    assert out.getvalue() == "Step 2/2 : RUN make\napp.c:1: error\ndone\n"


def test_a_terminal_shows_stderr_red_and_stdout_plain(monkeypatch):
    # rich reads these when the display makes its console: a colour terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    shown = RichDisplay(out)
    with shown:
        for message in MESSAGES:
            shown.show(message)
    text = out.getvalue()
    assert "\x1b[31mapp.c:1: error" in text
    assert "\x1b[91m" not in text           # the engine's wrapping is not passed through
    assert "Step 2/2 : RUN make" in text and "done" in text
