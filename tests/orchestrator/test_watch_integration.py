"""`pycompose watch` and `up --watch` against a real engine (issue #14, item 4): files edited,
added and deleted on the host reach the running container (or leave it), ignored ones do not;
sync+restart restarts, sync+exec runs its command, rebuild recreates from a new image,
initial_sync copies the tree at start."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from engine.errors import Conflict, NotFound

from .conftest import CLI
from .test_compose_integration import write

pytestmark = pytest.mark.integration

DOCKERFILE = "FROM busybox:latest\nCOPY app /app\nCOPY VERSION /VERSION\n"

STACK = """
services:
  web:
    build: ./web
    image: {name}/web:latest
    command: ["sh", "-c", "echo version $$(cat /VERSION); exec sleep 600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - action: sync+restart
          path: ./web/app/main.conf
          target: /app/main.conf
        - action: sync
          path: ./web/app
          target: /app
          ignore: ["*.tmp"]
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
            command: ["sh", "-c", "cat /hooks/* > /tmp/hook-ran; echo hook-says-$$HOSTNAME"]
        - action: sync
          path: ./data
          target: /data
          initial_sync: true
        - action: rebuild
          path: ./web/VERSION
"""


def make_project(project) -> None:
    (project / "web" / "app").mkdir(parents=True)
    (project / "web" / "Dockerfile").write_text(DOCKERFILE)
    (project / "web" / "VERSION").write_text("v1\n")
    (project / "web" / "app" / "a.txt").write_text("old a\n")
    (project / "web" / "app" / "main.conf").write_text("conf 1\n")
    (project / "web" / ".dockerignore").write_text("app/secret.key\n")
    (project / "hooks").mkdir()
    (project / "data").mkdir()
    (project / "data" / "seed.txt").write_text("seeded\n")
    (project / "data" / ".git").mkdir()                    # initial_sync leaves these out
    (project / "data" / ".git" / "config").write_text("[core]\n")
    (project / "data" / "Dockerfile").write_text("FROM scratch\n")
    write(project, STACK.format(name=project.name))


class Watching:
    """The CLI running `watch` (or `up --watch`), its stderr collected; stopped by PID."""

    def __init__(self, engine, project, *args: str) -> None:
        self.log = project.parent / f"{project.name}-watch.log"
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen(CLI + list(args), cwd=project, env=engine.env,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} (exit {self.proc.poll()}):\n{self.text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    return self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            return self.proc.wait(5)
        finally:
            self.out.close()


@pytest.fixture
def watching(engine, project):
    started: list[Watching] = []

    def start(*args: str) -> Watching:
        w = Watching(engine, project, *args)
        started.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            w.stop()


def container(engine, name: str) -> dict:
    with engine.client() as c:
        [summary] = c.containers(all=True, filters={"label": [f"com.docker.compose.project={name}",
                                                    "com.docker.compose.service=web"]})
        return c.inspect_container(summary["Id"])


def read(engine, cid: str, path: str) -> str | None:
    """The container file's content (through the archive endpoint), None when absent."""
    deadline = time.monotonic() + 10
    with engine.client() as c:
        while True:
            try:
                body = c.request("GET", f"/containers/{cid}/archive", {"path": path}).read()
                break
            except NotFound as e:
                assert "No such container" not in e.message
                return None
            except Conflict:   # the container is (re)starting: its files come back after
                assert time.monotonic() < deadline
                time.sleep(0.05)
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.next()
        f = tar.extractfile(member) if member is not None else None
        return f.read().decode() if f is not None else ""


def eventually(fn, want, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, want {want!r}")
        time.sleep(0.1)


def test_watch_syncs_edits_additions_and_deletions(engine, project, watching):
    make_project(project)
    w = watching("watch")
    w.wait_for("Watch enabled", timeout=120)
    before = container(engine, project.name)
    cid = before["Id"]
    assert read(engine, cid, "/data/seed.txt") == "seeded\n"        # initial_sync
    assert read(engine, cid, "/data/.git") is None and read(engine, cid, "/data/Dockerfile") is None
    app = project / "web" / "app"
    # the ignored ones first: had they been synced, they would be there by the time the others are
    (app / "skip.tmp").write_text("ignored by the rule\n")
    (app / "secret.key").write_text("ignored by .dockerignore\n")
    (app / ".c.txt.swp").write_text("an editor's swap file\n")
    (app / "a.txt").write_text("new a\n")
    (app / "sub" / ".git").mkdir(parents=True)            # a new directory goes in whole...
    (app / "sub" / ".git" / "HEAD").write_text("ref\n")
    (app / "sub" / ".b.txt.swp").write_text("vim's\n")     # ...but for what the rules ignore
    (app / "sub" / "b.txt").write_text("b\n")
    eventually(lambda: read(engine, cid, "/app/a.txt"), "new a\n")
    eventually(lambda: read(engine, cid, "/app/sub/b.txt"), "b\n")
    for ignored in ("skip.tmp", "secret.key", ".c.txt.swp", "sub/.b.txt.swp", "sub/.git"):
        assert read(engine, cid, "/app/" + ignored) is None, ignored
    os.unlink(app / "a.txt")
    shutil.rmtree(app / "sub")
    eventually(lambda: read(engine, cid, "/app/a.txt"), None)
    eventually(lambda: read(engine, cid, "/app/sub"), None)
    assert "Syncing service 'web' after" in w.text()
    # a plain sync leaves the container running as it was
    after = container(engine, project.name)
    assert after["Id"] == cid and after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert w.stop() == 0                                           # Ctrl-C ends the watch...
    assert container(engine, project.name)["State"]["Running"]     # ...the container runs on
    assert "Traceback" not in w.text()


def test_sync_restart_restarts_and_sync_exec_runs_its_command(engine, project, watching):
    make_project(project)
    w = watching("watch")
    w.wait_for("Watch enabled", timeout=120)
    before = container(engine, project.name)
    cid = before["Id"]
    (project / "web" / "app" / "x.txt").write_text("plain\n")
    eventually(lambda: read(engine, cid, "/app/x.txt"), "plain\n")
    assert container(engine, project.name)["State"]["StartedAt"] == \
        before["State"]["StartedAt"]                                   # sync: no restart
    (project / "web" / "app" / "main.conf").write_text("conf 2\n")
    eventually(lambda: container(engine, project.name)["State"]["StartedAt"]
               != before["State"]["StartedAt"], True)
    assert read(engine, cid, "/app/main.conf") == "conf 2\n"
    assert container(engine, project.name)["State"]["Running"]
    (project / "hooks" / "h.txt").write_text("hook input\n")
    eventually(lambda: read(engine, cid, "/tmp/hook-ran"), "hook input\n")
    w.wait_for(f"hook-says-{cid[:12]}")                 # its output shows, run in the container
    assert "Traceback" not in w.text()


def test_rebuild_recreates_the_service_from_a_new_image(engine, project, watching):
    make_project(project)
    (project / "web" / "VERSION").write_text(f"v0 {project.name}\n")
    engine.cli("build", cwd=project, check=True, timeout=120)
    # changed since the last build: watch starts a service with a rebuild rule from a new
    # build (as Compose); an image of its own (other tests' have the same layers and id)
    (project / "web" / "VERSION").write_text(f"v1 {project.name}\n")
    w = watching("watch")
    w.wait_for("Watch enabled", timeout=120)
    before = container(engine, project.name)
    assert read(engine, before["Id"], "/VERSION") == f"v1 {project.name}\n"
    (project / "web" / "VERSION").write_text("v2\n")
    w.wait_for("service 'web' successfully built", timeout=60)
    after = container(engine, project.name)
    assert after["Id"] != before["Id"] and after["Image"] != before["Image"]
    assert after["State"]["Running"]
    assert read(engine, after["Id"], "/VERSION") == "v2\n"
    with engine.client() as c:
        assert c.inspect_image(f"{project.name}/web:latest")["Id"] == after["Image"]
        with pytest.raises(NotFound):                  # --prune (the default): the old image
            c.inspect_image(before["Image"])
    assert "Traceback" not in w.text()


def test_up_watch_syncs_while_attached_and_ctrl_c_stops(engine, project, watching):
    make_project(project)
    w = watching("up", "--watch")
    w.wait_for("Watch enabled", timeout=120)
    cid = container(engine, project.name)["Id"]
    (project / "web" / "app" / "a.txt").write_text("from up --watch\n")
    eventually(lambda: read(engine, cid, "/app/a.txt"), "from up --watch\n")
    assert w.stop() in (0, 130)
    assert not container(engine, project.name)["State"]["Running"]   # up's Ctrl-C: stopped


def test_up_watch_follows_the_output_of_a_rebuilt_container(engine, project, watching):
    make_project(project)
    w = watching("up", "--watch")
    w.wait_for("Watch enabled", timeout=120)
    w.wait_for("| version v1")
    (project / "web" / "VERSION").write_text("v2\n")
    w.wait_for("service 'web' successfully built", timeout=60)
    w.wait_for("| version v2")                     # attached again, to the new container
    assert w.proc.poll() is None                   # up and its watch go on
    assert w.stop() in (0, 130)
    assert "Traceback" not in w.text()


def test_watch_without_rules_is_a_one_line_error(engine, project):
    write(project, "services:\n  web:\n    image: busybox:latest\n")
    r = engine.cli("watch", "--no-up", cwd=project)
    assert r.returncode != 0
    assert "none of the selected services is configured for watch" in r.stderr
    assert "Traceback" not in r.stderr
    r = engine.cli("up", "-d", "--watch", cwd=project)
    assert r.returncode != 0 and "--detach and --watch are incompatible" in r.stderr
    (project / "src").mkdir()
    write(project, "services:\n  web:\n    image: busybox:latest\n    volumes: [./src:/src]\n"
                   "    develop:\n      watch:\n"
                   "        - {action: sync, path: ./src/lib, target: /lib2}\n")
    (project / "src" / "lib").mkdir()
    r = engine.cli("watch", "--no-up", cwd=project)
    assert "also declared by a bind mount volume, this path won't be monitored" in r.stderr
    assert r.returncode != 0 and "none of the selected services" in r.stderr


def test_up_no_build_refuses_a_rebuild_rule(engine, project):
    make_project(project)
    r = engine.cli("up", "--no-build", "--watch", cwd=project)
    assert r.returncode != 0
    assert "--no-build is incompatible with the watch action rebuild of service 'web'" \
        in r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr
    with engine.client() as c:                     # refused before anything was made
        assert not [n for n in c.networks() if n["Name"].startswith(project.name)]
        assert not c.containers(all=True, filters={
            "label": [f"com.docker.compose.project={project.name}"]})


def test_the_webapp_examples_develop_section_on_a_stand_in(engine, project, watching):
    """examples/webapp's own `develop` section (read from its compose.yaml) over a copy of its
    web/app, on a busybox stand-in for the Debian image (no apt: no network)."""
    import yaml

    example = Path(__file__).resolve().parents[2] / "examples" / "webapp"
    develop = yaml.safe_load((example / "compose.yaml").read_text())["services"]["web"]["develop"]
    shutil.copytree(example / "web" / "app", project / "web" / "app")
    (project / "web" / "Dockerfile").write_text(
        f"FROM busybox:latest\nCOPY app/ /app/\nRUN echo {project.name} > /stand-in\n")
    write(project, yaml.safe_dump({"services": {"web": {
        "build": "./web", "image": f"{project.name}/web:latest", "command": ["sleep", "600"],
        "stop_signal": "SIGKILL", "develop": develop}}}))
    w = watching("watch")
    w.wait_for("Watch enabled", timeout=120)
    before = container(engine, project.name)
    app_py = project / "web" / "app" / "app.py"
    app_py.write_text(app_py.read_text() + "\n# edited on the host\n")
    (project / "web" / "app" / "migrations" / "999_new.sql").write_text("select 1;\n")
    eventually(lambda: read(engine, before["Id"], "/app/app.py"), app_py.read_text())
    eventually(lambda: container(engine, project.name)["State"]["StartedAt"]
               != before["State"]["StartedAt"], True)                      # sync+restart
    after = container(engine, project.name)
    assert after["Id"] == before["Id"] and after["Image"] == before["Image"]   # no rebuild
    assert read(engine, before["Id"], "/app/migrations/999_new.sql") is None  # migrate's
    (project / "web" / "Dockerfile").write_text(
        (project / "web" / "Dockerfile").read_text() + "RUN echo rebuilt > /rebuilt\n")
    w.wait_for("service 'web' successfully built", timeout=60)
    rebuilt = container(engine, project.name)
    assert rebuilt["Id"] != before["Id"] and read(engine, rebuilt["Id"], "/rebuilt") == "rebuilt\n"
    assert "Traceback" not in w.text()


def test_every_replica_gets_the_sync(engine, project, watching):
    (project / "app").mkdir()
    write(project, "services:\n  web:\n    image: busybox:latest\n"
                   "    command: [sleep, '600']\n    stop_signal: SIGKILL\n    scale: 2\n"
                   "    develop:\n      watch:\n"
                   "        - {action: sync, path: ./app, target: /srv/app}\n")
    w = watching("watch")
    w.wait_for("Watch enabled", timeout=120)
    with engine.client() as c:
        ids = [x["Id"] for x in c.containers(filters={"label": [
            f"com.docker.compose.project={project.name}"]})]
    assert len(ids) == 2
    (project / "app" / "x.txt").write_text("both\n")
    for cid in ids:
        eventually(lambda: read(engine, cid, "/srv/app/x.txt"), "both\n")
    (project / "app" / "x.txt").unlink()
    for cid in ids:
        eventually(lambda: read(engine, cid, "/srv/app/x.txt"), None)
    assert "Traceback" not in w.text()
