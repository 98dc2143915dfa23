from __future__ import annotations

import json

import pytest

from compose.cli.main import main
from compose.orchestrator import listing
from compose.orchestrator.logsflow import parse_time
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
