from __future__ import annotations

import json

import pytest

from compose.cli.main import main
from compose.orchestrator import listing
from compose.orchestrator.logs import parse_time
from compose.orchestrator.session import UsageError, exclusive, parse_scale


def test_scale_and_exclusive_flags():
    assert parse_scale(["web=3", "db=0"]) == {"web": 3, "db": 0}
    with pytest.raises(UsageError, match="SERVICE=NUMBER"):
        parse_scale(["web"])
    exclusive(build=True, no_build=False)
    with pytest.raises(UsageError, match="--build and --no-build are incompatible"):
        exclusive(build=True, no_build=True)


@pytest.mark.parametrize("args,message", [
    (["up", "-d", "--abort-on-container-exit"], "--detach and --abort-on-container-exit"),
    (["up", "--force-recreate", "--no-recreate"], "--force-recreate and --no-recreate"),
    (["up", "--pull", "sometimes"], "invalid --pull"),
    (["down", "--rmi", "some"], "invalid --rmi"),
])
def test_bad_flags_are_one_line_errors_before_any_engine_call(args, message, capsys):
    assert main(args) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_parse_time():
    assert parse_time("100", now=1000.0) == 100.0
    assert parse_time("10m", now=1000.0) == 400.0
    assert parse_time("1970-01-01T00:01:00Z") == 60.0
    assert parse_time(None) is None
    with pytest.raises(UsageError):
        parse_time("yesterday-ish")


def test_ps_rows_and_json():
    item = {"Id": "a" * 64, "Names": ["/demo-web-1"], "Image": "busybox", "Command": "httpd -f",
            "Created": 940, "State": "running", "Status": "Up 1 minute (healthy)",
            "Labels": {"com.docker.compose.service": "web", "com.docker.compose.project": "demo"},
            "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]}
    assert listing.ps_rows([item], now=1000) == [[
        "demo-web-1", "busybox", '"httpd -f"', "web", "1 minute ago", "Up 1 minute (healthy)",
        "127.0.0.1:8080->80/tcp"]]
    data = json.loads(listing.ps_json(item))
    assert data["Service"] == "web" and data["Health"] == "healthy" and data["ID"] == "a" * 12
    table = listing.table(listing.PS_HEADERS, listing.ps_rows([item], now=1000))
    assert table.splitlines()[0].startswith("NAME         IMAGE")


def test_ls_groups_projects():
    items = [{"Labels": {"com.docker.compose.project": "a",
                         "com.docker.compose.project.config_files": "/x/compose.yaml"},
              "State": s} for s in ("running", "running", "exited")]
    assert listing.projects(items) == [("a", "exited(1), running(2)", "/x/compose.yaml")]


def test_the_environment_is_what_the_cli_passes_in(monkeypatch, tmp_path):
    """Below the CLI nothing reads os.environ: the values come from the `environ` given."""
    from compose.logprinter import use_colour
    from compose.orchestrator.oneoff import parse_env
    from compose.orchestrator.session import env_flag, parallel_limit
    from compose.project import ProjectOptions, load

    monkeypatch.setenv("FROM_OS", "os")
    monkeypatch.setenv("COMPOSE_PARALLEL_LIMIT", "2")
    assert parse_env(["A=1", "FROM_OS", "K"], {"K": "given"}) == {"A": "1", "K": "given"}
    assert parallel_limit({}) == 8 and parallel_limit({"COMPOSE_PARALLEL_LIMIT": "3"}) == 3
    assert env_flag({"COMPOSE_IGNORE_ORPHANS": "yes"}, "COMPOSE_IGNORE_ORPHANS")
    assert not env_flag({}, "COMPOSE_IGNORE_ORPHANS")
    assert use_colour(False, 1, {"NO_COLOR": "1"}) is False
    # PYCOMPOSE_SCHEMA=jsonschema in the environment given to the loader skips the built-in
    # checker (made to fail here) and validates with jsonschema alone
    from compose import schema

    def no_builtin(*args):
        raise AssertionError("the built-in checker ran")

    monkeypatch.setattr(schema._Checker, "valid", no_builtin)
    (tmp_path / "compose.yaml").write_text("services:\n  web: {image: b}\n")
    env = {"PYCOMPOSE_SCHEMA": "jsonschema"}
    assert load(ProjectOptions(working_directory=str(tmp_path), environment=env)).project
    monkeypatch.setenv("PYCOMPOSE_SCHEMA", "jsonschema")   # the OS's is not read
    with pytest.raises(AssertionError, match="built-in checker ran"):
        load(ProjectOptions(working_directory=str(tmp_path), environment={}))
