"""A RUN's stderr in compose's build output: the engine wraps each stderr chunk in red escape
codes (as Docker's classic builder does); the plain log and the failure report carry the text
alone, the live block on a terminal shows those lines red."""
from __future__ import annotations

import io

import pytest

from compose.orchestrator.build_output import BuildLog, LiveBuildView, PlainBuildView
from compose.orchestrator.builds import run_build
from engine.client.build import unwrap_stderr

RED, RESET = "\x1b[91m", "\x1b[0m"


def err(text: str) -> str:
    return f"{RED}{text}{RESET}"


def test_only_a_message_wrapped_at_both_ends_is_stderr():
    assert unwrap_stderr(err("app.c:1: error\n")) == ("app.c:1: error\n", True)
    assert unwrap_stderr(err("")) == ("", True)
    assert unwrap_stderr("plain\n") == ("plain\n", False)
    # a program's own colours are its text, kept as written
    assert unwrap_stderr(f"{RED}warn{RESET} and more\n") == (f"{RED}warn{RESET} and more\n", False)
    assert unwrap_stderr(RESET) == (RESET, False)


def test_the_build_log_strips_the_wrapping_and_marks_stderr_lines():
    log = BuildLog()
    assert log.feed_marked("Step 2/2 : RUN make\n") == [(b"Step 2/2 : RUN make", False)]
    assert log.feed_marked(err("app.c:1: error\nwarn")) == [(b"app.c:1: error", True)]
    # the rest of a line begun on stderr is still that line
    assert log.feed_marked("ing done\nout\n") == [(b"warning done", True), (b"out", False)]
    assert log.feed_marked("half ") == []
    assert log.feed_marked(err("tail")) == []
    assert log.flush_marked() == [(b"half tail", True)]
    assert log.failed_step() == [b"Step 2/2 : RUN make", b"app.c:1: error", b"warning done",
                                 b"out", b"half tail"]
    assert not any("\x1b" in line.decode() for line in log.failed_step())


def test_a_stdout_line_after_a_finished_stderr_line_is_not_red():
    log = BuildLog()
    assert log.feed_marked(err("e1\n")) == [(b"e1", True)]
    assert log.feed_marked("o1\n") == [(b"o1", False)]
    assert log.feed_marked(err("e2\r\n")) == [(b"e2", True)]
    assert log.flush_marked() == []


def test_the_plain_view_writes_stderr_without_escape_codes():
    out = io.StringIO()
    view = PlainBuildView(out, ["app"])
    view.begin("app", "p-app")
    view.text("app", "compiling-now\n")
    view.text("app", err("app.c:1: error: expected\n"))
    view.end("app", False)
    assert out.getvalue() == "app  | compiling-now\napp  | app.c:1: error: expected\n"


def test_the_failure_report_is_plain_text():
    out = io.StringIO()
    view = LiveBuildView(out, ["app"])
    view.begin("app", "p-app")
    view.text("app", "Step 3/3 : RUN make\n")
    view.text("app", err("app.c:1: error: expected\n"))
    view.end("app", False)
    view.report_failure("app", "p-app")
    assert out.getvalue() == ("failed to build p-app; the output of the step that failed:\n"
                              "app  | Step 3/3 : RUN make\n"
                              "app  | app.c:1: error: expected\n")


def test_the_live_view_shows_stderr_lines_red():
    from rich.console import Console

    view = LiveBuildView(io.StringIO(), ["app"])
    view.begin("app", "p-app")
    view.text("app", "compiling-now\n")
    view.text("app", err("app.c:1: error\n"))
    console = Console(file=io.StringIO(), width=60, force_terminal=True, color_system="standard",
                      record=True)
    console.print(view._render())
    screen = console.export_text(styles=True, clear=False)
    plain = console.export_text()
    assert "\x1b[31m    app.c:1: error" in screen       # red
    assert "\x1b[2m    compiling-now" in screen          # dim, as before
    assert "[91m" not in plain and "    app.c:1: error" in plain


class _Response:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def iter_lines(self):
        yield from self.lines

    def close(self) -> None:
        pass


class _Client:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def request(self, method, path, params=None, body=None, headers=None):
        return _Response(self.lines)


def test_run_build_returns_the_last_line_without_the_wrapping(tmp_path):
    from compose.model import Build

    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    client = _Client([b'{"stream": "Step 1/1 : RUN x\\n"}',
                      b'{"stream": "\\u001b[91mdone on stderr\\n\\u001b[0m"}'])
    seen: list[str] = []
    assert run_build(client, "t", Build(context=str(tmp_path)), on_text=seen.append) == \
        "done on stderr"
    assert seen[-1] == err("done on stderr\n")      # the view gets it whole, to mark it


@pytest.mark.parametrize("chunks", [["ab\n"], ["a", "b\n"], ["a", err("b"), "\n"]])
def test_lines_are_the_same_however_the_messages_cut_them(chunks):
    log = BuildLog()
    lines = [line for c in chunks for line in log.feed(c)] + log.flush()
    assert lines == [b"ab"]


def test_kube_push_writes_a_builds_stderr_without_the_wrapping(monkeypatch, capsys):
    from compose.kube import push
    from compose.model import Build, Project, Service
    from compose.orchestrator import builds
    from engine import client as client_pkg

    class _PushClient:
        def tag_image(self, *args) -> None:
            pass

        def close(self) -> None:
            pass

    def fake_build(client, tag, build, on_text=None, **kw):
        on_text("Step 1/1 : RUN make\n")
        on_text(err("app.c:1: warning\n"))
        return ""

    monkeypatch.setattr(builds, "run_build", fake_build)
    monkeypatch.setattr(client_pkg.Client, "from_env", classmethod(lambda cls, **kw: _PushClient()))
    monkeypatch.setattr(push, "_push", lambda client, repo, tag: "sha256:" + "a" * 64)
    project = Project(name="shop", working_dir="/src",
                      services={"app": Service(name="app", build=Build(context="/src"))})
    assert push.push_images(None, project, "127.0.0.1:5000") == {
        "app": "127.0.0.1:5000/shop-app@sha256:" + "a" * 64}
    logged = capsys.readouterr().err
    assert "Step 1/1 : RUN make\napp.c:1: warning\n" in logged and "\x1b" not in logged
