"""Scenarios driven by the real docker CLI (28.x) against our engine: what a user types, and what
they would see with Docker."""
from __future__ import annotations

import json
import socket
import time

import pytest

pytestmark = pytest.mark.integration


def test_run_without_network_flag_uses_the_bridge(docker):
    # the CLI sends NetworkMode "default" and an endpoint keyed "default"
    assert docker.out("run", "--name", "plain", "busybox", "echo", "hello") == "hello\n"
    info = json.loads(docker.out("inspect", "plain"))[0]
    assert list(info["NetworkSettings"]["Networks"]) == ["bridge"]
    docker.run("rm", "plain")


def test_run_rm_removes_the_container(docker):
    assert docker.out("run", "--rm", "--name", "gone", "busybox", "echo", "hi") == "hi\n"
    assert docker.out("ps", "-aq", "--filter", "name=gone") == ""


def test_run_rm_of_a_missing_command_exits_127_and_leaves_nothing(docker):
    r = docker.run("run", "--rm", "--name", "nocmd", "busybox", "nosuchcmd", check=False)
    assert r.returncode == 127, r.stderr
    assert b"nosuchcmd" in r.stderr
    assert docker.out("ps", "-aq", "--filter", "name=nocmd") == ""


def test_run_i_rm_reads_piped_stdin_to_its_end(docker):
    assert docker.out("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", input=b"abc\n") \
        == "ABC\n"
    # more than one pipe buffer, all of it before the start
    data = b"x" * 200_000
    assert docker.out("run", "-i", "--rm", "busybox", "wc", "-c", input=data).strip() \
        == str(len(data))


def test_start_ai_feeds_piped_stdin_each_time(docker):
    docker.run("create", "-i", "--name", "sai", "busybox", "tr", "a-z", "A-Z")
    try:
        assert docker.out("start", "-ai", "sai", input=b"xyz\n") == "XYZ\n"
        assert docker.out("start", "-ai", "sai", input=b"again\n") == "AGAIN\n"
    finally:
        docker.run("rm", "-f", "sai")


def test_env_name_unset_in_the_client_is_dropped(docker):
    assert "PCUNSET" not in docker.env
    out = docker.out("run", "--rm", "-e", "PCUNSET", "-e", "PCSET=1", "busybox", "env")
    names = [line.split("=", 1)[0] for line in out.splitlines()]
    assert "PCSET" in names and "PCUNSET" not in names


def test_publish_all_publishes_each_exposed_port(docker):
    docker.run("run", "-d", "-P", "--expose", "80", "--expose", "81/udp", "--name", "pall",
               "busybox", "nc", "-ll", "-p", "80", "-e", "echo", "pong")
    try:
        lines = dict(line.split(" -> ", 1) for line in docker.out("port", "pall").splitlines())
        assert set(lines) == {"80/tcp", "81/udp"}
        host_port = int(lines["80/tcp"].rsplit(":", 1)[1])
        assert host_port > 0
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", host_port), timeout=2) as s:
                    assert s.recv(100) == b"pong\n"
                break
            except (ConnectionError, socket.timeout, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        docker.run("rm", "-f", "pall")


def test_network_connect_resolves_names_on_the_new_network(docker):
    docker.run("network", "create", "pcclia")
    docker.run("network", "create", "pcclib")
    try:
        docker.run("run", "-d", "--name", "onb", "--network", "pcclib", "busybox", "sleep", "60")
        docker.run("run", "-d", "--name", "ona", "--network", "pcclia", "busybox", "sleep", "60")
        # before the connect, onb is on no network of ona's: not resolvable
        assert docker.run("exec", "ona", "nslookup", "onb", check=False).returncode != 0
        docker.run("network", "connect", "pcclib", "ona")
        ip_b = docker.out("inspect", "-f", "{{.NetworkSettings.Networks.pcclib.IPAddress}}",
                          "onb").strip()
        out = docker.out("exec", "ona", "nslookup", "onb")
        assert ip_b in out.split("Name:", 1)[1]
        # the resolver still answers for the first network too
        ip_a = docker.out("inspect", "-f", "{{.NetworkSettings.Networks.pcclia.IPAddress}}",
                          "ona").strip()
        assert ip_a in docker.out("exec", "ona", "nslookup", "ona").split("Name:", 1)[1]
        docker.run("exec", "ona", "ping", "-c1", "-W2", "onb")
    finally:
        docker.run("rm", "-f", "ona", "onb", check=False)
        docker.run("network", "rm", "pcclia", "pcclib", check=False)
