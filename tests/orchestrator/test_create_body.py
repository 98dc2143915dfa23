from __future__ import annotations

import pytest

from compose.canonical import service_from
from compose.errors import ComposeError
from compose.orchestrator.create_body import CreateContext, create_body
from compose.orchestrator.errors import OrchestratorError


def svc(data: dict, name: str = "web"):
    """The model of a service given as its canonical mapping (what `up` reads)."""
    return service_from(name, data)


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
    body = create_body(svc(FULL), ctx())
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
    body = create_body(svc({"image": "busybox"}), ctx())
    assert "Cmd" not in body and "Entrypoint" not in body
    assert body["HostConfig"]["NetworkMode"] == "demo_default"
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert body["NetworkingConfig"]["EndpointsConfig"] == {"demo_default": {"Aliases": ["web"]}}


def test_oneoff_drops_ports_restart_and_aliases_and_overrides_command():
    body = create_body(svc(FULL), ctx(oneoff=True, publish_ports=False, use_aliases=False,
                                 command=("echo", "hi"), environment={"B": "2"},
                                 extra_ports=("9000:90",)))
    assert body["Cmd"] == ["echo", "hi"]
    assert body["Env"] == ["A=1", "B=2"]
    assert body["HostConfig"]["PortBindings"] == {"90/tcp": [{"HostIp": "", "HostPort": "9000"}]}
    assert body["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert body["NetworkingConfig"]["EndpointsConfig"]["demo_default"] == {"Aliases": []}


def test_service_references_resolve_to_containers():
    body = create_body(svc({"image": "b", "network_mode": "service:vpn", "volumes_from": ["db:ro"]}),
                       ctx(containers={"vpn": "abc", "db": "def"}))
    assert body["HostConfig"]["NetworkMode"] == "container:abc"
    assert body["NetworkingConfig"]["EndpointsConfig"] == {}
    assert body["HostConfig"]["VolumesFrom"] == ["def:ro"]
    with pytest.raises(OrchestratorError, match="vpn"):
        create_body(svc({"image": "b", "network_mode": "service:vpn"}), ctx())


def test_string_command_is_split_and_disabled_healthcheck():
    body = create_body(svc({"image": "b", "command": "sh -c 'echo a b'",
                        "healthcheck": {"disable": True}}), ctx())
    assert body["Cmd"] == ["sh", "-c", "echo a b"]
    assert body["Healthcheck"] == {"Test": ["NONE"]}


def test_missing_image_and_bad_restart_are_user_errors():
    with pytest.raises(OrchestratorError, match="neither an image"):
        create_body(svc({}), ctx())
    with pytest.raises(ComposeError, match="invalid restart policy 'sometimes'"):
        svc({"image": "b", "restart": "sometimes"})


def test_durations_and_sizes_are_read_once_by_the_model():
    s = svc({"image": "b", "stop_grace_period": "1h2m3.5s", "shm_size": "1.5kb",
             "healthcheck": {"test": "true", "interval": "1m"}, "memswap_limit": "-1"})
    assert s.stop_grace_period_ns == 3723_500_000_000 and s.shm_size == 1536
    body = create_body(s, ctx())
    assert body["StopTimeout"] == 3723 and body["HostConfig"]["ShmSize"] == 1536
    assert body["HostConfig"]["MemorySwap"] == -1
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 60_000_000_000}
    # a duration without a unit is what normalize refuses too: one reading of the notation
    with pytest.raises(ComposeError, match="invalid duration"):
        svc({"image": "b", "stop_grace_period": "10"})
    with pytest.raises(ComposeError, match="invalid size"):
        svc({"image": "b", "mem_limit": "lots"})


def test_deploy_restart_policy_reaches_the_engine_as_compose_maps_it():
    def policy(data):
        return create_body(svc({"image": "b", **data}), ctx())["HostConfig"]["RestartPolicy"]

    assert policy({"deploy": {"restart_policy": {"condition": "any"}}}) == {
        "Name": "always", "MaximumRetryCount": 0}
    assert policy({"deploy": {"restart_policy": {"condition": "on-failure",
                                                 "max_attempts": 2}}}) == {
        "Name": "on-failure", "MaximumRetryCount": 2}
    # `restart:` wins; a restart_policy without a condition leaves the engine's default
    assert policy({"restart": "no", "deploy": {"restart_policy": {"condition": "any"}}})["Name"] == "no"
    assert policy({"deploy": {"restart_policy": {"max_attempts": 3}}})["Name"] == "no"


def test_run_publish_uses_the_loader_port_syntax_and_its_errors():
    body = create_body(svc({"image": "b"}), ctx(extra_ports=("127.0.0.1:9000-9001:90-91/udp",)))
    assert body["HostConfig"]["PortBindings"] == {
        "90/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}],
        "91/udp": [{"HostIp": "127.0.0.1", "HostPort": "9001"}]}
    with pytest.raises(ComposeError, match="invalid port"):
        create_body(svc({"image": "b"}), ctx(extra_ports=("http",)))


def test_a_loaded_file_reaches_the_body_through_the_model_alone(tmp_path):
    """YAML -> loader -> typed model -> create body: the short forms are read once, by the
    loader and the model, and the body shows the engine's units."""
    from compose.orchestrator.executor import Orchestrator
    from compose.orchestrator.project_view import from_model
    from compose.project import ProjectOptions, load

    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        "    command: httpd -f\n"
        "    ports: ['127.0.0.1:8080-8081:80-81', '9000/udp']\n"
        "    restart: on-failure:2\n"
        "    stop_grace_period: 1m30s\n"
        "    shm_size: 64m\n"
        "    healthcheck: {test: 'true', interval: 500ms}\n"
        "    deploy: {resources: {limits: {cpus: '0.5', memory: 256m}}}\n"
        "    tmpfs: /run\n")
    project = load(ProjectOptions(working_directory=str(tmp_path), environment={})).project
    spec = from_model(project)
    body = Orchestrator(spec, None).container_body(spec.services["web"], "p-web-1", number=1)
    host = body["HostConfig"]
    assert body["Cmd"] == ["httpd", "-f"] and body["StopTimeout"] == 90
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 500_000_000}
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "9000/udp": [{"HostIp": "", "HostPort": ""}]}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert host["Memory"] == 256 << 20 and host["NanoCpus"] == 500_000_000
    assert host["ShmSize"] == 64 << 20 and host["Tmpfs"] == {"/run": ""}
    assert host["NetworkMode"] == f"{project.name}_default"
    assert body["Labels"]["com.docker.compose.config-hash"] == spec.services["web"].config_hash
