from __future__ import annotations

import io
import os

import trio
import trio.testing

from compose.logprinter import ByteSink, LogStyle
from compose.orchestrator.attach import AttachOptions, Interrupts, attach
from compose.orchestrator.executor import Orchestrator, UpOptions
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import from_canonical

from .fake_engine import FakeEngine

DATA = {"services": {"web": {"image": "b"}, "worker": {"image": "b"}}}


def attached_run(tmp_path, engine, opts):
    progress = Progress(stream=io.StringIO(), colour=False)
    orch = Orchestrator(from_canonical("demo", DATA), Gateway(lambda: engine, threaded=False),
                        progress)
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)

    async def go():
        result = await orch.up(UpOptions())
        return await attach(orch, result.containers, opts, Interrupts(), ByteSink(out))

    try:
        code = trio.run(go, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        os.close(out)
    return code, (tmp_path / "out").read_text(), progress.lines


def test_logs_interleave_with_prefixes_and_lifecycle_lines(tmp_path):
    engine = FakeEngine()
    engine.output = {"web": b"hello from web\nsecond\n", "worker": b"job done\npartial"}
    engine.exit_codes = {}
    code, out, progress = attached_run(tmp_path, engine, AttachOptions(style=LogStyle(False)))
    lines = out.splitlines()
    assert code == 0
    assert "Attaching to web-1, worker-1" in progress
    assert lines.count("web-1     | hello from web") == 1
    assert "web-1     | second" in lines
    assert "worker-1  | job done" in lines and "worker-1  | partial" in lines
    assert "web-1 exited with code 0" in lines and "worker-1 exited with code 0" in lines


def test_exit_code_from_returns_that_services_code(tmp_path):
    engine = FakeEngine()
    engine.output = {"web": b"w\n", "worker": b"x\n"}
    engine.exit_codes = {"worker": 5}
    code, out, progress = attached_run(
        tmp_path, engine, AttachOptions(style=LogStyle(False), exit_code_from="worker",
                                        abort_on_exit=True))
    assert code == 5
    assert "Aborting on container exit..." in progress


def test_ctrl_c_during_start_up_stops_what_started_without_error():
    from compose.orchestrator.up import _up

    data = {"services": {
        "db": {"image": "b", "healthcheck": {"test": ["CMD", "true"]}},
        "app": {"image": "b", "depends_on": {"db": {"condition": "service_healthy"}}}}}
    engine = FakeEngine()
    engine.health["db"] = ("healthy", 60.0)   # start-up hangs waiting for db
    progress = Progress(stream=io.StringIO(), colour=False)
    orch = Orchestrator(from_canonical("demo", data), Gateway(lambda: engine, threaded=False),
                        progress)

    async def one_signal():
        await trio.sleep(5)
        yield "SIGINT"

    async def go():
        interrupts = Interrupts()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(interrupts.watch, one_signal(), progress)
            code = await _up(orch, interrupts, UpOptions(), AttachOptions(), False, ["db"])
            nursery.cancel_scope.cancel()
        return code

    code = trio.run(go, clock=trio.testing.MockClock(autojump_threshold=0))
    assert code == 0
    assert "Gracefully stopping... (press Ctrl+C again to force)" in progress.lines
    assert engine.names("start") == ["demo-db-1"]      # app never started
    assert engine.names("stop") == ["demo-db-1"]
