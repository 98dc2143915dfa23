from __future__ import annotations

import pytest

from engine.client.cli import format as fmt
from engine.client.cli.container import ps_fields, start_error_code
from engine.client.cli.image import image_rows, split_ref
from engine.errors import BadParameter


@pytest.mark.parametrize("seconds,text", [
    (0.3, "Less than a second"), (1, "1 second"), (3, "3 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (150, "2 minutes"), (3600, "About an hour"), (3 * 3600, "3 hours"),
    (50 * 3600, "2 days"), (15 * 86400, "2 weeks"), (70 * 86400, "2 months"),
    (800 * 86400, "2 years"),
])
def test_human_duration_matches_docker(seconds, text):
    assert fmt.human_duration(seconds) == text


def test_container_status_strings():
    now = fmt.parse_time("2026-01-01T00:01:00Z")
    assert fmt.container_status({"Status": "created", "FinishedAt": "0001-01-01T00:00:00Z"},
                                now) == "Created"
    running = {"Status": "running", "Running": True, "StartedAt": "2026-01-01T00:00:57.123456789Z"}
    assert fmt.container_status(running, now) == "Up 2 seconds"
    paused = dict(running, Status="paused", Paused=True)
    assert fmt.container_status(paused, now) == "Up 2 seconds (Paused)"
    exited = {"Status": "exited", "ExitCode": 3, "StartedAt": "2026-01-01T00:00:00Z",
              "FinishedAt": "2026-01-01T00:00:58Z"}
    assert fmt.container_status(exited, now) == "Exited (3) 2 seconds ago"


def test_table_pads_like_tabwriter():
    out = fmt.table(("A", "LONGER"), [["xxxx", "1"], ["y", "22"]])
    assert out.splitlines() == ["A      LONGER", "xxxx   1", "y      22"]


@pytest.mark.parametrize("size,text", [(0, "0B"), (999, "999B"), (4_261_000, "4.26MB"),
                                       (955_000, "955kB"), (1_500_000_000, "1.5GB")])
def test_human_size(size, text):
    assert fmt.human_size(size) == text


def test_ports_text_and_port_lines():
    ports = [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
             {"PrivatePort": 443, "Type": "tcp"},
             {"PrivatePort": 53, "PublicPort": 5353, "Type": "udp", "IP": "::"}]
    assert fmt.ports_text(ports) == "[::]:5353->53/udp, 0.0.0.0:8080->80/tcp, 443/tcp"
    assert fmt.port_lines({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                           "443/tcp": None}) == ["80/tcp -> 127.0.0.1:8080"]


def test_command_is_quoted_and_cut():
    assert fmt.command_text("echo hi") == '"echo hi"'
    assert fmt.command_text("sh -c 'while true; do sleep 1; done'") == '"sh -c \'while true; …"'


def test_inspect_templates():
    data = {"State": {"Status": "exited", "ExitCode": 0, "Running": False},
            "Config": {"Env": ["A=1"], "Labels": {"b": "2", "a": "1"}}, "Name": "/x"}
    assert fmt.render_template("{{.State.Status}} {{.State.ExitCode}}", data) == "exited 0"
    assert fmt.render_template("{{.State.Running}}", data) == "false"
    assert fmt.render_template("{{json .Config.Env}}", data) == '["A=1"]'
    assert fmt.render_template("{{.Config.Labels}}", data) == "map[a:1 b:2]"
    with pytest.raises(BadParameter, match="no field 'Nope'"):
        fmt.render_template("{{.Nope}}", data)
    with pytest.raises(BadParameter, match="only"):
        fmt.render_template("{{range .Config.Env}}{{end}}", data)


def test_ps_fields():
    now = 1_000_000.0
    row = ps_fields({"Id": "a" * 64, "Image": "busybox", "Command": "echo hi", "Created": now - 5,
                     "Status": "Exited (0) 2 seconds ago", "State": "exited", "Names": ["/web"],
                     "Ports": [], "Labels": {"k": "v"}}, now)
    assert row["ID"] == "a" * 12 and row["Names"] == "web" and row["RunningFor"] == "5 seconds ago"
    assert row["Command"] == '"echo hi"' and row["Labels"] == "k=v"


def test_start_error_codes():
    assert start_error_code('exec: "nope": executable file not found in $PATH') == 127
    assert start_error_code("no such file or directory: /app") == 127
    assert start_error_code("exec /etc/passwd: permission denied") == 126
    assert start_error_code("cgroup setup failed") == 125


def test_image_rows_and_refs():
    rows = image_rows([{"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest", "bb:1"],
                        "Created": 100, "Size": 1_234_567},
                       {"Id": "sha256:" + "c" * 64, "RepoTags": [], "Created": 100, "Size": 0}],
                      now=110)
    assert rows[0] == ["bb", "1", "b" * 12, "10 seconds ago", "1.23MB"]
    assert rows[-1][:2] == ["<none>", "<none>"]
    assert split_ref("busybox") == ("busybox", None)
    assert split_ref("busybox:1.36") == ("busybox", "1.36")
    assert split_ref("localhost:5000/app") == ("localhost:5000/app", None)
    assert split_ref("localhost:5000/app:v2") == ("localhost:5000/app", "v2")


def test_network_create_body():
    from engine.client.cli.network import create_body
    from engine.client.cli.parse import FlagError

    assert create_body("n", "bridge", "10.9.0.0/24", "10.9.0.1", True, {"a": "b"}) == {
        "Name": "n", "Driver": "bridge", "Internal": True, "Labels": {"a": "b"},
        "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}}
    with pytest.raises(FlagError, match="--subnet"):
        create_body("n", "bridge", "10.9.0.1/24", None, False, {})
    with pytest.raises(FlagError, match="not inside"):
        create_body("n", "bridge", "10.9.0.0/24", "10.8.0.1", False, {})


def test_listing_templates_with_and_without_table():
    rows = [{"ID": "abc", "Names": "web"}, {"ID": "defgh", "Names": "db"}]
    headers = {"ID": "CONTAINER ID", "Names": "NAMES"}
    assert fmt.render_rows("{{.Names}}", rows, headers) == ["web", "db"]
    assert fmt.render_rows("table {{.ID}}\\t{{.Names}}", rows, headers) == [
        "CONTAINER ID   NAMES", "abc            web", "defgh          db"]
