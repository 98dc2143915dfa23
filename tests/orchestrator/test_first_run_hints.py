"""What a new user meets first: a base image no registry gives, `up --wait` on a one-shot, a port
out of range (issue #16, item 10). Pure or on the fake engine; the integration side of `up --wait`
is in test_builds_integration.py."""
from __future__ import annotations

import io
import json

import pytest
import trio
import trio.testing

from compose.errors import ComposeError
from compose.orchestrator.executor import Orchestrator, UpOptions
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import from_canonical
from compose.orchestrator.waiting import Verdict, check_ready
from compose.project import ProjectOptions, load
from engine.client.build import base_image_hint, build
from engine.errors import EngineError

from .fake_engine import FakeEngine

UNREACHABLE = ("Dockerfile:1: FROM {ref}: cannot reach registry registry-1.docker.io: "
               "[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize("ref, command", [
    ("debian:trixie", "pycompose image bootstrap debian:trixie"),
    ("debian:trixie-slim", "pycompose image bootstrap debian:trixie-slim --suite trixie"),
    ("debian:12", "pycompose image bootstrap debian:12 --suite bookworm"),
    ("debian", "pycompose image bootstrap debian:latest --suite stable"),
    ("docker.io/library/debian:bookworm", "pycompose image bootstrap debian:bookworm"),
])
def test_a_debian_base_no_registry_gives_names_the_bootstrap_command(ref, command):
    assert base_image_hint(UNREACHABLE.format(ref=ref)) == f"make it locally with `{command}`"


def test_ubuntu_bases_are_pointed_at_a_debian_bootstrap_and_others_get_no_hint():
    hint = base_image_hint(UNREACHABLE.format(ref="ubuntu:24.04"))
    assert hint is not None and "Debian base images only" in hint
    assert "pycompose image bootstrap debian:bookworm" in hint
    assert base_image_hint(UNREACHABLE.format(ref="alpine:3")) is None
    assert base_image_hint(UNREACHABLE.format(ref="quay.io/debian:12")) is None
    assert base_image_hint("Dockerfile:3: RUN false: returned a non-zero code: 1") is None


class _Response:
    def __init__(self, lines: list[dict]) -> None:
        self.lines = [json.dumps(line).encode() for line in lines]
        self.closed = False

    def iter_lines(self):
        yield from self.lines

    def close(self) -> None:
        self.closed = True


class _Client:
    def __init__(self, lines: list[dict]) -> None:
        self.response = _Response(lines)

    def request(self, method, path, params=None, body=None, headers=None):
        return self.response


def test_the_build_stream_error_carries_the_hint(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian:trixie\n")
    client = _Client([{"stream": "Step 1/1 : FROM debian:trixie\n"},
                      {"error": UNREACHABLE.format(ref="debian:trixie")}])
    seen = []
    with pytest.raises(EngineError) as err:
        for message in build(client, tmp_path):
            seen.append(message)
    assert seen == [{"stream": "Step 1/1 : FROM debian:trixie\n"}]
    assert err.value.message.startswith(UNREACHABLE.format(ref="debian:trixie"))
    assert err.value.message.endswith(
        "(make it locally with `pycompose image bootstrap debian:trixie`)")
    assert "\n" not in err.value.message and client.response.closed


# -- up --wait on a one-shot -------------------------------------------------------------------

def _inspect(status: str, code: int = 0) -> dict:
    return {"State": {"Status": status, "ExitCode": code}}


def test_a_one_shot_others_wait_on_is_ready_when_it_exited_0_and_shows_exited():
    assert check_ready("m", _inspect("running"), completed_ok=True).verdict is Verdict.WAIT
    done = check_ready("m", _inspect("exited", 0), completed_ok=True)
    assert done.verdict is Verdict.MET and done.status == "Exited"
    failed = check_ready("m", _inspect("exited", 3), completed_ok=True)
    assert failed.verdict is Verdict.FAILED
    assert failed.message == "container m didn't complete successfully: exit 3"
    running = check_ready("w", _inspect("running"))
    assert running.verdict is Verdict.MET and running.status == "Healthy"
    assert check_ready("w", _inspect("exited", 0)).verdict is Verdict.FAILED


def test_up_wait_reports_the_completed_one_shot_as_exited_and_the_rest_healthy():
    data = {"services": {
        "migrate": {"image": "b"},
        "web": {"image": "b", "depends_on": {
            "migrate": {"condition": "service_completed_successfully"}}}}}
    engine = FakeEngine()
    engine.exit_codes["migrate"] = 0
    progress = Progress(stream=io.StringIO(), colour=False)
    orch = Orchestrator(from_canonical("demo", data, working_dir="/src",
                                       config_files=["/src/compose.yaml"]),
                        Gateway(lambda: engine, threaded=False), progress)
    result = trio.run(lambda: orch.up(UpOptions(wait=True)),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    assert not result.failures
    assert " ✔ Container demo-migrate-1  Exited" in progress.lines
    assert " ✔ Container demo-web-1  Healthy" in progress.lines
    assert not any("migrate-1  Healthy" in line for line in progress.lines)


# -- ports out of range --------------------------------------------------------------------------

def test_a_port_out_of_range_names_the_port_file_and_service(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: busybox\n    ports: ["70000:80"]\n')
    with pytest.raises(ComposeError) as err:
        load(ProjectOptions(working_directory=str(tmp_path), environment={}))
    message = str(err.value)
    assert "compose.yaml:4" in message and "services.web.ports[0]" in message
    assert message.endswith("port 70000 is out of range 0-65535")
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: busybox\n    ports: ["8080:99999"]\n')
    with pytest.raises(ComposeError, match="port 99999 is out of range 0-65535"):
        load(ProjectOptions(working_directory=str(tmp_path), environment={}))
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: busybox\n    ports: ["90-80:80"]\n')
    with pytest.raises(ComposeError, match="invalid port range '90-80'"):
        load(ProjectOptions(working_directory=str(tmp_path), environment={}))
