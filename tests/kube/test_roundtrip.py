"""The round trip of issue #15: examples/hello and examples/webapp converted by
`pycompose convert --to kubernetes` (bind mounts as hostPath), played back by `pycompose kube
play` on a real engine, the page reached (webapp: the visit counter, kept in PostgreSQL,
counts), then `kube down --volumes` — and nothing of ours remains on the host.

The webapp images are built as tests/e2e/test_webapp.py builds them (the debian:bookworm base
from harness.base_image and its daily cache, then `pycompose build`)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.harness import (base_image, copy_example, free_port, http_get, make_hello_image,
                               running_engine, wait_for, webapp_page_count)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

POOL = "10.248.0.0/16"   # this module's alone


@pytest.fixture(scope="module")
def engine():
    with running_engine(POOL, "pckube-rt-") as eng:
        yield eng


def convert(engine, app: Path, out: Path, env: dict[str, str]) -> None:
    r = engine.cli("convert", "--to", "kubernetes", "--bind-mounts", "hostpath", "-o", str(out),
                   cwd=app, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()), "convert wrote no manifest"


def play(engine, manifests: Path) -> None:
    r = engine.cli("kube", "play", str(manifests), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr + engine.log_tail()


def down_leaves_nothing(engine, manifests: Path) -> None:
    engine.trace.remember_cgroups(engine.container_ids())
    during = engine.trace.leftovers()
    assert {"links", "firewall rules", "mounts", "processes", "cgroups"} <= set(during), during
    r = engine.cli("kube", "down", "--volumes", "-t", "1", str(manifests), timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert engine.container_ids() == []
    with engine.client() as c:
        assert c.volumes() == []
        assert {n["Name"] for n in c.networks()} <= {"bridge", "host", "none"}
    assert not any((engine.root / "kube").iterdir())
    # bounded: a bridge's teardown in the kernel may trail the API's answer by a moment
    wait_for(lambda: engine.trace.leftovers() == {}, 10, "nothing of the play to remain")


def test_hello_round_trip(engine, tmp_path):
    hello = copy_example("hello", tmp_path)
    make_hello_image(engine, hello)
    port = free_port()
    # as a pipe: `convert --to kubernetes | kube play -`
    r = engine.cli("convert", "--to", "kubernetes", "--bind-mounts", "hostpath", cwd=hello,
                   env={"HELLO_PORT": str(port)}, timeout=120)
    assert r.returncode == 0, r.stderr
    stream = r.stdout.encode()
    manifests = tmp_path / "manifests.yaml"
    manifests.write_bytes(stream)
    try:
        r = engine.cli("kube", "play", "-", input=stream, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr + engine.log_tail()
        status, body = wait_for(lambda: http_get(port), 60, "the page on localhost")
        assert status == 200 and b"Hello from pycompose" in body
        # worker waited for web to be healthy (the readiness probe), then reaches it by name
        wait_for(lambda: "web says 'hello from pycompose'" in engine.cli(
            "container", "logs", "hello-worker-1").stdout, 60, "the worker's first visit")
        down_leaves_nothing(engine, manifests)
    finally:
        engine.cli("kube", "down", "--volumes", "-t", "0", str(manifests), timeout=180)


def test_webapp_round_trip(engine, tmp_path):
    base_image(engine)
    app = copy_example("webapp", tmp_path)
    port = free_port()
    env = {"WEBAPP_PORT": str(port)}
    engine.cli("build", cwd=app, env=env, timeout=1800, check=True)
    manifests = tmp_path / "manifests"
    convert(engine, app, manifests, env)
    try:
        play(engine, manifests)
        first = wait_for(lambda: webapp_page_count(port), 180, "the page on localhost")
        second = webapp_page_count(port)
        assert second == first + 1
        # the count is PostgreSQL's: the db pod's own table says so
        query = ("PGPASSWORD=$(cat /run/secrets/db_password) psql -h 127.0.0.1 -U app -d app "
                 "-tAc 'select count(*) from visits'")
        r = engine.cli("container", "exec", "webapp-db-0-1", "sh", "-c", query, check=True)
        assert int(r.stdout.strip()) == second
        # migrate (a Job) ran to completion before web started
        rows = engine.cli("container", "ls", "-a", "--format", "{{.Names}} {{.Status}}",
                          check=True).stdout
        assert re.search(r"^webapp-migrate-1 Exited \(0\)", rows, re.M), rows
        down_leaves_nothing(engine, manifests)
    finally:
        engine.cli("kube", "down", "--volumes", "-t", "0", str(manifests), timeout=180)
