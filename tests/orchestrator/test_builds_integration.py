"""Builds, `up --wait` on a one-shot and image removal through the real CLI and engine (issue #16,
items 6, 7, 8 and 10)."""
from __future__ import annotations

import re
import sys

import pytest

from tests.support.terminal import Terminal

from .test_compose_integration import write

pytestmark = pytest.mark.integration

SHARED = """
services:
  migrate:
    build: ./web
    image: {name}/web:latest
    command: ["true"]
  web:
    build: ./web
    image: {name}/web:latest
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      migrate:
        condition: service_completed_successfully
"""


def dangling(engine) -> list[str]:
    with engine.client() as c:
        return [i["Id"] for i in c.images(filters={"dangling": ["true"]})]


def test_a_shared_image_is_built_once_with_its_output_prefixed(engine, project):
    (project / "web").mkdir()
    (project / "web" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo step-output-$RANDOM$RANDOM > /stamp && cat /stamp\n")
    write(project, SHARED.format(name=project.name))
    before = set(dangling(engine))
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    steps = [line for line in r.stderr.splitlines() if "Step 1/2 : FROM" in line]
    assert steps == ["migrate  | Step 1/2 : FROM busybox:latest"]
    assert re.search(r"^migrate  \| step-output-\d+$", r.stderr, re.M), r.stderr
    assert r.stderr.count(f"Image {project.name}/web:latest  Built") == 1
    r = engine.cli("build", cwd=project, timeout=120)   # again: replaces the image once
    assert r.returncode == 0, r.stderr
    # the first build's image went dangling (a new stamp), one per build and never two
    assert len(set(dangling(engine)) - before) <= 1
    r = engine.cli("up", "-d", "--wait", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"Container {project.name}-migrate-1  Exited" in r.stderr
    assert f"Container {project.name}-web-1  Healthy" in r.stderr
    r = engine.cli("down", "-t", "0", "--rmi", "local", cwd=project)
    assert r.returncode == 0, r.stderr


FAILING = ("FROM busybox:latest\nRUN echo fine\n"
           "RUN echo compiling-now && echo 'app.c:1: error: expected' >&2 && exit 2\n")


def test_a_failed_step_shows_its_output_also_when_quiet(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(FAILING)
    write(project, "services:\n  app:\n    build: ./app\n")
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode != 0
    assert "app  | compiling-now" in r.stderr and "app  | app.c:1: error: expected" in r.stderr
    assert "returned a non-zero code: 2" in r.stderr.splitlines()[-1]
    r = engine.cli("build", "-q", cwd=project, timeout=120)
    assert r.returncode != 0
    block = r.stderr[r.stderr.index("the output of the step that failed:"):]
    assert "app  | Step 3/3 : RUN echo compiling-now" in block
    assert "app  | compiling-now" in block and "app  | app.c:1: error: expected" in block
    assert "app  | fine" not in block       # the steps before it are not the failure
    assert "Traceback" not in r.stderr


def test_a_terminal_sees_the_last_lines_of_the_build_while_it_runs(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo first-$RANDOM && sleep 2 && echo last-$((40+2))\n")
    write(project, "services:\n  app:\n    build: ./app\n")
    env = dict(engine.env, PYCOMPOSE_WARM="0")
    env.pop("NO_COLOR", None)
    term = Terminal([sys.executable, "-m", "compose.cli.main", "build"], env, cwd=str(project))
    try:
        term.expect(b"Building app", timeout=60)
        term.expect(b"first-", timeout=60)
        assert b"last-42" not in term.out      # shown while the step still runs
        term.expect(f"Image {project.name}-app".encode(), timeout=60)
        assert term.exit_code(timeout=60) == 0
    finally:
        term.close()


def test_image_rm_takes_the_builds_untagged_steps_unless_noprune(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo a > /a\nRUN echo b > /b\n")
    write(project, "services:\n  app:\n    build: ./app\n")
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    tag = f"{project.name}-app:latest"
    with engine.client() as c:
        top = c.inspect_image(tag)
        step = c.inspect_image(top["Parent"])
        base = c.inspect_image("busybox:latest")
        assert step["Parent"] == base["Id"]
        answer = c._json("DELETE", f"/images/{tag}", {"noprune": "1"})
        assert answer == [{"Untagged": tag}, {"Deleted": top["Id"]}]
        assert step["Id"] in dangling(engine)     # the untagged step is now a `<none>` image
        assert c._json("DELETE", f"/images/{step['Id']}") == [{"Deleted": step["Id"]}]
        assert step["Id"] not in dangling(engine)
        assert c.inspect_image("busybox:latest")["Id"] == base["Id"]
        r = engine.cli("build", cwd=project, timeout=120)
        assert r.returncode == 0, r.stderr
        top = c.inspect_image(tag)
        step = c.inspect_image(top["Parent"])
        r = engine.cli("image", "rm", tag)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [f"Untagged: {tag}", f"Deleted: {top['Id']}",
                                         f"Deleted: {step['Id']}"]
        assert c.inspect_image("busybox:latest")["Id"] == base["Id"]


def test_a_failed_build_on_a_terminal_leaves_the_failed_steps_output(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(FAILING)
    write(project, "services:\n  app:\n    build: ./app\n")
    env = dict(engine.env, PYCOMPOSE_WARM="0")
    env.pop("NO_COLOR", None)
    term = Terminal([sys.executable, "-m", "compose.cli.main", "build"], env, cwd=str(project))
    try:
        term.expect(b"the output of the step that failed:", timeout=60)
        term.expect(b"returned a non-zero code: 2", timeout=60)
        report = term.out[term.out.index(b"the output of the step that failed:"):]
        assert b"app  | compiling-now" in report
        assert b"app  | app.c:1: error: expected" in report
        assert term.exit_code(timeout=60) != 0
    finally:
        term.close()
