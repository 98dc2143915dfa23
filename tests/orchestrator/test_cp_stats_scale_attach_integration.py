"""Compose `cp` both ways, `stats`, `scale` and `attach` on a real engine."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_compose_cp_into_and_out_of_a_service(engine, project, tmp_path):
    (project / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '600']\n"
        "    stop_signal: SIGKILL\n")
    engine.cli("up", "-d", cwd=project, check=True)
    (tmp_path / "local.txt").write_text("to the service\n")
    engine.cli("cp", str(tmp_path / "local.txt"), "web:/tmp/", cwd=project, check=True)
    r = engine.cli("exec", "web", "cat", "/tmp/local.txt", cwd=project, check=True)
    assert r.stdout == "to the service\n"
    engine.cli("exec", "web", "sh", "-c", "mkdir -p /out/d && echo back > /out/d/f",
               cwd=project, check=True)
    engine.cli("cp", "web:/out", str(tmp_path / "copied"), cwd=project, check=True)
    assert (tmp_path / "copied" / "d" / "f").read_text() == "back\n"
    r = engine.cli("cp", "nosuch:/x", str(tmp_path), cwd=project)
    assert r.returncode != 0 and "nosuch" in r.stderr and "Traceback" not in r.stderr
    r = engine.cli("cp", "web:/no/such", str(tmp_path / "x"), cwd=project)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def test_compose_stats_no_stream_json_lists_the_service_containers(engine, project):
    import json

    (project / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '600']\n"
        "    stop_signal: SIGKILL\n    mem_limit: 48m\n  idle:\n    image: busybox:latest\n"
        "    command: [sleep, '600']\n    stop_signal: SIGKILL\n")
    engine.cli("up", "-d", cwd=project, check=True)
    out = engine.cli("stats", "--no-stream", "--format", "json", "web", cwd=project, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["Name"].endswith("web-1")
    assert rows[0]["MemUsage"].endswith("/ 48MiB")
    table = engine.cli("stats", "--no-stream", cwd=project, check=True).stdout.splitlines()
    assert len(table) == 3 and table[0].startswith("CONTAINER ID")


def test_compose_scale_and_attach(engine, project):
    (project / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '600']\n"
        "    stop_signal: SIGKILL\n  talk:\n    image: busybox:latest\n"
        "    command: [sh, -c, 'sleep 3; echo from-talk; exit 3']\n")
    engine.cli("up", "-d", "web", cwd=project, check=True)
    engine.cli("scale", "web=3", cwd=project, check=True)
    ps = engine.cli("ps", "-q", "web", cwd=project, check=True).stdout.split()
    assert len(ps) == 3
    engine.cli("scale", "web=1", cwd=project, check=True)
    assert len(engine.cli("ps", "-q", "web", cwd=project, check=True).stdout.split()) == 1
    r = engine.cli("scale", "web=lots", cwd=project)
    assert r.returncode != 0 and "web=lots" in r.stderr and "Traceback" not in r.stderr
    engine.cli("up", "-d", "talk", cwd=project, check=True)
    r = engine.cli("attach", "--no-stdin", "talk", cwd=project, timeout=60)
    assert (r.returncode, r.stdout) == (3, "from-talk\n")
