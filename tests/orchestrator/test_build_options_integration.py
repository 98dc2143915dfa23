"""`build.extra_hosts`, `build.network` and `build.cache_from` through the real CLI and engine
(issue #17): what a RUN step sees, and the image a cache_from build ends at."""
from __future__ import annotations

import ipaddress
import re

import pytest

from .test_compose_integration import write

pytestmark = pytest.mark.integration


def test_a_run_step_reads_the_builds_extra_hosts_in_etc_hosts(engine, project):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        "FROM busybox:latest\n"
        "RUN grep -E '^10\\.9\\.8\\.7\\s+db\\.extra\\.test$' /etc/hosts && "
        "grep -E '^fd00::7\\s+v6\\.extra\\.test$' /etc/hosts\n")
    write(project, "services:\n  app:\n    build:\n      context: ./app\n"
                   "      extra_hosts:\n        db.extra.test: 10.9.8.7\n"
                   "        v6.extra.test: 'fd00::7'\n")
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr       # grep exits 1 without the entries
    assert re.search(r"^app  \| 10\.9\.8\.7\s+db\.extra\.test$", r.stderr, re.M), r.stderr
    assert re.search(r"^app  \| fd00::7\s+v6\.extra\.test$", r.stderr, re.M), r.stderr


NETWORKED = """
services:
  db:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    volumes: ["./www:/www"]
    networks: [backend]
    stop_signal: SIGKILL
  app:
    build:
      context: ./app
      network: backend
    command: ["true"]
networks:
  backend: {}
"""


def test_a_build_on_a_project_network_reaches_a_running_service_by_name(engine, project):
    (project / "www").mkdir()
    (project / "www" / "token").write_text("served-by-db\n")
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        # (nc, not wget: the test image's static busybox wget crashes on any URL)
        "FROM busybox:latest\nRUN printf 'GET /token HTTP/1.0\\r\\n\\r\\n' | "
        "nc -w 5 db 8080 > /reply && grep -x served-by-db /reply\n")
    write(project, NETWORKED)
    r = engine.cli("up", "-d", "db", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    r = engine.cli("build", "app", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "app  | served-by-db" in r.stderr.splitlines()
    with engine.client() as c:
        names = {n["Name"] for n in c.networks()}
    assert f"{project.name}_backend" in names and "backend" not in names


def test_a_build_on_a_project_network_that_is_not_there_yet_makes_it_first(engine, project):
    (project / "www").mkdir()
    (project / "app").mkdir()
    # nobody else on the network yet: the step's eth0 address in its subnet shows it joined
    (project / "app" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN ip -4 addr show eth0 | grep -o 'inet [0-9.]*' > /addr && "
        "cat /addr\n")
    write(project, NETWORKED)
    r = engine.cli("build", "app", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    with engine.client() as c:
        [net] = [n for n in c.networks() if n["Name"] == f"{project.name}_backend"]
        subnet = net["IPAM"]["Config"][0]["Subnet"]
    found = re.search(r"^app  \| inet ([0-9.]+)$", r.stderr, re.M)
    assert found, r.stderr
    assert ipaddress.ip_address(found.group(1)) in ipaddress.ip_network(subnet)


CACHED = """
services:
  app:
    build:
      context: ./app
      cache_from: ["{name}-app:latest"]
    command: ["cat", "/stamp"]
"""


def test_cache_from_rebuilds_the_same_image_after_the_step_images_are_gone(engine, project,
                                                                           tmp_path):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo stamp-$RANDOM$RANDOM > /stamp\nENV MADE=1\n"
        "RUN cat /stamp\n")
    write(project, CACHED.format(name=project.name))
    tag = f"{project.name}-app:latest"
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Using cache" not in r.stderr       # the source is not there yet: no cache at all
    with engine.client() as c:
        first = c.inspect_image(tag)
        steps = []
        parent = first["Parent"]
        while parent:
            image = c.inspect_image(parent)
            if image["RepoTags"]:
                break           # busybox
            steps.append(parent)
            parent = image["Parent"]
        assert len(steps) == 2
    archive = tmp_path / "app.tar"
    r = engine.cli("image", "save", tag, "-o", str(archive))
    assert r.returncode == 0, r.stderr
    r = engine.cli("image", "rm", tag)          # its untagged step images go with it
    assert r.returncode == 0, r.stderr
    with engine.client() as c:
        c._json("POST", "/build/prune", {"all": "1"})   # and the step cache
        known = {i["Id"] for i in c.images(all=True)}
    assert first["Id"] not in known and not set(steps) & known
    r = engine.cli("image", "load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    r = engine.cli("build", cwd=project, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("app  |  ---> Using cache") == 3, r.stderr
    with engine.client() as c:
        assert c.inspect_image(tag)["Id"] == first["Id"]    # every step taken, the same image
