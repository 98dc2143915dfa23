"""`pycompose graph`: the tree, `--format json|dot|mermaid`, a cycle as a one-line error.
Pure: the project is loaded from a file, no engine is involved."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from compose.cli.main import main

STACK = """
    services:
      web:
        image: b
        depends_on:
          api: {condition: service_healthy}
          cache: {condition: service_started, required: false}
      api:
        image: b
        depends_on:
          db: {condition: service_healthy, restart: true}
      worker: {image: b, network_mode: "service:api", links: [db]}
      db: {image: b}
      cache: {image: b, profiles: [extra]}
      tools: {image: b, volumes_from: [db]}
"""
# every edge of STACK with its label (cache is disabled: a skipped optional dependency)
EDGES = {
    ("api", "db"): "service_healthy, restart",
    ("tools", "db"): "service_started, via volumes_from",
    ("web", "api"): "service_healthy",
    ("worker", "api"): "service_started, restart, via network_mode",
    ("worker", "db"): "service_started, restart",
}
GENERATIONS = [["db"], ["api", "tools"], ["web", "worker"]]


@pytest.fixture
def compose_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent(STACK))
    return path


def run(capsys, path, *args):
    code = main(["-f", str(path), "-p", "demo", "--no-color", "graph", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_has_every_edge_the_generations_and_the_skipped_dependency(compose_file, capsys):
    code, out, err = run(capsys, compose_file, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["project"] == "demo"
    assert data["services"] == ["api", "db", "tools", "web", "worker"]
    assert {(d["service"], d["depends_on"]): d for d in data["dependencies"]}.keys() == EDGES.keys()
    api_db = next(d for d in data["dependencies"] if d["service"] == "api")
    assert api_db == {"service": "api", "depends_on": "db", "condition": "service_healthy",
                      "required": True, "restart": True, "via": []}
    assert data["skipped"] == [{"service": "web", "depends_on": "cache",
                                "condition": "service_started", "required": False,
                                "restart": False, "via": []}]
    assert data["start_generations"] == GENERATIONS
    assert data["stop_generations"] == GENERATIONS[::-1]


def test_json_of_one_service_holds_its_dependencies_only(compose_file, capsys):
    code, out, _ = run(capsys, compose_file, "web", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["services"] == ["api", "db", "web"]
    assert data["start_generations"] == [["db"], ["api"], ["web"]]
    assert {(d["service"], d["depends_on"]) for d in data["dependencies"]} == {
        ("web", "api"), ("api", "db")}


def test_dot_has_every_edge_with_its_condition_and_a_rank_per_generation(compose_file, capsys):
    code, out, err = run(capsys, compose_file, "--format", "dot")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == 'digraph "demo" {' and lines[-1] == "}"
    edges = {(m[1], m[2]): m[3] for m in
             (re.fullmatch(r'  "(\S+)" -> "(\S+)" \[label="(.*)"\];', line) for line in lines)
             if m}
    assert edges == EDGES
    ranks = [re.findall(r'"(\w+)";', line) for line in lines if "rank=same" in line]
    assert ranks == GENERATIONS
    assert out.count("{") == out.count("}")


def test_mermaid_has_every_edge_with_its_condition(compose_file, capsys):
    code, out, err = run(capsys, compose_file, "--format", "mermaid")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "flowchart BT"
    names = dict(re.findall(r'^  (s\d+)\["([\w.-]+)"\]$', out, re.M))
    assert sorted(names.values()) == ["api", "db", "tools", "web", "worker"]
    edges = {(names[a], names[b]): label
             for a, label, b in re.findall(r'^  (s\d+) -->\|"([^"]*)"\| (s\d+)$', out, re.M)}
    assert edges == EDGES
    assert [line.split(": ", 1)[1] for line in lines if "%% start generation" in line] == [
        ", ".join(g) for g in GENERATIONS]


def test_tree_shows_conditions_skips_and_generations(compose_file, capsys):
    code, out, err = run(capsys, compose_file)
    assert code == 0, err
    assert out.splitlines()[0] == "project demo"
    assert re.search(r"[├└]── web\n", out)
    assert "api  (service_healthy)" in out
    assert "db  (service_healthy, restart)" in out
    assert "cache  (service_started, optional; not enabled: skipped)" in out
    assert "db  (service_started, via volumes_from)" in out
    # worker's api was drawn under web already: named, not expanded twice
    assert "api  (service_started, restart, via network_mode) (dependencies above)" in out
    assert out.splitlines()[-4:] == ["start generations:", "  1. db", "  2. api, tools",
                                     "  3. web, worker"]
    roots = re.findall(r"^[├└]── (\w+)$", out, re.M)
    assert roots == ["tools", "web", "worker"]   # nothing depends on them


def test_a_cycle_is_one_line_naming_its_path(tmp_path, capsys):
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent("""
        services:
          a: {image: b, depends_on: [b]}
          b: {image: b, network_mode: "service:c"}
          c: {image: b, depends_on: [a]}
    """))
    code, out, err = run(capsys, path, "--format", "json")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "dependency cycle detected: a -> b -> c -> a" in err


def test_an_unknown_format_or_service_is_a_one_line_error(compose_file, capsys):
    code, _, err = run(capsys, compose_file, "--format", "svg")
    assert code != 0 and "invalid --format value 'svg'" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, compose_file, "nope")
    assert code != 0 and "no such service: nope" in err
    assert len(err.strip().splitlines()) == 1
