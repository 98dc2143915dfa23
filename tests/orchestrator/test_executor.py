from __future__ import annotations

import io

import pytest
import trio
import trio.testing

from compose.orchestrator.errors import DependencyError, UpstreamError
from compose.orchestrator.executor import Orchestrator, UpOptions, summarize_failures
from compose.orchestrator.gateway import Gateway
from compose.orchestrator.plan import RecreatePolicy
from compose.orchestrator.progress import Progress
from compose.orchestrator.project_view import from_canonical

from .fake_engine import FakeEngine

STACK = {
    "services": {
        "db": {"image": "busybox", "command": ["sleep", "100"]},
        "api": {"image": "busybox", "depends_on": {"db": {"condition": "service_started"}}},
        "web": {"image": "busybox", "depends_on": {"api": {"condition": "service_started"}},
                "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}]},
    },
    "volumes": {"data": {"name": "demo_data"}, "ext": {"name": "shared", "external": True}},
}


def project(data=STACK, name="demo"):
    return from_canonical(name, data, working_dir="/src", config_files=["/src/compose.yaml"])


def orch(engine, data=STACK):
    progress = Progress(stream=io.StringIO(), colour=False)
    return Orchestrator(project(data), Gateway(lambda: engine, threaded=False), progress)


def run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_up_creates_network_then_services_in_dependency_order():
    engine = FakeEngine()
    result = run(lambda: orch(engine).up(UpOptions()))
    assert not result.failures
    assert engine.names("create_network") == ["demo_default"]
    assert sorted(engine.names("create")) == ["demo-api-1", "demo-db-1", "demo-web-1"]
    assert engine.names("start") == ["demo-db-1", "demo-api-1", "demo-web-1"]
    web = engine._get("demo-web-1")["Config"]
    assert web["Labels"]["com.docker.compose.project"] == "demo"
    assert web["Labels"]["com.docker.compose.container-number"] == "1"
    assert web["Labels"]["com.docker.compose.depends_on"] == "api:service_started:false"
    assert web["HostConfig"]["NetworkMode"] == "demo_default"


def test_second_up_is_a_noop_and_changed_service_is_recreated():
    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    engine.calls.clear()
    run(lambda: orch(engine).up(UpOptions()))
    assert [m for _, m, _ in engine.calls if m not in ()] == []
    changed = {"services": dict(STACK["services"], api={**STACK["services"]["api"],
                                                         "environment": {"X": "1"}})}
    old_id = engine._get("demo-api-1")["Id"]
    run(lambda: orch(engine, changed).up(UpOptions()))
    assert engine.names("create") == [f"{old_id[:12]}_demo-api-1"]
    assert engine.names("stop") == ["demo-api-1"]
    assert engine.names("rename") == ["demo-api-1"]
    new = engine._get("demo-api-1")
    assert new["Id"] != old_id and new["State"]["Status"] == "running"
    assert new["Config"]["Env"] == ["X=1"]


def test_force_recreate_and_scale():
    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    engine.calls.clear()
    run(lambda: orch(engine).up(UpOptions(services=("web",), no_deps=True,
                                           policy=RecreatePolicy.FORCE, scale={"web": 2})))
    created = engine.names("create")
    assert len(created) == 2 and "demo-web-2" in created
    assert any(n.endswith("_demo-web-1") for n in created)


def test_healthy_condition_waits_for_health():
    data = {"services": {
        "db": {"image": "b", "healthcheck": {"test": ["CMD", "true"]}},
        "app": {"image": "b", "depends_on": {"db": {"condition": "service_healthy"}}}}}
    engine = FakeEngine()
    engine.health["db"] = ("healthy", 5.0)
    run(lambda: orch(engine, data).up(UpOptions()))
    starts = {ref: t for t, m, ref in engine.calls if m == "start"}
    assert starts["demo-app-1"] - starts["demo-db-1"] >= 5.0


def test_unhealthy_dependency_fails_dependent_and_skips_its_dependents_only():
    data = {"services": {
        "db": {"image": "b", "healthcheck": {"test": ["CMD", "false"]}},
        "app": {"image": "b", "depends_on": {"db": {"condition": "service_healthy"}}},
        "front": {"image": "b", "depends_on": {"app": {"condition": "service_started"}}},
        "other": {"image": "b"}}}
    engine = FakeEngine()
    engine.health["db"] = ("unhealthy", 3.0)
    result = run(lambda: orch(engine, data).up(UpOptions()))
    assert isinstance(result.failures["app"], DependencyError)
    assert result.failures["app"].message == (
        "dependency failed to start: container demo-db-1 is unhealthy")
    assert isinstance(result.failures["front"], UpstreamError)
    assert sorted(engine.names("start")) == ["demo-db-1", "demo-other-1"]
    assert summarize_failures(result).message.endswith("is unhealthy")


def test_completed_successfully_condition():
    data = {"services": {
        "migrate": {"image": "b"},
        "app": {"image": "b", "depends_on": {
            "migrate": {"condition": "service_completed_successfully"}}}}}
    engine = FakeEngine()
    engine.exit_codes["migrate"] = 0
    assert not run(lambda: orch(engine, data).up(UpOptions())).failures
    engine = FakeEngine()
    engine.exit_codes["migrate"] = 3
    result = run(lambda: orch(engine, data).up(UpOptions()))
    assert "didn't complete successfully: exit 3" in result.failures["app"].message


def test_optional_dependency_failure_only_warns():
    data = {"services": {
        "db": {"image": "b"},
        "app": {"image": "b", "depends_on": {
            "db": {"condition": "service_healthy", "required": False}}}}}
    engine = FakeEngine()
    o = orch(engine, data)
    result = run(lambda: o.up(UpOptions()))
    assert not result.failures
    assert any("optional dependency 'db'" in line for line in o.progress.lines)


def test_up_wait_fails_naming_the_service():
    data = {"services": {"db": {"image": "b", "healthcheck": {"test": ["CMD", "false"]}}}}
    engine = FakeEngine()
    engine.health["db"] = ("unhealthy", 1.0)
    with pytest.raises(DependencyError, match="demo-db-1 is unhealthy"):
        run(lambda: orch(engine, data).up(UpOptions(wait=True)))


def test_down_removes_everything_and_keeps_volumes_unless_asked():
    engine = FakeEngine()
    data = dict(STACK, services={**STACK["services"], "db": {
        **STACK["services"]["db"],
        "volumes": [{"type": "volume", "source": "data", "target": "/d"}]}})
    run(lambda: orch(engine, data).up(UpOptions()))
    engine.volumes_by_name["shared"] = {"Name": "shared"}
    assert "demo_data" in engine.volumes_by_name
    engine.calls.clear()
    run(lambda: orch(engine, data).down(timeout=0))
    assert sorted(engine.names("remove")) == ["demo-api-1", "demo-db-1", "demo-web-1"]
    assert not engine.containers_by_id
    assert engine.names("remove_network") == ["demo_default"]
    assert "demo_data" in engine.volumes_by_name
    run(lambda: orch(engine, data).down(volumes=True))
    assert "demo_data" not in engine.volumes_by_name
    assert "shared" in engine.volumes_by_name   # external: never removed


def test_down_with_grace_period_stops_dependents_first():
    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    engine.calls.clear()
    run(lambda: orch(engine).down())
    assert engine.names("stop") == ["demo-web-1", "demo-api-1", "demo-db-1"]
    assert not engine.containers_by_id


class SlowGateway(Gateway):
    """Each stop/remove takes one second of (mock) time, so the tests see what overlaps."""

    async def call(self, method, *args, **kwargs):
        if method in ("stop", "remove_container"):
            await trio.sleep(1)
        return await super().call(method, *args, **kwargs)


def _timed_down(timeout):
    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    engine.calls.clear()
    progress = Progress(stream=io.StringIO(), colour=False)
    slow = Orchestrator(project(), SlowGateway(lambda: engine, threaded=False), progress)
    run(lambda: slow.down(timeout=timeout))
    assert not engine.containers_by_id
    return {ref: at for at, method, ref in engine.calls if method in ("stop", "remove")}


def test_down_without_grace_period_removes_all_containers_at_once():
    # -t 0: one forced remove per container, every generation together (one round of latency)
    assert _timed_down(0) == {"demo-web-1": 1, "demo-api-1": 1, "demo-db-1": 1}


def test_down_with_grace_period_waits_for_each_generation():
    at = _timed_down(None)
    assert at["demo-web-1"] < at["demo-api-1"] < at["demo-db-1"]


def test_orphans_warned_then_removed_on_request():
    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    smaller = {"services": {"db": STACK["services"]["db"]}}
    o = orch(engine, smaller)
    run(lambda: o.up(UpOptions()))
    assert any("Found orphan containers" in line for line in o.progress.lines)
    run(lambda: orch(engine, smaller).up(UpOptions(remove_orphans=True)))
    assert sorted(c["Name"] for c in engine.containers_by_id.values()) == ["demo-db-1"]


def test_engine_without_networks_is_a_warning():
    engine = FakeEngine(networks=False)
    o = orch(engine)
    result = run(lambda: o.up(UpOptions()))
    assert not result.failures
    assert any("no network support" in line for line in o.progress.lines)
    assert "NetworkMode" not in engine._get("demo-web-1")["Config"]["HostConfig"]


def test_namespace_parent_resolved_to_container_id():
    data = {"services": {"vpn": {"image": "b"},
                         "app": {"image": "b", "network_mode": "service:vpn",
                                 "depends_on": {"vpn": {"condition": "service_started",
                                                        "restart": True}}}}}
    engine = FakeEngine()
    run(lambda: orch(engine, data).up(UpOptions()))
    vpn = engine._get("demo-vpn-1")["Id"]
    assert engine._get("demo-app-1")["Config"]["HostConfig"]["NetworkMode"] == f"container:{vpn}"


def test_restart_true_dependency_restarts_running_dependents():
    data = {"services": {
        "db": {"image": "b"},
        "app": {"image": "b", "depends_on": {"db": {"condition": "service_started",
                                                   "restart": True}}},
        "other": {"image": "b", "depends_on": {"db": {"condition": "service_started"}}}}}
    engine = FakeEngine()
    run(lambda: orch(engine, data).up(UpOptions()))
    changed = {"services": dict(data["services"], db={"image": "b", "environment": {"V": "2"}})}
    engine.calls.clear()
    run(lambda: orch(engine, changed).up(UpOptions()))
    assert engine.names("restart") == ["demo-app-1"]
    assert "demo-other-1" not in engine.names("restart") + engine.names("stop")


def test_services_with_build_are_built_when_missing_or_asked(monkeypatch):
    import compose.orchestrator.builds as builds

    built = []

    def fake_build(client, tag, build, **kw):
        built.append((tag, build.context))
        engine.images = dict(engine.images or {}, **{tag: "sha256:" + tag})
        return ""

    monkeypatch.setattr(builds, "run_build", fake_build)
    data = {"services": {"app": {"build": {"context": "/src"}},
                         "tagged": {"image": "me/tagged:1", "build": {"context": "/t"}}}}
    engine = FakeEngine()
    engine.images = {}
    run(lambda: orch(engine, data).up(UpOptions()))
    assert sorted(built) == [("demo-app", "/src"), ("me/tagged:1", "/t")]
    assert engine._get("demo-app-1")["Config"]["Image"] == "demo-app"
    assert engine.names("pull") == []           # built images are never pulled
    built.clear()
    run(lambda: orch(engine, data).up(UpOptions()))
    assert built == []                           # present: not rebuilt
    run(lambda: orch(engine, data).up(UpOptions(build=True)))
    assert len(built) == 2                       # --build: always
    built.clear()
    run(lambda: orch(engine, data).up(UpOptions(build=False)))
    assert built == []


def test_unknown_service_is_a_clear_error():
    from compose.orchestrator.errors import NoSuchService

    with pytest.raises(NoSuchService, match="no such service: nope"):
        run(lambda: orch(FakeEngine()).up(UpOptions(services=("nope",))))


def test_image_label_is_the_image_id_and_a_new_image_recreates():
    data = {"services": {"web": {"image": "busybox"}}}
    engine = FakeEngine()
    engine.images = {"busybox": "sha256:one"}
    run(lambda: orch(engine, data).up(UpOptions()))
    labels = engine._get("demo-web-1")["Config"]["Labels"]
    assert labels["com.docker.compose.image"] == "sha256:one"
    engine.images = {"busybox": "sha256:two"}
    engine.calls.clear()
    run(lambda: orch(engine, data).up(UpOptions()))
    assert engine.names("rename") == ["demo-web-1"]
    assert engine._get("demo-web-1")["Config"]["Labels"]["com.docker.compose.image"] == \
        "sha256:two"


def test_down_carries_on_past_a_container_the_engine_refuses_to_remove():
    from compose.orchestrator.errors import OrchestratorError

    engine = FakeEngine()
    run(lambda: orch(engine).up(UpOptions()))
    engine.refuse_removal("demo-api-1")
    with pytest.raises(OrchestratorError, match="container is stuck"):
        run(lambda: orch(engine).down(timeout=0))
    assert [c["Name"] for c in engine.containers_by_id.values()] == ["demo-api-1"]
    assert engine.names("remove_network") == ["demo_default"]


def test_up_wait_timeout():
    from compose.orchestrator.errors import OrchestratorError

    data = {"services": {"db": {"image": "b", "healthcheck": {"test": ["CMD", "true"]}}}}
    engine = FakeEngine()
    engine.health["db"] = ("healthy", 60.0)
    with pytest.raises(OrchestratorError, match="timeout waiting for the project to be ready "
                                                "after 5s"):
        run(lambda: orch(engine, data).up(UpOptions(wait=True, wait_timeout=5)))
    engine2 = FakeEngine()
    engine2.health["db"] = ("healthy", 3.0)
    assert not run(lambda: orch(engine2, data).up(UpOptions(wait=True, wait_timeout=5))).failures


def test_missing_images_are_pulled_unless_policy_says_never():
    data = {"services": {"web": {"image": "web:1"}, "db": {"image": "db:1",
                                                          "pull_policy": "never"}}}
    engine = FakeEngine()
    engine.images = {}
    engine.registry = {"web:1": "sha256:w", "db:1": "sha256:d"}
    run(lambda: orch(engine, data).up(UpOptions()))
    assert engine.names("pull") == ["web:1"]
    assert engine._get("demo-web-1")["Config"]["Labels"]["com.docker.compose.image"] == "sha256:w"
    engine.calls.clear()
    run(lambda: orch(engine, data).up(UpOptions(pull="always")))
    assert sorted(engine.names("pull")) == ["db:1", "web:1"]


def test_failed_pull_is_reported_and_fails_only_that_service():
    data = {"services": {"web": {"image": "nowhere:1"}, "ok": {"image": "b"}}}
    engine = FakeEngine()
    engine.images = {"b": "sha256:b"}
    o = orch(engine, data)
    run(lambda: o.up(UpOptions()))
    assert any("nowhere:1  Error pull access denied" in line for line in o.progress.lines)
    assert engine.names("start") == ["demo-ok-1"]


class CountingEngine(FakeEngine):
    """Counts the read-only calls too (FakeEngine logs only the ones that change things)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str]] = []

    def inspect_image(self, ref):
        self.reads.append(("inspect_image", ref))
        return super().inspect_image(ref)

    def containers(self, all=False, filters=None):
        self.reads.append(("containers", ",".join((filters or {}).get("label", []))))
        return super().containers(all, filters)


WEBAPP_LIKE = {"services": {
    "db": {"image": "db:1", "build": {"context": "/db"},
           "healthcheck": {"test": ["CMD", "true"]}},
    "migrate": {"image": "web:1", "build": {"context": "/web"},
                "depends_on": {"db": {"condition": "service_healthy"}}},
    "web": {"image": "web:1", "build": {"context": "/web"},
            "depends_on": {"db": {"condition": "service_healthy"},
                           "migrate": {"condition": "service_completed_successfully"}}}}}


def test_warm_up_reads_each_image_once_and_lists_containers_once():
    """The warm path of `up --wait` (nothing changed, the one-shot started again): one inspect
    per image tag (shared by two services, and not repeated when resolving image ids), one
    container listing, the conditions judged on the containers this run already knows."""
    engine = CountingEngine()
    engine.health["db"] = ("healthy", 1.0)
    engine.exit_codes["migrate"] = 0
    assert not run(lambda: orch(engine, WEBAPP_LIKE).up(UpOptions(wait=True))).failures
    engine.reads.clear()
    engine.calls.clear()
    result = run(lambda: orch(engine, WEBAPP_LIKE).up(UpOptions(wait=True)))
    assert not result.failures
    assert sorted(engine.reads) == [("containers", "com.docker.compose.project=demo"),
                                    ("inspect_image", "db:1"), ("inspect_image", "web:1")]
    assert [m for _, m, _ in engine.calls] == ["start"]    # only the exited one-shot
    assert engine.names("start") == ["demo-migrate-1"]


def test_completed_successfully_waits_for_the_one_shot_started_again():
    engine = FakeEngine()
    engine.health["db"] = ("healthy", 1.0)
    engine.exit_codes["migrate"] = 0
    run(lambda: orch(engine, WEBAPP_LIKE).up(UpOptions()))
    engine.exit_codes["migrate"] = 4   # its next run fails: web must not be "Running"
    o = orch(engine, WEBAPP_LIKE)
    result = run(lambda: o.up(UpOptions(wait=True)))
    assert "didn't complete successfully: exit 4" in result.failures["web"].message
    assert engine.names("start")[-1] == "demo-migrate-1"


def test_up_wait_watches_early_but_reports_after_the_start_phase():
    """db is healthy long before web starts (web waits 5 s for the one-shot): --wait knows
    that early, yet every "Healthy" line comes after the last "Started", as before."""
    data = {"services": {
        "db": {"image": "b", "healthcheck": {"test": ["CMD", "true"]}},
        "slow": {"image": "b", "depends_on": {"db": {"condition": "service_healthy"}}},
        "web": {"image": "b", "depends_on": {"slow": {"condition": "service_healthy"}}}}}
    data["services"]["slow"]["healthcheck"] = {"test": ["CMD", "true"]}
    engine = FakeEngine()
    engine.health["db"] = ("healthy", 1.0)
    engine.health["slow"] = ("healthy", 5.0)
    o = orch(engine, data)
    assert not run(lambda: o.up(UpOptions(wait=True))).failures
    lines = [line.split()[-1] + " " + line.split()[2] for line in o.progress.lines
             if line.endswith(("Started", "Healthy"))]
    last_started = max(i for i, x in enumerate(lines) if x.startswith("Started"))
    assert all(x.startswith("Healthy") for x in lines[last_started + 1:])
    assert sorted(lines[last_started + 1:]) == ["Healthy demo-db-1", "Healthy demo-slow-1",
                                                "Healthy demo-web-1"]


def test_up_wait_after_a_failed_start_reports_the_start_error_only():
    """A service that fails to start is the answer; `sick` turning unhealthy meanwhile (at
    0.5 s, before the failure at 2 s) is not raised over it: nothing is waited for once the
    start phase failed."""
    data = {"services": {
        "sick": {"image": "b", "healthcheck": {"test": ["CMD", "false"]}},
        "gate": {"image": "b", "healthcheck": {"test": ["CMD", "false"]}},
        "after": {"image": "b", "depends_on": {"gate": {"condition": "service_healthy"}}}}}
    engine = FakeEngine()
    engine.health["sick"] = ("unhealthy", 0.5)
    engine.health["gate"] = ("unhealthy", 2.0)
    result = run(lambda: orch(engine, data).up(UpOptions(wait=True)))
    assert set(result.failures) == {"after"}
    assert summarize_failures(result).message == (
        "dependency failed to start: container demo-gate-1 is unhealthy")
