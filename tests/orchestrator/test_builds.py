"""Builds of `build` and `up` (issue #16, items 6 and 7): each image once, its output shown while
it runs, the failed step's output on failure. Pure, or over a fake /build response; the real
engine's builds are in test_builds_integration.py."""
from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
import trio
import trio.testing

from compose.model import Build
from compose.orchestrator import builds
from compose.orchestrator.build_output import (BuildLog, BuildView, LiveBuildView,
                                               PlainBuildView, view_for)
from compose.orchestrator.builds import BuildJob, build_images, plan_builds
from compose.orchestrator.executor import Orchestrator, UpOptions
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import from_canonical
from engine.errors import EngineError

from .fake_engine import FakeEngine

def B(**build) -> Build:
    """A service's `build:` as the model holds it."""
    return Build(**build)


WEB = B(context="/p/web", dockerfile="Dockerfile")


def test_services_sharing_build_and_tag_make_one_job():
    plan = plan_builds([("db", "w/db", B(context="/p/db")), ("migrate", "w/web", WEB),
                        ("web", "w/web", B(dockerfile="Dockerfile", context="/p/web"))])
    assert plan.jobs == (BuildJob("w/db", B(context="/p/db"), ("db",)),
                         BuildJob("w/web", WEB, ("migrate", "web")))
    assert plan.warnings == ()


def test_same_tag_different_build_is_built_once_from_the_first_with_a_warning():
    plan = plan_builds([("a", "x:1", WEB), ("b", "x:1", replace(WEB, target="dev")),
                        ("c", "x:1", B(context="/p/web"))])
    assert [(j.tag, j.build, j.services) for j in plan.jobs] == [("x:1", WEB, ("a", "b", "c"))]
    assert plan.warnings == ('services "a" and "b" use image "x:1" with different build '
                             'settings; it is built once, from "a"\'s build',)


def test_build_log_keeps_the_current_steps_lines_across_partial_messages():
    log = BuildLog()
    assert log.feed("Step 1/2 : FROM busybox\n ---> 1234\n") == [b"Step 1/2 : FROM busybox",
                                                                 b" ---> 1234"]
    assert log.feed("Step 2/2 : RUN make\nbuil") == [b"Step 2/2 : RUN make"]
    assert log.feed("ding\r\nerror: no rule\n") == [b"building", b"error: no rule"]
    assert log.feed("50%\r100%") == [b"50%"]
    assert log.flush() == [b"100%"]
    assert log.failed_step() == [b"Step 2/2 : RUN make", b"building", b"error: no rule",
                                 b"50%", b"100%"]


class _Response:
    def __init__(self, messages: list[dict]) -> None:
        self.lines = [json.dumps(m).encode() for m in messages]

    def iter_lines(self):
        yield from self.lines

    def close(self) -> None:
        pass


class _BuildClient:
    """POST /build answers with the messages given per tag (the context is packed for real)."""

    def __init__(self, streams: dict[str, list[dict]]) -> None:
        self.streams = streams
        self.built: list[str] = []

    def request(self, method, path, params=None, body=None, headers=None):
        tag = params["t"][0]
        self.built.append(tag)
        return _Response(self.streams[tag])


def _steps(*lines: str) -> list[dict]:
    return [{"stream": line} for line in lines]


OK = _steps("Step 1/2 : FROM busybox\n", " ---> abc\n", "Step 2/2 : RUN echo hi\n", "hi\n",
            "Successfully tagged w/web:latest\n")
FAILING = _steps("Step 1/2 : FROM busybox\n", " ---> abc\n", "Step 2/2 : RUN make\n",
                 "cc -o app app.c\n", "app.c:1: error: expected ';'\n") + [
    {"error": "Dockerfile:2: RUN make: returned a non-zero code: 2"}]


def _build(tmp_path, streams, progress, view=None, jobs=None):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    client = _BuildClient(streams)
    gw = Gateway(lambda: client, threaded=False)
    plan = plan_builds(jobs or [(service, tag, B(context=str(tmp_path)))
                                for service, tag in [("migrate", "w/web"), ("web", "w/web")]])

    async def main():
        return await build_images(gw, progress, plan, view=view)
    return client, trio.run(main)


def test_plain_view_shows_every_line_prefixed_with_the_service(tmp_path):
    err = io.StringIO()
    progress = Progress(stream=err, colour=False)
    client, built = _build(tmp_path, {"w/web": OK}, progress)
    assert client.built == ["w/web"]           # once for both services
    assert [job.services for job in built] == [("migrate", "web")]
    out = err.getvalue().splitlines()
    assert out[:5] == ["migrate  | Step 1/2 : FROM busybox", "migrate  |  ---> abc",
                       "migrate  | Step 2/2 : RUN echo hi", "migrate  | hi",
                       "migrate  | Successfully tagged w/web:latest"]
    assert out[5:] == [" ✔ Image w/web  Built"]


def test_a_failed_build_shows_its_steps_output_even_when_quiet(tmp_path):
    err = io.StringIO()
    progress = Progress(stream=err, colour=False, quiet=True)
    jobs = [("api", "w/api", B(context=str(tmp_path))), ("web", "w/web",
                                                           B(context=str(tmp_path)))]
    with pytest.raises(BaseException) as caught:
        _build(tmp_path, {"w/web": FAILING, "w/api": OK}, progress, jobs=jobs)
    errors = caught.value.exceptions if isinstance(caught.value, BaseExceptionGroup) \
        else [caught.value]
    assert [str(e) for e in errors] == ["Dockerfile:2: RUN make: returned a non-zero code: 2"]
    assert all(isinstance(e, EngineError) for e in errors)
    assert err.getvalue() == ("failed to build w/web; the output of the step that failed:\n"
                              "web  | Step 2/2 : RUN make\n"
                              "web  | cc -o app app.c\n"
                              "web  | app.c:1: error: expected ';'\n")
    # the other build finished, or was never begun (trio's scheduling order varies); either
    # way it is no failure of its own
    assert progress.lines in ([" ✔ Image w/api  Built"], [])


def test_the_plain_log_is_not_repeated_on_failure(tmp_path):
    err = io.StringIO()
    with pytest.raises(BaseException):
        _build(tmp_path, {"w/web": FAILING}, Progress(stream=err, colour=False))
    assert err.getvalue().count("app.c:1: error: expected ';'") == 1
    assert "migrate  | app.c:1: error" in err.getvalue()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_view_follows_the_stream():
    assert type(view_for(Progress(stream=io.StringIO()), ["a"])) is PlainBuildView
    assert type(view_for(Progress(stream=_Tty()), ["a"])) is LiveBuildView
    assert type(view_for(Progress(stream=_Tty(), quiet=True), ["a"])) is BuildView


def test_the_live_view_shows_the_last_lines_of_each_running_build():
    from rich.console import Console

    view = LiveBuildView(io.StringIO(), ["db", "web"])
    view.begin("db", "w/db")
    view.begin("web", "w/web")
    view.text("db", "".join(f"db line {i}\n" for i in range(9)))
    view.text("web", "[bold]not markup[/bold]\n")
    console = Console(file=io.StringIO(), width=60, record=True)
    console.print(view._render())
    screen = console.export_text()
    assert "Building db" in screen and "Building web" in screen
    assert [f"db line {i}" in screen for i in range(9)] == [False] * 4 + [True] * 5
    assert "[bold]not markup[/bold]" in screen
    view.end("db", True)
    console = Console(file=io.StringIO(), width=60, record=True)
    console.print(view._render())
    screen = console.export_text()
    assert "✔ db built" in screen and "db line" not in screen


def test_up_builds_webapps_shared_image_once(monkeypatch):
    built = []

    def fake_build(client, tag, build, **kw):
        built.append(tag)
        engine.images = dict(engine.images or {}, **{tag: "sha256:" + tag})
        return ""

    monkeypatch.setattr(builds, "run_build", fake_build)
    data = {"services": {
        "db": {"image": "w/db", "build": {"context": "/db"}},
        "migrate": {"image": "w/web", "build": {"context": "/web"}},
        "web": {"image": "w/web", "build": {"context": "/web"}}}}
    engine = FakeEngine()
    engine.images = {}
    progress = Progress(stream=io.StringIO(), colour=False)
    orch = Orchestrator(from_canonical("demo", data, working_dir="/src",
                                       config_files=["/src/compose.yaml"]),
                        Gateway(lambda: engine, threaded=False), progress)
    trio.run(lambda: orch.up(UpOptions()), clock=trio.testing.MockClock(autojump_threshold=0))
    assert sorted(built) == ["w/db", "w/web"]
    assert sorted(line for line in progress.lines if "Built" in line) == [
        " ✔ Image w/db  Built", " ✔ Image w/web  Built"]
    assert engine._get("demo-migrate-1")["Config"]["Image"] == "w/web"
    assert engine._get("demo-web-1")["Config"]["Image"] == "w/web"


def test_progress_lines_during_the_live_view_print_above_it():
    stream = _Tty()
    progress = Progress(stream=stream, colour=False)
    view = view_for(progress, ["web"])
    with view:
        view.begin("web", "w/web")
        view.text("web", "Step 1/1 : FROM busybox\n")
        progress.done("Volume", "demo_data", "Created")
        assert progress.stream is not stream
    assert progress.stream is stream
    assert " ✔ Volume demo_data  Created" in stream.getvalue()
    assert progress.lines == [" ✔ Volume demo_data  Created"]
