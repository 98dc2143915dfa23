"""`pycompose image build`'s output of a RUN's stderr, which the engine wraps in red escape
codes: piped, the text alone; on a terminal, the text in red (rich's colour, not the raw codes
passed through). Also the build flags for the RUN steps' hosts, network and cache sources. The
last test builds on a real engine."""
from __future__ import annotations

import io
import re

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


@pytest.fixture
def fake_build(monkeypatch):
    from engine.client import build as bc
    from engine.client.cli import image as image_cli

    calls: list[dict] = []

    def build(client, directory, **kwargs):
        calls.append(kwargs)
        yield {"stream": "Successfully built 0\n"}

    monkeypatch.setattr(bc, "build", build)
    monkeypatch.setattr(image_cli, "get_client", lambda: "the-client")
    return calls


def test_image_build_sends_add_host_network_and_cache_from(fake_build, tmp_path):
    from compose.cli.main import main

    assert main(["image", "build", str(tmp_path), "--add-host", "a.test:10.0.0.1",
                 "--add-host", "b.test=fd00::1", "--network", "pcnet", "--cache-from", "app:1",
                 "--cache-from", "app:2"]) == 0
    [call] = fake_build
    assert call["extra_hosts"] == ["a.test:10.0.0.1", "b.test:fd00::1"]
    assert call["network_mode"] == "pcnet" and call["cache_from"] == ["app:1", "app:2"]
    assert main(["image", "build", str(tmp_path)]) == 0
    assert (fake_build[1]["extra_hosts"], fake_build[1]["network_mode"],
            fake_build[1]["cache_from"]) == ([], None, [])


def test_a_bad_add_host_is_a_one_line_error_before_any_request(fake_build, tmp_path, capsys):
    from compose.cli.main import main

    assert main(["image", "build", str(tmp_path), "--add-host", "nohost"]) != 0
    err = capsys.readouterr().err
    assert fake_build == [] and err.startswith("Error: ") and "--add-host" in err
    assert err.count("\n") == 1


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


@pytest.mark.integration
def test_add_host_reaches_a_run_steps_etc_hosts(engine, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN grep -E '^10\\.1\\.2\\.3\\s+flag\\.test$' /etc/hosts\n")
    r = engine.cli("image", "build", "--add-host", "flag.test:10.1.2.3", "--network", "none",
                   str(tmp_path), timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert re.search(r"^10\.1\.2\.3\s+flag\.test$", r.stdout, re.M), r.stdout
