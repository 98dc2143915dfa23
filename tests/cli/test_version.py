"""`pycompose version`: the client part always, the engine's GET /version when it answers, and
never an engine started just to be asked."""
from __future__ import annotations

import json

import pytest

from compose.cli.main import main
from compose.cli.version import VERSION

from .fake_server import FakeEngine, json_reply

ENGINE_VERSION = {"Version": "9.8.7", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
                  "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0-test"}


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    servers = []

    def make(version_status: int = 200):
        def handler(method, target, headers, body, sock):
            if target.endswith("/_ping"):
                return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
            if target.endswith("/version"):
                if version_status != 200:
                    return json_reply(version_status, b'{"message": "broken on purpose"}')
                return json_reply(200, json.dumps(ENGINE_VERSION).encode())
            return json_reply(404, b'{"message": "no such route"}')

        server = FakeEngine(tmp_path / "engine.sock", handler)
        servers.append(server)
        monkeypatch.setenv("PYCOMPOSE_HOST", f"unix://{server.path}")
        return server

    yield make
    for s in servers:
        s.close()


def test_pretty_shows_client_and_engine(fake_engine, capsys):
    server = fake_engine()
    assert main(["version"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    lines = out.out.splitlines()
    assert lines[0] == "Client:" and lines[1] == f" Version:      {VERSION}"
    assert "Engine:" in lines
    assert " Version:      9.8.7" in lines
    assert " API version:  1.41 (minimum version 1.24)" in lines
    assert " Kernel:       6.1.0-test" in lines
    assert [r[1].split("?")[0] for r in server.requests] == ["/_ping", "/v1.41/version"]


def test_json_is_client_and_server(fake_engine, capsys):
    fake_engine()
    assert main(["version", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["Server"] == ENGINE_VERSION
    assert doc["Client"]["Version"] == VERSION
    assert doc["Client"]["Os"] == "linux"


def test_stopped_engine_is_reported_and_not_started(tmp_path, monkeypatch, capsys):
    sock = tmp_path / "run" / "engine.sock"
    root = tmp_path / "state"
    monkeypatch.setenv("PYCOMPOSE_HOST", f"unix://{sock}")
    monkeypatch.setenv("PYCOMPOSE_ROOT", str(root))
    assert main(["version", "--format", "json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out) == {"Client": json.loads(out.out)["Client"], "Server": None}
    assert out.err == (f"Error: the engine is not running (nothing answers on unix://{sock}); "
                       "any other pycompose command starts it\n")
    assert not sock.exists() and not root.exists()   # nothing was started
    assert main(["version"]) == 1
    pretty = capsys.readouterr()
    assert pretty.out.startswith("Client:\n") and "Engine:" not in pretty.out
    assert pretty.err.startswith("Error: the engine is not running")


def test_engine_error_on_version_is_one_line(fake_engine, capsys):
    fake_engine(version_status=500)
    assert main(["version"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken on purpose" in err


def test_unknown_format_is_a_one_line_error(capsys):
    assert main(["version", "--format", "yaml"]) != 0
    assert capsys.readouterr().err == "Error: unknown version --format 'yaml': use pretty or json\n"


@pytest.mark.integration
def test_real_engine_reports_its_api_version(engine):
    result = engine.cli("version", "--format", "json", check=True)
    doc = json.loads(result.stdout)
    assert doc["Client"]["Version"] == VERSION
    assert doc["Server"]["ApiVersion"] == "1.41"
    assert doc["Server"]["Os"] == "linux"
    pretty = engine.cli("version", check=True).stdout
    assert "Engine:" in pretty and " API version:  1.41" in pretty
