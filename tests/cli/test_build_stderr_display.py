"""`pycompose image build`'s output of a RUN's stderr, which the engine wraps in red escape
codes: piped, the text alone; on a terminal, the text in red (rich's colour, not the raw codes
passed through). The last test builds on a real engine."""
from __future__ import annotations

import io

import pytest

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


@pytest.mark.integration
def test_a_piped_image_build_writes_a_runs_stderr_without_escape_codes(engine, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN echo on-stdout && echo on-stderr >&2 && exit 3\n")
    r = engine.cli("image", "build", str(tmp_path), timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "on-stdout\n" in r.stdout and "on-stderr\n" in r.stdout
    assert "\x1b" not in r.stdout
    quiet = engine.cli("image", "build", "-q", str(tmp_path), timeout=120)
    assert quiet.returncode == 1 and "on-stderr\n" in quiet.stderr   # its log, on failure
    assert "\x1b" not in quiet.stderr
