"""The real `pycompose` compose verbs against a real engine daemon (busybox containers)."""
from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

STACK = """
services:
  db:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  api:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment:
      LEVEL: "{level}"
    depends_on: [db]
  web:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [api]
"""


def containers(engine, project: str) -> dict[str, dict]:
    with engine.client() as c:
        items = c.containers(all=True, filters={"label": [f"com.docker.compose.project={project}"]})
        return {i["Names"][0].lstrip("/"): c.inspect_container(i["Id"]) for i in items}


def write(directory, text: str) -> None:
    (directory / "compose.yaml").write_text(text)


def test_up_converges_in_dependency_order_then_noop_then_recreates_changed(engine, project):
    name = project.name
    write(project, STACK.format(level="1"))
    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode == 0, r.stderr
    found = containers(engine, name)
    assert sorted(found) == [f"{name}-api-1", f"{name}-db-1", f"{name}-web-1"]
    started = {n: c["State"]["StartedAt"] for n, c in found.items()}
    assert started[f"{name}-db-1"] <= started[f"{name}-api-1"] <= started[f"{name}-web-1"]
    labels = found[f"{name}-web-1"]["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == name
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.project.working_dir"] == str(project)
    assert all(c["State"]["Status"] == "running" for c in found.values())
    ids = {n: c["Id"] for n, c in found.items()}

    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "Created" not in r.stderr and "Started" not in r.stderr
    assert {n: c["Id"] for n, c in containers(engine, name).items()} == ids

    write(project, STACK.format(level="2"))
    r = engine.cli("up", "-d", cwd=project)
    assert r.returncode == 0, r.stderr
    after = containers(engine, name)
    assert sorted(after) == sorted(ids)
    assert after[f"{name}-api-1"]["Id"] != ids[f"{name}-api-1"]
    assert "LEVEL=2" in after[f"{name}-api-1"]["Config"]["Env"]
    assert after[f"{name}-db-1"]["Id"] == ids[f"{name}-db-1"]
    assert after[f"{name}-web-1"]["Id"] == ids[f"{name}-web-1"]

    ps = engine.cli("ps", "--format", "json", cwd=project, check=True)
    rows = [json.loads(line) for line in ps.stdout.splitlines()]
    assert sorted(r["Service"] for r in rows) == ["api", "db", "web"]

    r = engine.cli("down", "-t", "0", cwd=project)
    assert r.returncode == 0, r.stderr
    assert containers(engine, name) == {}


def test_run_rm_returns_exit_code_and_leaves_nothing(engine, project):
    write(project, STACK.format(level="1"))
    r = engine.cli("run", "--rm", "-T", "--no-deps", "db", "sh", "-c", "echo hi; exit 3",
                   cwd=project)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hi\n"
    assert containers(engine, project.name) == {}


def test_run_starts_dependencies_first(engine, project):
    write(project, STACK.format(level="1"))
    r = engine.cli("run", "--rm", "-T", "web", "true", cwd=project)
    assert r.returncode == 0, r.stderr
    names = sorted(containers(engine, project.name))
    assert names == [f"{project.name}-api-1", f"{project.name}-db-1"]


def test_logs_are_prefixed_per_container(engine, project):
    write(project, """
services:
  a:
    image: busybox:latest
    command: ["sh", "-c", "echo from-a; sleep 600"]
    stop_signal: SIGKILL
  bb:
    image: busybox:latest
    command: ["sh", "-c", "echo from-bb; sleep 600"]
    stop_signal: SIGKILL
""")
    engine.cli("up", "-d", cwd=project, check=True)
    # a finished one-off is kept (no --rm) but, as in Compose, not part of `logs`
    assert engine.cli("run", "-T", "a", "echo", "from-run", cwd=project,
                      check=True).stdout == "from-run\n"
    deadline = time.monotonic() + 10
    while True:
        r = engine.cli("logs", "--no-color", cwd=project, check=True)
        if "from-a" in r.stdout and "from-bb" in r.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lines = set(r.stdout.splitlines())
    assert "a-1   | from-a" in lines and "bb-1  | from-bb" in lines
    assert "from-run" not in r.stdout


def test_attached_up_streams_logs_and_exit_code_from(engine, project):
    write(project, """
services:
  job:
    image: busybox:latest
    command: ["sh", "-c", "echo working; exit 4"]
""")
    r = engine.cli("up", "--exit-code-from", "job", cwd=project, timeout=60)
    assert r.returncode == 4, r.stderr
    assert "job-1  | working" in r.stdout
    assert "job-1 exited with code 4" in r.stdout


def test_healthcheck_gates_dependent(engine, project):
    write(project, """
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 20
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
""")
    r = engine.cli("up", "-d", cwd=project, timeout=60)
    assert r.returncode == 0, r.stderr
    found = containers(engine, project.name)
    db, app = found[f"{project.name}-db-1"], found[f"{project.name}-app-1"]
    assert db["State"]["Health"]["Status"] == "healthy"
    assert app["State"]["StartedAt"] > db["State"]["StartedAt"]


def test_unhealthy_dependency_fails_naming_it_and_down_cleans(engine, project):
    write(project, """
services:
  db:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 300ms
      retries: 1
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    depends_on:
      db: {condition: service_healthy}
""")
    r = engine.cli("up", "-d", cwd=project, timeout=60)
    assert r.returncode != 0
    assert f"container {project.name}-db-1 is unhealthy" in r.stderr
    assert "Traceback" not in r.stderr
    engine.cli("down", "-t", "0", cwd=project, check=True)
    assert containers(engine, project.name) == {}


def test_bad_input_is_one_line(engine, project):
    write(project, STACK.format(level="1"))
    r = engine.cli("up", "-d", "nosuch", cwd=project)
    assert r.returncode != 0 and "no such service: nosuch" in r.stderr
    assert "Traceback" not in r.stderr
    r = engine.cli("up", "-d", "--abort-on-container-exit", cwd=project)
    assert r.returncode != 0 and "incompatible" in r.stderr


def test_ctrl_c_stops_attached_up_gracefully_and_exits_0(engine, project):
    import signal
    import subprocess

    from .conftest import CLI

    write(project, """
services:
  a:
    image: busybox:latest
    command: ["sh", "-c", "echo ready; sleep 600"]
""")
    proc = subprocess.Popen(CLI + ["up"], cwd=project, env=engine.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        assert b"a-1  | ready" in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert b"Gracefully stopping..." in err
    assert b"Traceback" not in err
    state = containers(engine, project.name)[f"{project.name}-a-1"]["State"]
    assert state["Status"] == "exited"


def test_up_wait_waits_for_health(engine, project):
    write(project, """
services:
  w:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
""")
    r = engine.cli("up", "--wait", cwd=project, timeout=60)
    assert r.returncode == 0, r.stderr
    state = containers(engine, project.name)[f"{project.name}-w-1"]["State"]
    assert state["Health"]["Status"] == "healthy"


def test_scale_up_and_down_numbers_replicas(engine, project):
    write(project, """
services:
  w:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
""")
    r = engine.cli("up", "-d", "--scale", "w=3", cwd=project, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(containers(engine, project.name)) == [f"{project.name}-w-{i}"
                                                        for i in (1, 2, 3)]
    r = engine.cli("up", "-d", "--scale", "w=1", cwd=project, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(containers(engine, project.name)) == [f"{project.name}-w-1"]


def test_exec_runs_in_replica_and_returns_code(engine, project):
    write(project, STACK.format(level="1"))
    engine.cli("up", "-d", "db", cwd=project, check=True)
    r = engine.cli("exec", "-T", "db", "sh", "-c", "echo $HOSTNAME-ok; exit 7", cwd=project)
    assert r.returncode == 7, r.stderr
    assert r.stdout.strip().endswith("-ok")


def test_orphans_and_oneoffs_are_cleaned_by_down(engine, project):
    name = project.name
    write(project, STACK.format(level="1"))
    engine.cli("up", "-d", cwd=project, check=True)
    r = engine.cli("run", "-d", "--no-deps", "db", "sleep", "600", cwd=project, check=True)
    oneoff = r.stdout.strip()
    assert oneoff.startswith(f"{name}-db-run-") and len(oneoff) == len(f"{name}-db-run-") + 12
    labels = containers(engine, name)[oneoff]["Config"]["Labels"]
    assert labels["com.docker.compose.oneoff"] == "True"
    assert "com.docker.compose.container-number" not in labels
    write(project, """
services:
  db:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
""")
    r = engine.cli("up", "-d", cwd=project, check=True)
    assert "Found orphan containers" in r.stderr and f"{name}-web-1" in r.stderr
    r = engine.cli("down", "-t", "0", "--remove-orphans", cwd=project)
    assert r.returncode == 0, r.stderr
    assert containers(engine, name) == {}
    with engine.client() as c:
        assert not [n for n in c.networks() if n["Name"] == f"{name}_default"]


def test_services_reach_each_other_by_name_and_alias(engine, project):
    write(project, """
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    stop_signal: SIGKILL
    networks:
      default:
        aliases: [www]
  client:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
""")
    engine.cli("up", "-d", cwd=project, check=True)
    for host in ("web", "www", f"{project.name}-web-1"):
        r = engine.cli("exec", "-T", "client", "wget", "-q", "-O-", f"http://{host}:8080/",
                       cwd=project)
        assert (r.returncode, r.stdout) == (0, "hello\n"), (host, r.stderr)


def test_down_by_project_name_without_a_compose_file(engine, project, tmp_path):
    write(project, STACK.format(level="1"))
    engine.cli("up", "-d", "db", cwd=project, check=True)
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    r = engine.cli("-p", project.name, "down", "-t", "0", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert containers(engine, project.name) == {}


def test_attached_up_follows_restarts_of_a_restart_policy(engine, project):
    write(project, """
services:
  flaky:
    image: busybox:latest
    command: ["sh", "-c", "echo attempt; exit 1"]
    restart: on-failure:2
""")
    r = engine.cli("up", cwd=project, timeout=90)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines.count("flaky-1  | attempt") == 3, r.stdout
    assert lines[-1] == "flaky-1 exited with code 1"


def test_second_ctrl_c_kills_instead_of_waiting_the_grace_period(engine, project):
    import signal
    import subprocess

    from .conftest import CLI

    # `sleep` as PID 1 ignores SIGTERM: a graceful stop would wait the whole grace period.
    write(project, """
services:
  stubborn:
    image: busybox:latest
    command: ["sh", "-c", "echo up; exec sleep 600"]
    stop_grace_period: 60s
""")
    proc = subprocess.Popen(CLI + ["up"], cwd=project, env=engine.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert b"stubborn-1  | up" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        time.sleep(1)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert elapsed < 15
    assert b"Traceback" not in err
    state = containers(engine, project.name)[f"{project.name}-stubborn-1"]["State"]
    assert state["Status"] == "exited"


def test_missing_image_pull_failure_is_one_clear_error(engine, project):
    # a registry on a closed loopback port: the pull fails fast and never leaves the machine
    write(project, """
services:
  ok:
    image: busybox:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  gone:
    image: 127.0.0.1:9/nothing:1
""")
    r = engine.cli("up", "-d", cwd=project, timeout=60)
    assert r.returncode == 1
    assert "127.0.0.1:9/nothing:1" in r.stderr and "Traceback" not in r.stderr
    assert containers(engine, project.name)[f"{project.name}-ok-1"]["State"]["Status"] == \
        "running"
    r = engine.cli("pull", "gone", cwd=project, timeout=60)
    assert r.returncode == 1 and "failed to pull 127.0.0.1:9/nothing:1" in r.stderr


def test_build_service_then_run_it(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        'FROM busybox:latest\nRUN echo built-here > /built\nCMD ["cat", "/built"]\n')
    write(project, """
services:
  app:
    build: ./app
""")
    r = engine.cli("up", "--exit-code-from", "app", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"Image {project.name}-app  Built" in r.stderr
    assert "app-1  | built-here" in r.stdout
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    r = engine.cli("down", "--rmi", "local", "-t", "0", cwd=project)
    assert r.returncode == 0, r.stderr
    with engine.client() as c:
        assert not [i for i in c.images() if f"{project.name}-app:latest" in
                    (i.get("RepoTags") or [])]


def test_events_json_reports_the_projects_containers(engine, project):
    import subprocess

    from .conftest import CLI

    write(project, STACK.format(level="1"))
    proc = subprocess.Popen(CLI + ["events", "--json"], cwd=project, env=engine.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)   # the subscription is in place
        engine.cli("up", "-d", "db", cwd=project, check=True)
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "start" not in [e["action"] for e in seen]:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line))
    finally:
        proc.kill()
        proc.wait()
    assert {"create", "start"} <= {e["action"] for e in seen}, proc.stderr.read()
    assert all(e["service"] == "db" for e in seen)


def test_waits_are_woken_by_the_engines_events(engine, project):
    """ContainerChanges against the real engine: a poll whose timer alone would take 30 s sees
    the container start and exit within the test's 10 s, because the engine's events
    (start, die) wake it."""
    import trio

    from compose.orchestrator.engine_events import ContainerChanges
    from compose.orchestrator.waiting import Check, Verdict, poll
    from engine.client import Client

    name = project.name
    with engine.client() as c:
        cid = c.create_container({"Image": "busybox:latest", "Cmd": ["sh", "-c", "sleep 0.3"],
                                  "Labels": {"com.docker.compose.project": name}},
                                 name=f"{name}-oneshot")["Id"]
    changes = ContainerChanges.for_project(lambda: Client(engine.socket), name)
    seen: list[str] = []

    def judge(wanted: str):
        def check(data) -> Check:
            seen.append(data["State"]["Status"])
            return Check(Verdict.MET if data["State"]["Status"] == wanted else Verdict.WAIT)
        return check

    async def main():
        client = Client(engine.socket)

        async def inspect():
            return await trio.to_thread.run_sync(client.inspect_container, cid)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(changes.run)
                with trio.fail_after(10):
                    while not changes.live:
                        await trio.sleep(0.005)
                    async with trio.open_nursery() as waits:
                        waits.start_soon(poll, inspect, judge("running"), 30, 30,
                                         lambda: changes.arm(cid))
                        while not seen:   # the waiter has inspected: "created"
                            await trio.sleep(0.005)
                        await trio.to_thread.run_sync(client.start, cid)
                    await poll(inspect, judge("exited"), 30, 30, lambda: changes.arm(cid))
                nursery.cancel_scope.cancel()
        finally:
            client.close()

    trio.run(main)
    assert seen[0] == "created" and seen[-1] == "exited", seen
