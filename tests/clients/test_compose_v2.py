"""Docker Compose v2 (the reference binary, v2.40.3) against our engine: a project a user would
write, and what they would see with Docker. Each scenario checks its effect through the engine's
API (the docker SDK) and inside the containers, not only the binary's exit status.

One project is brought up for the module (`stack`); the scenarios run against it in file order
and leave it as they found it; the last takes it down and checks that nothing of it is left.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.daemon.conftest import wait_for

pytestmark = pytest.mark.integration

COMPOSE = """\
services:
  db:
    image: busybox
    pull_policy: never
    init: true
    # healthy only two seconds after it starts: web's start proves depends_on waited
    command: ["sh", "-c", "echo db up; sleep 2; touch /tmp/ready; exec httpd -f -p 5432 -h /data"]
    volumes: [dbdata:/data]
    networks:
      back:
        aliases: [database]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  seed:
    image: busybox
    pull_policy: never
    command: ["sh", "-c", "sleep 1; echo seeded > /data/seed"]
    volumes: [dbdata:/data]
  web:
    image: busybox
    pull_policy: never
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    ports: ["127.0.0.1::8080"]
    environment:
      FROM_YAML: ${PC_VALUE:-yaml-value}
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    shm_size: 16m
    sysctls: {net.core.somaxconn: "511", kernel.msgmax: "4321"}
    domainname: example.test
    oom_score_adj: 123
    cpu_period: 50000
    cpu_quota: 25000
    mem_limit: 64m
    mem_reservation: 32m
    devices: ["/dev/loop-control:/dev/pclc:r"]
    # (Compose v2.40.3 drops a mode, service:ro or container:x:ro: it sends the container alone)
    volumes_from: [db]
    env_file: [web.env]
    secrets: [token]
    configs:
      - source: appconf
        target: /etc/app.conf
    networks: [back, default]
    depends_on:
      db: {condition: service_healthy}
      seed: {condition: service_completed_successfully}
volumes:
  dbdata: {}
networks:
  back: {}
secrets:
  token: {file: ./token.txt}
configs:
  appconf: {file: ./app.conf}
"""

# a second file: a service built from a Dockerfile (FROM the local busybox), which the base
# file does not know, so that `down --remove-orphans` with the base file alone must remove it
TOOLS = """\
services:
  app:
    build: ./app
    image: {project}-app:built
    pull_policy: never
    init: true
    command: ["sh", "-c", "cat /built.txt; exec sleep 1000"]
"""

ORPHAN = """\
services:
  orphan:
    image: busybox
    pull_policy: never
    init: true
    command: ["sleep", "1000"]
"""

DOCKERFILE = """\
FROM busybox
RUN echo built by compose > /built.txt && chmod 0640 /built.txt
LABEL pc.test=compose-v2
"""


@dataclass
class Stack:
    project: str
    dir: Path
    compose: object
    client: object

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            files: tuple[str, ...] = ("compose.yaml",),
            env: dict | None = None) -> subprocess.CompletedProcess:
        flags = [a for f in files for a in ("-f", f)]
        return self.compose.run("-p", self.project, *flags, *args, cwd=self.dir, input=input,
                                check=check, env=env)

    def out(self, *args: str, input: bytes | None = None,
            files: tuple[str, ...] = ("compose.yaml",)) -> str:
        return self.run(*args, input=input, files=files).stdout.decode()

    def containers(self, service: str | None = None, all: bool = True) -> list:
        labels = [f"com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        found = self.client.containers.list(all=all, filters={"label": labels})
        return sorted(found, key=lambda c: c.name)

    def one(self, service: str):
        (c,) = self.containers(service)
        return c

    def host_port(self, service: str = "web", index: int = 1) -> int:
        text = self.out("port", "--index", str(index), service, "8080").strip()
        host, _, port = text.rpartition(":")
        assert host == "127.0.0.1", text
        return int(port)


def _started(c) -> datetime:
    return _parse(c.attrs["State"]["StartedAt"])


def _parse(stamp: str) -> datetime:
    # RFC 3339 with nanoseconds: keep microseconds for fromisoformat
    head, _, frac = stamp.rstrip("Z").partition(".")
    tz = "+00:00"
    if "+" in frac:
        frac, tz = frac.split("+")
        tz = "+" + tz
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6].ljust(6, '0')}{tz}")


def _get(port: int, path: str = "/index.html", timeout: float = 5) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read()


def _served(port: int, path: str = "/index.html") -> bytes:
    """The body once the published port answers (a start's forwarding may lag its API)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return _get(port, path, timeout=3)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ps(stack: Stack, *args: str) -> list[dict]:
    text = stack.out("ps", "--format", "json", *args).strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stack(compose_v2, engine):
    project = f"pcv2{secrets.token_hex(3)}"
    d = Path(tempfile.mkdtemp(prefix="pcv2-"))
    client = engine.client()
    (d / "compose.yaml").write_text(COMPOSE)
    (d / "compose.tools.yaml").write_text(TOOLS.format(project=project))
    (d / "web.env").write_text("FROM_FILE=file-value\n# a comment\n")
    (d / "token.txt").write_text("s3cret-token\n")
    (d / "app.conf").write_text("answer=42\n")
    (d / "app").mkdir()
    (d / "app" / "Dockerfile").write_text(DOCKERFILE)
    s = Stack(project, d, compose_v2, client)
    try:
        s.run("up", "-d")
        yield s
    finally:
        try:
            s.run("-f", "compose.tools.yaml", "down", "-v", "--remove-orphans", "-t", "2",
                  check=False)
        finally:
            client.close()
            shutil.rmtree(d, ignore_errors=True)


def test_up_waits_for_health_and_completion_and_wires_everything(stack):
    db, seed, web = stack.one("db"), stack.one("seed"), stack.one("web")
    assert (db.status, seed.status, web.status) == ("running", "exited", "running")
    assert seed.attrs["State"]["ExitCode"] == 0
    # service_completed_successfully: web started after seed finished
    assert _started(web) >= _parse(seed.attrs["State"]["FinishedAt"])
    # service_healthy: db becomes healthy two seconds after its start, web started after that
    assert (_started(web) - _started(db)).total_seconds() >= 2
    assert db.attrs["State"]["Health"]["Status"] == "healthy"
    # the named volume, shared by seed (writer) and db (server), reached over the user
    # network by db's alias
    vol = stack.client.volumes.get(f"{stack.project}_dbdata")
    assert vol.attrs["Labels"]["com.docker.compose.project"] == stack.project
    got = web.exec_run(["wget", "-qO-", "http://database:5432/seed"])
    assert (got.exit_code, got.output) == (0, b"seeded\n")
    back = stack.client.networks.get(f"{stack.project}_back")
    assert "database" in db.attrs["NetworkSettings"]["Networks"][back.name]["Aliases"]
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {
        f"{stack.project}_back", f"{stack.project}_default"}
    # environment and env_file, the secret and the config from files
    got = web.exec_run(["sh", "-c", "echo $FROM_YAML $FROM_FILE; cat /run/secrets/token "
                        "/etc/app.conf"])
    assert got.output.decode() == "yaml-value file-value\ns3cret-token\nanswer=42\n"
    # the published port, on loopback
    assert _served(stack.host_port()) == b"hello\n"
    # ulimits and shm_size (PID 1's limits, read on the host; /dev/shm as the container sees it)
    limits = Path(f"/proc/{web.attrs['State']['Pid']}/limits").read_text()
    nofile = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert nofile.split()[3:5] == ["1024", "2048"], nofile
    got = web.exec_run(["df", "-k", "/dev/shm"])
    assert got.output.decode().splitlines()[-1].split()[1] == str(16 * 1024)
    # sysctls of its own namespaces, and its domain name
    got = web.exec_run(["cat", "/proc/sys/net/core/somaxconn", "/proc/sys/kernel/msgmax",
                        "/proc/sys/kernel/domainname"])
    assert got.output.decode().split() == ["511", "4321", "example.test"]
    # the OOM score, the CFS quota, the device (readable only) and db's volume
    pid = web.attrs["State"]["Pid"]
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "123"
    assert web.attrs["HostConfig"]["CpuQuota"] == 25000
    got = web.exec_run(["sh", "-c", "(: < /dev/pclc) && echo r-ok; (: > /dev/pclc) 2>/dev/null "
                        "|| echo w-no; cat /data/seed"])
    assert got.output.decode().split() == ["r-ok", "w-no", "seeded"]


def test_ps_format_json_lists_the_running_services(stack):
    rows = {r["Service"]: r for r in _ps(stack)}
    assert set(rows) == {"db", "web"}
    assert rows["db"]["State"] == "running" and rows["db"]["Health"] == "healthy"
    assert rows["web"]["Name"] == f"{stack.project}-web-1"
    assert rows["web"]["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 8080,
                                          "PublishedPort": stack.host_port(),
                                          "Protocol": "tcp"}]
    everything = {r["Service"]: r for r in _ps(stack, "-a")}
    assert everything["seed"]["State"] == "exited" and everything["seed"]["ExitCode"] == 0


def test_up_again_keeps_what_is_unchanged_and_recreates_what_changed(stack):
    before = {c.name: c.id for c in stack.containers()}
    stack.run("up", "-d")
    assert {c.name: c.id for c in stack.containers()} == before
    # an interpolated value changes web's config hash: only web is recreated
    stack.run("up", "-d", env={"PC_VALUE": "changed"})
    after = {c.name: c.id for c in stack.containers()}
    web = f"{stack.project}-web-1"
    assert after[web] != before[web]
    assert {n: i for n, i in after.items() if n != web} \
        == {n: i for n, i in before.items() if n != web}
    assert stack.one("web").exec_run(["sh", "-c", "echo $FROM_YAML"]).output == b"changed\n"
    stack.run("up", "-d")
    assert stack.one("web").exec_run(["sh", "-c", "echo $FROM_YAML"]).output \
        == b"yaml-value\n"
    assert _served(stack.host_port()) == b"hello\n"


def test_logs_show_the_service_output(stack):
    assert stack.out("logs", "--no-log-prefix", "db").splitlines() == ["db up"]
    prefixed = stack.out("logs", "db").splitlines()
    assert len(prefixed) == 1 and prefixed[0].endswith("| db up")
    assert prefixed[0].startswith("db-1")


def test_exec_runs_in_the_container_and_passes_its_status(stack):
    assert stack.out("exec", "-T", "web", "sh", "-c", "echo $FROM_YAML; cat /etc/hostname") \
        .split() == ["yaml-value", stack.one("web").id[:12]]
    r = stack.run("exec", "-T", "web", "sh", "-c", "echo to-stderr >&2; exit 7", check=False)
    assert r.returncode == 7 and r.stderr.decode().strip() == "to-stderr"
    # stdin piped into exec
    assert stack.out("exec", "-T", "web", "tr", "a-z", "A-Z", input=b"piped in\n") \
        == "PIPED IN\n"


def test_run_rm_reads_piped_stdin_and_leaves_no_container(stack):
    assert stack.out("run", "--rm", "--no-deps", "web", "tr", "a-z", "A-Z",
                     input=b"through run\n") == "THROUGH RUN\n"
    r = stack.run("run", "--rm", "--no-deps", "-e", "CODE=5", "web", "sh", "-c",
                  'exit "$CODE"', check=False)
    assert r.returncode == 5
    assert stack.client.containers.list(all=True, filters={"label": [
        f"com.docker.compose.project={stack.project}", "com.docker.compose.oneoff=True"]}) == []


def test_build_from_a_dockerfile_then_run_the_built_image(stack):
    tools = ("compose.yaml", "compose.tools.yaml")
    r = stack.run("build", "app", files=tools)
    text = (r.stdout + r.stderr).decode()
    assert "buildkit" not in text.lower(), text     # the engine's /build, nothing pulled
    image = stack.client.images.get(f"{stack.project}-app:built")
    assert image.labels.get("pc.test") == "compose-v2"
    stack.run("up", "-d", "app", files=tools)
    app = stack.one("app")
    assert app.attrs["Config"]["Image"] == f"{stack.project}-app:built"
    assert stack.out("exec", "-T", "app", "stat", "-c", "%a %n", "/built.txt",
                     files=tools).strip() == "640 /built.txt"
    wait_for(lambda: b"built by compose" in app.logs())


def test_scale_up_and_down(stack):
    stack.run("up", "-d", "--scale", "web=2", "--no-recreate")
    webs = stack.containers("web")
    assert [c.name for c in webs] == [f"{stack.project}-web-1", f"{stack.project}-web-2"]
    assert all(c.status == "running" for c in webs)
    ports = {stack.host_port(index=1), stack.host_port(index=2)}
    assert len(ports) == 2
    for port in ports:
        assert _served(port) == b"hello\n"
    stack.run("up", "-d", "--scale", "web=1", "--no-recreate")
    assert [c.name for c in stack.containers("web")] == [f"{stack.project}-web-1"]


def test_stop_start_restart(stack):
    port = stack.host_port()
    stack.run("stop", "web")
    web = stack.one("web")
    assert web.status == "exited"
    with pytest.raises(OSError):
        _get(port, timeout=2)
    stack.run("start", "web")
    assert stack.one("web").status == "running"
    assert _served(stack.host_port()) == b"hello\n"
    before = _started(stack.one("db"))
    stack.run("restart", "db")
    db = stack.one("db")
    assert db.status == "running" and _started(db) > before
    wait_for(lambda: stack.one("db").attrs["State"]["Health"]["Status"] == "healthy",
             timeout=30)


def test_pause_freezes_and_unpause_thaws(stack):
    port = stack.host_port()
    stack.run("pause", "web")
    try:
        assert stack.one("web").status == "paused"
        # a frozen httpd answers nothing
        with pytest.raises(OSError):
            _get(port, timeout=1.5)
    finally:
        stack.run("unpause", "web")
    assert stack.one("web").status == "running"
    assert _served(port) == b"hello\n"


def test_cp_both_ways(stack):
    local = stack.dir / "upload.txt"
    local.write_text("from the host\n")
    stack.run("cp", str(local), "web:/tmp/upload.txt")
    got = stack.one("web").exec_run(["cat", "/tmp/upload.txt"])
    assert got.output == b"from the host\n"
    out = stack.dir / "seed.out"
    stack.run("cp", "db:/data/seed", str(out))
    assert out.read_text() == "seeded\n"


def test_top_lists_the_container_processes_by_host_pid(stack):
    lines = stack.out("top", "web").splitlines()
    header = next(i for i, line in enumerate(lines) if "PID" in line.split())
    cols = lines[header].split()
    rows = [line.split(None, len(cols) - 1) for line in lines[header + 1:] if line.strip()]
    httpd = [r for r in rows if "httpd -f -p 8080" in r[-1]]
    assert httpd, lines
    pid = int(httpd[-1][cols.index("PID")])
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"httpd" in f.read()


def test_port_matches_the_engine(stack):
    web = stack.one("web")
    binding = web.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]
    assert stack.out("port", "web", "8080").strip() \
        == f"{binding['HostIp']}:{binding['HostPort']}"
    r = stack.run("port", "web", "9999", check=False)
    assert r.returncode != 0 or r.stdout.strip() in (b"", b":0")


def test_events_stream_what_happens(stack):
    proc = subprocess.Popen(stack.compose.argv("-p", stack.project, "events", "--json"),
                            env=stack.compose.env, cwd=stack.dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen: set[tuple[str, str]] = set()
    buf = b""
    try:
        deadline = time.monotonic() + 30
        # the subscription may start after the first pause: pause again until it is seen
        while not {("web", "pause"), ("web", "unpause")} <= seen:
            assert time.monotonic() < deadline, seen
            stack.run("pause", "web")
            stack.run("unpause", "web")
            until = time.monotonic() + 1
            while time.monotonic() < until:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    ev = json.loads(line)
                    assert ev["type"] == "container"
                    seen.add((ev["service"], ev["action"]))
    finally:
        proc.kill()
        proc.communicate()
    assert stack.one("web").status == "running"


def test_down_removes_containers_networks_volumes_and_orphans(stack):
    # an orphan: a service of the project the base file does not know
    (stack.dir / "compose.orphan.yaml").write_text(ORPHAN)
    stack.run("up", "-d", "orphan", files=("compose.yaml", "compose.orphan.yaml"))
    assert stack.one("orphan").status == "running"
    port = stack.host_port()
    r = stack.run("down", "-v", "--remove-orphans", "-t", "2")
    assert r.returncode == 0
    assert stack.containers() == []
    assert stack.client.networks.list(
        filters={"label": f"com.docker.compose.project={stack.project}"}) == []
    assert [n.name for n in stack.client.networks.list()
            if n.name.startswith(f"{stack.project}_")] == []
    assert [v.name for v in stack.client.volumes.list()
            if v.name.startswith(f"{stack.project}_")] == []
    # nothing listens on the published port any more
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0


REFUSED = """\
services:
  spy:
    image: busybox
    pull_policy: never
    cgroup_parent: /mine
    command: ["true"]
"""


def test_what_the_engine_refuses_fails_up_with_its_one_line_reason(compose_v2, engine):
    project = f"pcv2r{secrets.token_hex(3)}"
    d = Path(tempfile.mkdtemp(prefix="pcv2-"))
    client = engine.client()
    try:
        (d / "compose.yaml").write_text(REFUSED)
        r = compose_v2.run("-p", project, "up", "-d", cwd=d, check=False)
        err = r.stderr.decode()
        assert r.returncode != 0
        assert "HostConfig.CgroupParent: '/mine': a cgroup parent is not supported" in err
        assert "Traceback" not in err
        assert client.containers.list(all=True, filters={
            "label": f"com.docker.compose.project={project}"}) == []
    finally:
        compose_v2.run("-p", project, "down", cwd=d, check=False)
        client.close()
        shutil.rmtree(d, ignore_errors=True)
