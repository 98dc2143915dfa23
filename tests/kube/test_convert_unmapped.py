"""The one list of what did not map: a file using every construct without a faithful mapping
gets exactly these entries (service, key), each with a reason; nothing else is listed and
nothing is dropped without an entry."""
from __future__ import annotations

from compose.kube.context import BindMounts, ConvertOptions
from compose.kube.convert import convert_project
from compose.kube.unmapped import HANDLED, render_table

from .test_convert import project_of

EVERYTHING = """
name: odd
services:
  app:
    build: ./app
    user: www-data
    group_add: [staff]
    security_opt: ["apparmor=unconfined"]
    pids_limit: 50
    cpu_shares: 512
    memswap_limit: 1g
    ulimits: {nofile: 1024}
    stop_signal: SIGINT
    container_name: the-app
    domainname: example.org
    mac_address: "02:42:ac:11:00:02"
    hostname: "not_a_label"
    extra_hosts: ["host.docker.internal=host-gateway"]
    platform: linux/arm/v7
    pull_policy: daily
    ipc: "service:db"
    pid: "service:db"
    network_mode: "service:db"
    volumes_from: [db]
    logging: {driver: syslog}
    devices: ["/dev/fuse"]
    cgroup_parent: /custom
    oom_score_adj: 100
    runtime: runc
    tmpfs: ["/tmp:size=1m,mode=1777"]
    volumes:
      - ./src:/src
      - type: tmpfs
        target: /cache
        tmpfs: {mode: 0700}
    environment:
      FROM_SHELL:
    healthcheck:
      interval: 10s
    restart: on-failure
    ports: ["127.0.0.1:8080:80"]
    depends_on:
      db: {condition: service_healthy, restart: true}
    secrets:
      - source: key
        uid: "100"
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu]}]
      restart_policy: {delay: 5s}
      update_config: {parallelism: 2}
    develop:
      watch: [{action: sync, path: ./src, target: /src}]
  db:
    image: postgres
    entrypoint: ""
    healthcheck:
      test: ["CMD", "pg_isready"]
      timeout: 1500ms
    networks:
      back:
        ipv4_address: 172.28.0.5
        aliases: [app]
      front:
    volumes: ["shared_data:/var/lib/postgresql/data"]
  Side_Car:
    image: busybox
    volumes: ["shared_data:/data"]
networks:
  back:
    internal: true
    ipam: {config: [{subnet: 172.28.0.0/16}]}
  front:
volumes:
  shared_data:
    driver: nfs
secrets:
  key:
    file: ./missing-key.pem
"""

EXPECTED = {
    ("app", "user"), ("app", "group_add[0]"), ("app", "security_opt[0]"), ("app", "pids_limit"),
    ("app", "cpu_shares"), ("app", "memswap_limit"), ("app", "ulimits.nofile"),
    ("app", "stop_signal"), ("app", "container_name"), ("app", "domainname"),
    ("app", "mac_address"), ("app", "hostname"), ("app", "extra_hosts[0]"), ("app", "platform"),
    ("app", "pull_policy"), ("app", "ipc"), ("app", "pid"), ("app", "network_mode"),
    ("app", "volumes_from"), ("app", "logging"), ("app", "devices"), ("app", "cgroup_parent"),
    ("app", "oom_score_adj"), ("app", "runtime"), ("app", "tmpfs[0]"), ("app", "volumes[0]"),
    ("app", "volumes[1].tmpfs.mode"), ("app", "environment.FROM_SHELL"), ("app", "healthcheck"),
    ("app", "restart"), ("app", "ports[0]"), ("app", "ports[0].host_ip"),
    ("app", "depends_on.db.restart"), ("app", "secrets[0]"),
    ("app", "deploy.resources.reservations.devices"), ("app", "deploy.restart_policy.delay"),
    ("app", "deploy.update_config"), ("app", "develop"), ("app", "build"),
    ("db", "entrypoint"), ("db", "healthcheck.timeout"), ("db", "networks.back.ipv4_address"),
    ("db", "networks.back.aliases"),
    ("Side_Car", "name"),
    ("-", "secrets.key"), ("-", "volumes.shared_data.driver"), ("-", "volumes.shared_data"),
    ("-", "volumes.shared_data"), ("-", "networks"), ("-", "networks.back.internal"),
    ("-", "networks.back"),
}


def test_every_unmapped_construct_is_listed_once_with_a_reason(tmp_path):
    project = project_of(tmp_path, EVERYTHING)
    result = convert_project(project, ConvertOptions(bind_mounts=BindMounts.HOSTPATH))
    got = [(u.service, u.key) for u in result.unmapped]
    assert set(got) == EXPECTED
    # one entry per (service, key, why): volumes.shared_data has two reasons (renamed, shared)
    assert len(got) == len(set((u.service, u.key, u.why) for u in result.unmapped))
    assert all(u.why and "\n" not in u.why for u in result.unmapped)
    by_key = {(u.service, u.key): u.why for u in result.unmapped}
    assert "host path" in by_key[("app", "volumes[0]")] or "hostPath" in by_key[("app", "volumes[0]")]
    assert "alias 'app'" in by_key[("db", "networks.back.aliases")]


def test_keys_we_do_not_read_are_listed_generically_and_extensions_are_not(tmp_path):
    project = project_of(tmp_path, """
        services:
          a:
            image: busybox
            x-team: core
            oom_kill_disable: true
            mem_reservation: 64m
    """)
    result = convert_project(project, ConvertOptions())
    assert {(u.service, u.key) for u in result.unmapped} == {("a", "oom_kill_disable"),
                                                             ("a", "mem_reservation")}
    assert "x-team" not in HANDLED


def test_a_plain_service_maps_without_entries(tmp_path):
    project = project_of(tmp_path, """
        services:
          web:
            image: nginx
            environment: {A: "1"}
            command: ["nginx", "-g", "daemon off;"]
            expose: ["80"]
            healthcheck: {test: ["CMD", "true"], interval: 5s, timeout: 2s}
    """)
    result = convert_project(project, ConvertOptions())
    assert result.unmapped == []
    assert render_table(result.unmapped) == ""


def test_the_table_has_one_row_per_entry_in_aligned_columns(tmp_path):
    project = project_of(tmp_path, EVERYTHING)
    result = convert_project(project, ConvertOptions(bind_mounts=BindMounts.HOSTPATH))
    lines = render_table(result.unmapped).splitlines()
    assert lines[0].split() == ["SERVICE", "KEY", "WHY"]
    assert len(lines) == len(result.unmapped) + 1
    column = lines[0].index("KEY")
    assert all(line[column - 1] == " " and line[column] != " " for line in lines)
