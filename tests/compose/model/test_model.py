"""The frozen model: every attribute pycompose acts on is typed; no mutable raw dicts."""
from __future__ import annotations

import dataclasses
import textwrap
from types import MappingProxyType

import pytest

from compose.model import Condition, MountType, PullPolicy, RestartPolicy
from compose.project import ProjectOptions, load

FULL = """
name: full
services:
  app:
    image: app:1
    build: {context: ./app, args: {A: "1", B: null}, target: prod}
    command: run --fast
    entrypoint: [/entry.sh]
    environment: {E: "1"}
    working_dir: /srv
    user: "1000:1000"
    hostname: app
    domainname: example.org
    mac_address: 02:42:ac:11:00:02
    labels: [com.example=1]
    ports: ["127.0.0.1:8080:80/tcp", "9000-9001:9000-9001/udp"]
    expose: [3000]
    volumes:
      - ./data:/data:ro
      - cache:/cache:nocopy
      - {type: tmpfs, target: /tmp, tmpfs: {size: 64m, mode: "1777"}}
    tmpfs: /run
    depends_on:
      db: {condition: service_healthy, restart: true}
    networks:
      front: {aliases: [web], ipv4_address: 172.30.0.10, priority: 5}
    healthcheck: {test: [CMD, curl, -f, http://localhost], interval: 5s, timeout: 2s, retries: 3, start_period: 1s}
    restart: unless-stopped
    deploy:
      replicas: 2
      resources: {limits: {cpus: "0.5", memory: 1g, pids: 100}, reservations: {memory: 128m}}
      restart_policy: {condition: any}
    secrets: [{source: token, target: api-token, mode: "0400"}]
    configs: [conf]
    init: true
    tty: true
    stdin_open: true
    privileged: false
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges]
    stop_signal: SIGINT
    stop_grace_period: 1m
    mem_limit: 1g
    memswap_limit: -1
    cpus: 0.5
    cpu_shares: 512
    pids_limit: 100
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
    sysctls: [net.core.somaxconn=1024]
    extra_hosts: ["host.local:10.0.0.1"]
    dns: 1.1.1.1
    dns_opt: [use-vc]
    dns_search: example.org
    group_add: [audio, 44]
    shm_size: 64m
    platform: linux/amd64
    pull_policy: never
    x-custom: {a: 1}
  db:
    image: postgres
    healthcheck: {test: pg_isready}
networks:
  front:
    ipam: {config: [{subnet: 172.30.0.0/24, gateway: 172.30.0.1}]}
volumes:
  cache: {}
secrets:
  token: {environment: TOKEN}
configs:
  conf: {content: "x=1"}
x-top: 1
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(FULL))
    return load(ProjectOptions(files=(str(tmp_path / "compose.yaml"),), environment={})).project


def test_full_service(project, tmp_path):
    app = project.services["app"]
    assert app.build.context == str(tmp_path / "app") and dict(app.build.args) == {"A": "1"}
    assert app.command == ("run", "--fast") and app.entrypoint == ("/entry.sh",)
    assert [(p.host_ip, p.published, p.target, p.protocol) for p in app.ports] == [
        ("127.0.0.1", "8080", 80, "tcp"), (None, "9000", 9000, "udp"), (None, "9001", 9001, "udp")]
    ro, cache, tmp = app.volumes
    assert ro.type is MountType.BIND and ro.read_only and ro.source == str(tmp_path / "data")
    assert cache.type is MountType.VOLUME and cache.nocopy
    assert tmp.type is MountType.TMPFS and tmp.tmpfs_size == 64 << 20 and tmp.tmpfs_mode == 0o1777
    assert app.depends_on[0].condition is Condition.HEALTHY and app.depends_on[0].restart
    net = app.networks[0]
    assert (net.network, net.aliases, net.ipv4_address, net.priority) == ("front", ("web",), "172.30.0.10", 5)
    assert app.healthcheck.test == ("CMD", "curl", "-f", "http://localhost")
    assert app.healthcheck.interval_ns == 5 * 10**9 and app.healthcheck.retries == 3
    assert app.restart.policy is RestartPolicy.UNLESS_STOPPED
    assert app.deploy.replicas == 2 == app.replicas
    assert app.deploy.limits.cpus == 0.5 and app.deploy.limits.memory == 1 << 30 and app.deploy.limits.pids == 100
    assert app.deploy.reservations.memory == 128 << 20
    assert app.deploy.restart_policy.policy is RestartPolicy.ALWAYS
    assert app.secrets[0].target == "/run/secrets/api-token" and app.secrets[0].mode == 0o400
    assert app.configs[0].target == "/conf"
    assert app.init and app.tty and app.stdin_open and app.read_only and not app.privileged
    assert app.stop_grace_period_ns == 60 * 10**9
    assert app.mem_limit == 1 << 30 and app.memswap_limit == -1 and app.cpus == 0.5
    assert [(u.name, u.soft, u.hard) for u in app.ulimits] == [("nofile", 1024, 2048), ("nproc", 64, 64)]
    assert dict(app.sysctls) == {"net.core.somaxconn": "1024"}
    assert app.extra_hosts == ("host.local=10.0.0.1",)
    assert app.dns == ("1.1.1.1",) and app.dns_search == ("example.org",) and app.group_add == ("audio", "44")
    assert app.shm_size == 64 << 20 and app.pull_policy is PullPolicy.NEVER
    assert dict(app.extensions) == {"x-custom": {"a": 1}}
    assert project.networks["front"].subnets == ("172.30.0.0/24",)
    assert project.secrets["token"].environment == "TOKEN" and project.configs["conf"].content == "x=1"
    assert dict(project.extensions) == {"x-top": 1}
    assert project.services["db"].healthcheck.test == ("CMD-SHELL", "pg_isready")


def _walk(value, path):
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            if f.name == "extensions":
                continue
            yield from _walk(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        yield path
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(value, MappingProxyType):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")


def test_no_raw_dicts_past_the_model(project):
    assert list(_walk(project, "project")) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.services["app"].image = "other"
