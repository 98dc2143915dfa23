from __future__ import annotations

import pytest

from compose.orchestrator.create_body import CreateContext, create_body
from compose.orchestrator.errors import OrchestratorError
from compose.orchestrator.units import byte_size, duration_ns


def ctx(**kw):
    base = dict(project="demo", service="web", name="demo-web-1", labels={"l": "1"},
                networks={"default": "demo_default", "back": "demo_back"},
                volumes={"data": "demo_data"})
    base.update(kw)
    return CreateContext(**base)


FULL = {
    "image": "busybox:latest",
    "command": ["httpd", "-f"],
    "entrypoint": ["/bin/sh", "-c"],
    "environment": {"A": "1", "UNSET": None},
    "working_dir": "/srv",
    "user": "1000:1000",
    "labels": {"user.label": "x"},
    "tty": True,
    "stdin_open": True,
    "stop_signal": "SIGINT",
    "stop_grace_period": "1m30s",
    "healthcheck": {"test": ["CMD", "true"], "interval": "500ms", "timeout": "2s",
                    "retries": 3, "start_period": "1s"},
    "volumes": [{"type": "bind", "source": "/host", "target": "/in", "read_only": True},
                {"type": "volume", "source": "data", "target": "/data"},
                {"type": "volume", "target": "/anon"},
                {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "64m"}}],
    "tmpfs": ["/run:size=1m"],
    "read_only": True,
    "mem_limit": "512m",
    "cpus": 0.5,
    "pids_limit": 100,
    "init": True,
    "restart": "on-failure:3",
    "ports": [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp",
               "host_ip": "127.0.0.1"}, {"target": 53, "protocol": "udp"}],
    "dns": ["10.0.0.1"],
    "extra_hosts": ["db=10.0.0.2", "cache:10.0.0.3"],
    "cap_add": ["NET_ADMIN"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "networks": {"default": None, "back": {"aliases": ["api"], "ipv4_address": "10.9.0.5"}},
}


def test_full_service_translates_to_docker_shapes():
    body = create_body(FULL, ctx())
    assert body["Image"] == "busybox:latest"
    assert body["Cmd"] == ["httpd", "-f"] and body["Entrypoint"] == ["/bin/sh", "-c"]
    assert body["Env"] == ["A=1"]
    assert body["WorkingDir"] == "/srv" and body["User"] == "1000:1000"
    assert body["Labels"] == {"user.label": "x", "l": "1"}
    assert body["Tty"] is True and body["OpenStdin"] is True
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 90
    assert body["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 500_000_000,
                                   "Timeout": 2_000_000_000, "StartPeriod": 1_000_000_000,
                                   "Retries": 3}
    assert body["Volumes"] == {"/anon": {}}
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    h = body["HostConfig"]
    assert h["Binds"] == ["/host:/in:ro", "demo_data:/data"]
    assert h["Tmpfs"] == {"/t": "size=67108864", "/run": "size=1m"}
    assert h["ReadonlyRootfs"] is True and h["Init"] is True
    assert h["Memory"] == 512 << 20 and h["NanoCpus"] == 500_000_000 and h["PidsLimit"] == 100
    assert h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert h["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                 "53/udp": [{"HostIp": "", "HostPort": ""}]}
    assert h["Dns"] == ["10.0.0.1"]
    assert h["ExtraHosts"] == ["db:10.0.0.2", "cache:10.0.0.3"]
    assert h["CapAdd"] == ["NET_ADMIN"] and h["CapDrop"] == ["ALL"]
    assert h["SecurityOpt"] == ["no-new-privileges:true"]
    assert h["NetworkMode"] == "demo_default"
    assert body["NetworkingConfig"]["EndpointsConfig"] == {
        "demo_default": {"Aliases": ["web"]},
        "demo_back": {"Aliases": ["web", "api"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}},
    }


def test_minimal_service_uses_default_network_and_no_restart():
    body = create_body({"image": "busybox"}, ctx())
    assert "Cmd" not in body and "Entrypoint" not in body
    assert body["HostConfig"]["NetworkMode"] == "demo_default"
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert body["NetworkingConfig"]["EndpointsConfig"] == {"demo_default": {"Aliases": ["web"]}}


def test_oneoff_drops_ports_restart_and_aliases_and_overrides_command():
    body = create_body(FULL, ctx(oneoff=True, publish_ports=False, use_aliases=False,
                                 command=("echo", "hi"), environment={"B": "2"},
                                 extra_ports=("9000:90",)))
    assert body["Cmd"] == ["echo", "hi"]
    assert body["Env"] == ["A=1", "B=2"]
    assert body["HostConfig"]["PortBindings"] == {"90/tcp": [{"HostIp": "", "HostPort": "9000"}]}
    assert body["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert body["NetworkingConfig"]["EndpointsConfig"]["demo_default"] == {"Aliases": []}


def test_service_references_resolve_to_containers():
    body = create_body({"image": "b", "network_mode": "service:vpn", "volumes_from": ["db:ro"]},
                       ctx(containers={"vpn": "abc", "db": "def"}))
    assert body["HostConfig"]["NetworkMode"] == "container:abc"
    assert body["NetworkingConfig"]["EndpointsConfig"] == {}
    assert body["HostConfig"]["VolumesFrom"] == ["def:ro"]
    with pytest.raises(OrchestratorError, match="vpn"):
        create_body({"image": "b", "network_mode": "service:vpn"}, ctx())


def test_string_command_is_split_and_disabled_healthcheck():
    body = create_body({"image": "b", "command": "sh -c 'echo a b'",
                        "healthcheck": {"disable": True}}, ctx())
    assert body["Cmd"] == ["sh", "-c", "echo a b"]
    assert body["Healthcheck"] == {"Test": ["NONE"]}


def test_missing_image_and_bad_restart_are_user_errors():
    with pytest.raises(OrchestratorError, match="neither an image"):
        create_body({}, ctx())
    with pytest.raises(OrchestratorError, match="restart"):
        create_body({"image": "b", "restart": "sometimes"}, ctx())


def test_units():
    assert duration_ns("1h2m3.5s") == 3723_500_000_000
    assert duration_ns("10") == 10_000_000_000
    assert duration_ns(None) is None
    assert byte_size("1g") == 1 << 30 and byte_size("1.5kb") == 1536 and byte_size(7) == 7
    with pytest.raises(OrchestratorError):
        duration_ns("10 parsecs")
