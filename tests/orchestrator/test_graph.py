"""The dependency graph that decides every order: generations, closure, stop order, cycles,
skipped optional dependencies and namespace-parent edges (compose/graph.py through the
orchestrator's project view, as `up` builds it)."""
from __future__ import annotations

import pytest

from compose.graph import DependencyCycleError, Edge, UnknownServiceError, build_graph
from compose.orchestrator.project_view import from_canonical


def project(services: dict, disabled: tuple[str, ...] = ()):
    return from_canonical("demo", {"services": services}, disabled=disabled)


DIAMOND = {
    "web": {"image": "b", "depends_on": {"api": {"condition": "service_healthy"},
                                         "cache": {"condition": "service_started"}}},
    "api": {"image": "b", "depends_on": {"db": {"condition": "service_healthy",
                                                "restart": True}}},
    "cache": {"image": "b"},
    "db": {"image": "b"},
    "batch": {"image": "b", "depends_on": {
        "migrate": {"condition": "service_completed_successfully"}}},
    "migrate": {"image": "b", "depends_on": ["db"]},
}


def test_start_generations_follow_the_file_order_within_a_generation():
    g = project(DIAMOND).graph
    assert g.start_generations() == [["cache", "db"], ["api", "migrate"], ["web", "batch"]]
    assert g.start_order() == ["cache", "db", "api", "migrate", "web", "batch"]


def test_stop_order_is_the_reverse_of_the_start_order():
    g = project(DIAMOND).graph
    assert g.stop_generations() == [["web", "batch"], ["api", "migrate"], ["cache", "db"]]
    assert g.stop_generations(["api", "db"]) == [["api"], ["db"]]


def test_closure_is_what_up_service_starts():
    p = project(DIAMOND)
    assert p.graph.closure(["web"]) == ["web", "api", "cache", "db"]
    assert p.graph.closure(["batch", "cache"]) == ["cache", "db", "batch", "migrate"]
    assert p.with_dependencies(["api"]) == ["api", "db"]
    with pytest.raises(UnknownServiceError, match="no such service: nope"):
        p.graph.closure(["nope"])


def test_generations_of_a_subset_ignore_dependencies_outside_it():
    # `up --no-deps web`: web alone, its dependencies are not waited for
    g = project(DIAMOND).graph
    assert g.start_generations(["web"]) == [["web"]]
    assert g.start_generations(["db", "web"]) == [["web", "db"]]   # file order


def test_edges_carry_condition_required_and_restart():
    g = project(DIAMOND).graph
    assert g.dependencies("web") == (
        Edge("web", "api", "service_healthy"), Edge("web", "cache", "service_started"))
    assert g.dependencies("api") == (Edge("api", "db", "service_healthy", restart=True),)
    assert g.restart_triggers("api") == ("db",) and g.restart_triggers("web") == ()
    assert [e.service for e in g.dependents("db")] == ["api", "migrate"]
    assert g.awaited_as("migrate", "service_completed_successfully")
    assert not g.awaited_as("db", "service_completed_successfully")


def test_a_cycle_is_an_error_naming_its_path():
    p = project({"a": {"image": "b", "depends_on": ["b"]},
                 "b": {"image": "b", "depends_on": ["c"]},
                 "c": {"image": "b", "depends_on": ["a"]},
                 "d": {"image": "b"}})
    assert p.graph.cycle() == ["a", "b", "c", "a"]
    with pytest.raises(DependencyCycleError) as info:
        p.start_generations()
    assert info.value.message == "dependency cycle detected: a -> b -> c -> a"
    assert project(DIAMOND).graph.cycle() is None


def test_a_cycle_path_starts_at_the_first_service_of_the_file():
    p = project({"x": {"image": "b"},
                 "b": {"image": "b", "depends_on": ["a"]},
                 "a": {"image": "b", "depends_on": ["b"]}})
    with pytest.raises(DependencyCycleError, match="dependency cycle detected: b -> a -> b$"):
        p.graph.start_generations()


def test_optional_dependency_on_a_disabled_service_is_skipped():
    p = project({"web": {"image": "b", "depends_on": {
                    "debug": {"condition": "service_started", "required": False},
                    "db": {"condition": "service_started"}}},
                 "db": {"image": "b"}}, disabled=("debug",))
    g = p.graph
    assert g.services == ("web", "db")
    assert "debug" not in g.digraph
    assert g.start_generations() == [["db"], ["web"]]
    assert g.closure(["web"]) == ["web", "db"]
    assert g.absent("web") == (Edge("web", "debug", required=False),)
    assert g.absent("db") == ()


def test_namespace_parents_are_edges_even_without_depends_on():
    p = project({"vpn": {"image": "b", "network_mode": "service:web",
                         "ipc": "service:web", "volumes_from": ["data:ro", "container:x"]},
                 "web": {"image": "b"},
                 "data": {"image": "b"}})
    g = p.graph
    assert g.start_generations() == [["web", "data"], ["vpn"]]
    assert g.dependencies("vpn") == (
        Edge("vpn", "web", restart=True, via=("network_mode", "ipc")),
        Edge("vpn", "data", restart=False, via=("volumes_from",)))
    assert g.closure(["vpn"]) == ["vpn", "web", "data"]


def test_a_namespace_parent_listed_in_depends_on_is_one_edge_with_its_condition():
    # normalization folds `service:x` into depends_on; the graph keeps one edge, with both
    p = project({"sidecar": {"image": "b", "network_mode": "service:app", "depends_on": {
                    "app": {"condition": "service_healthy", "restart": True}}},
                 "app": {"image": "b"}})
    assert p.graph.dependencies("sidecar") == (
        Edge("sidecar", "app", "service_healthy", restart=True, via=("network_mode",)),)


def test_the_graph_is_built_once_per_project():
    p = project(DIAMOND)
    assert p.graph is p.graph


def test_build_graph_from_plain_edges():
    g = build_graph({"a": [Edge("a", "b")], "b": [], "c": [Edge("c", "gone", required=False)]})
    assert g.start_generations() == [["b", "c"], ["a"]]
    assert g.absent() == (Edge("c", "gone", required=False),)
    with pytest.raises(ValueError):
        build_graph({"a": [Edge("b", "a")]})


def test_ups_ordering_goes_through_networkx(tmp_path):
    """What `up` does before it reaches the engine (load the project, pick the services and
    their dependencies) imports networkx; loading alone, as `config` does, does not."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "compose.yaml").write_text(
        "services:\n  web: {image: b, depends_on: [db]}\n  db: {image: b}\n")
    code = (
        "import sys\n"
        "from compose.cli.main import GlobalOptions\n"
        "from compose.orchestrator.session import load_spec\n"
        f"spec = load_spec(GlobalOptions(files=[{str(tmp_path / 'compose.yaml')!r}]), environ={{}})\n"
        "assert 'networkx' not in sys.modules\n"
        "print(spec.with_dependencies(['web']), spec.start_generations())\n"
        "assert 'networkx' in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['db', 'web'] [['db'], ['web']]"


# -- the executor orders by the graph (fake engine) ---------------------------------------------

def _up(data, disabled=()):
    import io

    import trio
    import trio.testing

    from compose.orchestrator.executor import Orchestrator, UpOptions
    from compose.orchestrator.gateway import Gateway
    from compose.orchestrator.progress import Progress

    from .fake_engine import FakeEngine

    engine = FakeEngine()
    orch = Orchestrator(from_canonical("demo", data, disabled=disabled),
                        Gateway(lambda: engine, threaded=False),
                        Progress(stream=io.StringIO(), colour=False))
    result = trio.run(lambda: orch.up(UpOptions()),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    return engine, orch, result


def test_up_skips_an_optional_dependency_that_is_not_enabled_with_a_warning():
    engine, orch, result = _up({"services": {
        "web": {"image": "b", "depends_on": {
            "debug": {"condition": "service_healthy", "required": False}}}}},
        disabled=("debug",))
    assert not result.failures
    assert engine.names("start") == ["demo-web-1"]
    assert any("optional dependency 'debug' of 'web' is not enabled" in line
               for line in orch.progress.lines)


def test_up_starts_a_namespace_parent_first_even_when_listed_later():
    engine, _, result = _up({"services": {
        "sidecar": {"image": "b", "network_mode": "service:app"},
        "app": {"image": "b"}}})
    assert not result.failures
    assert engine.names("start") == ["demo-app-1", "demo-sidecar-1"]
    sidecar = engine._get("demo-sidecar-1")
    assert sidecar["Config"]["HostConfig"]["NetworkMode"] == (
        "container:" + engine._get("demo-app-1")["Id"])
