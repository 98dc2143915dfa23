from __future__ import annotations

import pytest

from engine.client.cli import parse
from engine.client.cli.parse import FlagError


@pytest.mark.parametrize("text,expected", [
    ("512", 512), ("32m", 32 << 20), ("32M", 32 << 20), ("1g", 1 << 30), ("1.5g", 3 << 29),
    ("64MiB", 64 << 20), ("2GB", 2 << 30), ("10k", 10240), ("100b", 100),
])
def test_memory_sizes_are_binary_like_docker(text, expected):
    assert parse.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "32x", "m", "-1", "1.2.3m", "0"])
def test_bad_memory_sizes_name_the_flag_and_value(text):
    with pytest.raises(FlagError) as e:
        parse.parse_memory(text)
    assert e.value.message.startswith(f'invalid value "{text}" for --memory')
    assert "\n" not in e.value.message
    assert e.value.exit_code == 125


def test_memory_swap_accepts_minus_one():
    assert parse.parse_memory_swap("-1") == -1
    assert parse.parse_memory_swap("1g") == 1 << 30


@pytest.mark.parametrize("text,nano", [("0.5", 500_000_000), ("2", 2_000_000_000),
                                       ("1.25", 1_250_000_000), (".1", 100_000_000)])
def test_cpus_to_nanocpus(text, nano):
    assert parse.parse_cpus(text) == nano


@pytest.mark.parametrize("text", ["0", "-1", "abc", "nan", ""])
def test_bad_cpus(text):
    with pytest.raises(FlagError, match="--cpus"):
        parse.parse_cpus(text)


@pytest.mark.parametrize("text,policy", [
    ("no", {"Name": "", "MaximumRetryCount": 0}),
    ("always", {"Name": "always", "MaximumRetryCount": 0}),
    ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
    ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
    ("on-failure:3", {"Name": "on-failure", "MaximumRetryCount": 3}),
])
def test_restart_policies(text, policy):
    assert parse.parse_restart(text) == policy


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1"])
def test_bad_restart_policies(text):
    with pytest.raises(FlagError, match="--restart"):
        parse.parse_restart(text)


@pytest.mark.parametrize("spec,result", [
    ("/data", (None, "/data")),
    ("vol:/data", ("vol:/data", None)),
    ("/host:/ctr:ro", ("/host:/ctr:ro", None)),
    ("./rel:/ctr:rw,z", ("./rel:/ctr:rw,z", None)),
])
def test_volume_specs(spec, result):
    assert parse.parse_volume(spec) == result


@pytest.mark.parametrize("spec,why", [
    ("data", "absolute"), ("vol:data", "absolute"), ("/a:/b:bogus", "unknown option"),
    ("/a:/b:ro,rw", "exclusive"), ("a:b:c:d", "expected"), (":/x", "empty"),
    ("bad name!:/x", "invalid volume name"),
])
def test_bad_volume_specs(spec, why):
    with pytest.raises(FlagError, match=why):
        parse.parse_volume(spec)


@pytest.mark.parametrize("spec,result", [
    ("80", [("80/tcp", "", "")]),
    ("8080:80", [("80/tcp", "", "8080")]),
    ("127.0.0.1:8080:80/udp", [("80/udp", "127.0.0.1", "8080")]),
    ("127.0.0.1::80", [("80/tcp", "127.0.0.1", "")]),
    ("[::1]:8080:80", [("80/tcp", "::1", "8080")]),
    ("8000-8001:80-81", [("80/tcp", "", "8000"), ("81/tcp", "", "8001")]),
    ("8000-8010:80", [("80/tcp", "", "8000-8010")]),
    ("53-54/udp", [("53/udp", "", ""), ("54/udp", "", "")]),
])
def test_publish_specs(spec, result):
    assert parse.parse_publish(spec) == result


@pytest.mark.parametrize("spec", ["http", "8080:80/icmp", "70000:80", "1.2.3:80:80",
                                  "8000-8002:80-81", "a:b:c:d", "8080:"])
def test_bad_publish_specs(spec):
    with pytest.raises(FlagError, match="--publish"):
        parse.parse_publish(spec)


def test_env_takes_bare_names_from_the_client_environment():
    env = {"HOME": "/root", "EMPTY": ""}
    assert parse.parse_env(["A=1", "HOME", "EMPTY", "MISSING", "B="], env.get) == [
        "A=1", "HOME=/root", "EMPTY=", "B="]


def test_env_file_docker_format():
    text = ("# comment\n\nA=1\n  B=two words\nC=\"quoted\"\nHOME\nMISSING\nD=x=y\n")
    assert parse.parse_env_file(text, {"HOME": "/root"}.get, "f.env") == [
        "A=1", "B=two words", 'C="quoted"', "HOME=/root", "D=x=y"]


def test_env_file_bad_name_is_one_line_with_location():
    with pytest.raises(FlagError) as e:
        parse.parse_env_file("A=1\nBAD NAME=2\n", {}.get, "f.env")
    assert "f.env:2" in e.value.message and "\n" not in e.value.message


def test_signals():
    assert parse.parse_signal("term") == "SIGTERM"
    assert parse.parse_signal("SIGKILL") == "SIGKILL"
    assert parse.parse_signal("9") == "9"
    assert parse.signal_number("INT") == 2
    with pytest.raises(FlagError, match="--signal"):
        parse.parse_signal("SIGNOPE")


def test_add_host_and_ips():
    assert parse.parse_add_host("db:10.0.0.2") == "db:10.0.0.2"
    assert parse.parse_add_host("db=10.0.0.2") == "db:10.0.0.2"
    assert parse.parse_add_host("gw:host-gateway") == "gw:host-gateway"
    with pytest.raises(FlagError, match="--add-host"):
        parse.parse_add_host("db:nope")
    assert parse.parse_ip("10.1.2.3") == "10.1.2.3"
    with pytest.raises(FlagError, match="IPv4"):
        parse.parse_ip("::1")


def test_security_opt():
    assert parse.parse_security_opt("no-new-privileges") == "no-new-privileges"
    assert parse.parse_security_opt("no-new-privileges:true") == "no-new-privileges"
    assert parse.parse_security_opt("no-new-privileges=false") == "no-new-privileges:false"
    assert parse.parse_security_opt("seccomp=unconfined") == "seccomp=unconfined"
    assert parse.parse_security_opt("apparmor=x") == "apparmor=x"  # the daemon judges it
    with pytest.raises(FlagError, match="opening seccomp profile failed"):
        parse.parse_security_opt("seccomp=/nonexistent/profile.json")


def test_security_opt_seccomp_file_is_sent_as_its_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    assert parse.parse_security_opt(f"seccomp={path}") == \
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'
    path.write_text("{not json")
    with pytest.raises(FlagError, match="not JSON"):
        parse.parse_security_opt(f"seccomp:{path}")


def test_durations_and_since():
    assert parse.parse_duration("1h30m", "--since") == 5400
    assert parse.parse_duration("1.5s", "--since") == 1.5
    assert parse.parse_since("10m", now=1000.0) == 400.0
    assert parse.parse_since("1700000000", now=0) == 1700000000.0
    assert parse.parse_since("2023-11-14T22:13:20Z", now=0) == 1700000000.0
    with pytest.raises(FlagError, match="--since"):
        parse.parse_since("yesterday", now=0)


def test_filters():
    assert parse.parse_filters(["status=exited", "label=a=b", "status=created"]) == {
        "status": ["exited", "created"], "label": ["a=b"]}
    with pytest.raises(FlagError, match="--filter"):
        parse.parse_filters(["nokey"])
